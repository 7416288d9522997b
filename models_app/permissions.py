"""Who may do what (SPEC §7): one table, checked by the services for every door.

Each action needs a Django permission, which the role groups carry (migration 0003).
Team-scoped actions also need membership of the model's team; superusers (the admin
role) have every permission and act on every team.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

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


def _access(user) -> tuple[frozenset[str], frozenset[int]]:
    """The user's permissions ("app_label.codename", direct and through groups) and team ids.

    Read in one query the first time a request's user object is asked, then kept on that
    object, as Django keeps its own permission cache: every write checks a permission, and
    Django's backend would spend two queries on permissions plus one on memberships.
    """
    cached = getattr(user, "_registry_access", None)
    if cached is not None:
        return cached
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission
    from django.contrib.contenttypes.models import ContentType

    from .models import Membership

    user_model = get_user_model()
    perm, ctype = Permission._meta.db_table, ContentType._meta.db_table
    user_perms = user_model.user_permissions.through._meta.db_table
    user_groups = user_model.groups.through._meta.db_table
    group_perms = Group.permissions.through._meta.db_table
    membership = Membership._meta.db_table
    sql = f"""
        SELECT 'p', ct.app_label, p.codename FROM {perm} p
          JOIN {ctype} ct ON ct.id = p.content_type_id
          JOIN {user_perms} up ON up.permission_id = p.id
         WHERE up.user_id = %s
        UNION ALL
        SELECT 'p', ct.app_label, p.codename FROM {perm} p
          JOIN {ctype} ct ON ct.id = p.content_type_id
          JOIN {group_perms} gp ON gp.permission_id = p.id
          JOIN {user_groups} ug ON ug.group_id = gp.group_id
         WHERE ug.user_id = %s
        UNION ALL
        SELECT 't', CAST(m.team_id AS VARCHAR(20)), '' FROM {membership} m WHERE m.user_id = %s
    """  # noqa: S608 - table names from model metadata; the values are parameters
    perms, teams = set(), set()
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk, user.pk, user.pk])
        for kind, first, second in cursor.fetchall():
            if kind == "p":
                perms.add(f"{first}.{second}")
            else:
                teams.add(int(first))
    user._registry_access = (frozenset(perms), frozenset(teams))
    return user._registry_access


def prefetch_permissions(user) -> None:
    """Read `user`'s permissions and teams now, so that the checks a service makes inside
    its transaction (on SQLite, while holding the database's write lock) cost no query."""
    if user is not None and user.is_authenticated:
        _access(user)


def has_permission(user, permission: str) -> bool:
    """Django's `user.has_perm(permission)` for an active user, read through `_access`."""
    return permission in _access(user)[0]


def team_ids(user) -> frozenset[int]:
    """The ids of the teams `user` belongs to (read with the permissions, once)."""
    if user is None or not user.is_authenticated:
        return frozenset()
    return _access(user)[1]


def is_team_member(user, team) -> bool:
    if team is None or user is None or not user.is_authenticated:
        return False
    return team.pk in _access(user)[1]


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
