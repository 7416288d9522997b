"""Who may do what (SPEC §7): one table, checked by the services for every door.

Each action needs a Django permission, which the role groups carry (migration 0003).
Team-scoped actions also need membership of the model's team; superusers (the admin
role) have every permission and act on every team.
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
}


def _team_of(obj):
    if obj is None:
        return None
    if obj._meta.model_name == "team":
        return obj
    if hasattr(obj, "registered_model"):
        return obj.registered_model.team
    return getattr(obj, "team", None)


def is_team_member(user, team) -> bool:
    if team is None:
        return False
    cache = getattr(user, "_registry_team_ids", None)
    if cache is None:
        cache = set(user.memberships.values_list("team_id", flat=True))
        user._registry_team_ids = cache
    return team.pk in cache


def can(user, action: str, obj=None) -> bool:
    """Whether `user` may perform `action` on `obj` (a team, model or version)."""
    rule = RULES[action]
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if not user.has_perm(rule.permission):
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
    if user is not None and user.is_authenticated and user.has_perm(rule.permission):
        team = _team_of(obj)
        raise NotAllowed(
            f"{name} may not {rule.description} of team '{team}': not a member of that team."
        )
    raise NotAllowed(f"{name} may not {rule.description}: the role does not allow it.")
