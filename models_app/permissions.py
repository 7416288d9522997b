"""Who may do what: one table, checked by the services for every door.

Each action needs a Django permission, asked through `user.has_perm` so that every
authentication backend counts (the role groups carry the permissions, migration 0003; an
LDAP or OIDC backend may grant them too). Team-scoped actions also need membership of the
model's team; superusers (the admin role) have every permission and act on every team.
"""

from __future__ import annotations

from dataclasses import dataclass

from .exceptions import NotAllowed


@dataclass(frozen=True)
class Rule:
    permission: str
    team_scoped: bool
    description: str


RULES: dict[str, Rule] = {
    "model.create": Rule("models_app.create_model", True, "create models"),
    "model.change": Rule("models_app.create_model", True, "edit models"),
    "version.register": Rule("models_app.create_model", True, "register versions"),
    "version.change": Rule("models_app.create_model", True, "edit versions"),
    "card.edit": Rule("models_app.create_model", True, "edit model cards"),
    "review.request": Rule("models_app.create_model", True, "request reviews"),
    "review.submit": Rule("approvals_app.submit_review", False, "review model cards"),
    "version.promote": Rule("models_app.promote_version", False, "promote versions"),
    "version.archive": Rule("models_app.archive_version", False, "archive versions"),
    "model.rollback": Rule("models_app.rollback_model", False, "roll models back"),
    "version.deprecate": Rule("models_app.deprecate_version", False, "deprecate versions"),
    "policy.change": Rule("models_app.change_promotionpolicy", False, "change policies"),
    "team.change": Rule("models_app.change_team", False, "manage teams"),
    "signal.post": Rule("models_app.post_signal", False, "post health signals"),
}


def _team_of(obj):
    if obj is None:
        return None
    if obj._meta.model_name == "team":
        return obj
    if hasattr(obj, "registered_model"):
        return obj.registered_model.team
    return getattr(obj, "team", None)


def _team_ids(user) -> frozenset[int]:
    """The ids of the teams `user` belongs to: read once, then kept on the user object
    (one per request), as Django keeps the user's permissions."""
    cached = getattr(user, "_registry_team_ids", None)
    if cached is None:
        from .models import Membership

        cached = frozenset(
            Membership.objects.filter(user_id=user.pk).values_list("team_id", flat=True)
        )
        user._registry_team_ids = cached
    return cached


def prefetch_permissions(user) -> None:
    """Read `user`'s permissions and teams now, so that the checks a service makes inside
    its transaction (on SQLite, while holding the database's write lock) cost no query.

    Django's authentication backends cache what they read on the user object; superusers
    need no permission read (they have every permission).
    """
    if user is not None and user.is_authenticated:
        if user.is_active and not user.is_superuser:
            user.get_all_permissions()
        _team_ids(user)


def has_permission(user, permission: str) -> bool:
    """Django's `user.has_perm(permission)`: asked of every authentication backend (the
    model backend's groups and permissions, or an LDAP or OIDC backend); an inactive user
    has none."""
    return user.has_perm(permission)


def team_ids(user) -> frozenset[int]:
    """The ids of the teams `user` belongs to (read once per user object)."""
    if user is None or not user.is_authenticated:
        return frozenset()
    return _team_ids(user)


def is_team_member(user, team) -> bool:
    if team is None or user is None or not user.is_authenticated:
        return False
    return team.pk in _team_ids(user)


def can(user, action: str, obj=None) -> bool:
    """Whether `user` may perform `action` on `obj` (a team, model or version)."""
    rule = RULES[action]
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if not has_permission(user, rule.permission):
        return False
    if rule.team_scoped:
        return is_team_member(user, _team_of(obj))
    return True


def require_permission(user, action: str, obj=None) -> None:
    """Raise NotAllowed (403) with a reason when `user` may not perform `action`."""
    if can(user, action, obj):
        return
    rule = RULES[action]
    name = user.get_username() if user is not None and user.is_authenticated else "anonymous"
    if user is not None and user.is_authenticated and has_permission(user, rule.permission):
        team = _team_of(obj)
        raise NotAllowed(
            f"{name} may not {rule.description} of team '{team}': not a member of that team."
        )
    raise NotAllowed(f"{name} may not {rule.description}: the role does not allow it.")
