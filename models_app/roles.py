"""The role groups and their permissions; admins are superusers.

Migration approvals_app 0003 first created these groups. `ensure_roles` runs again after
every `migrate` (and after the flush between transactional tests, which empties the auth
tables), so a deleted or emptied role group comes back with its permissions.
"""

from __future__ import annotations

VIEW = [
    "models_app.view_team",
    "models_app.view_membership",
    "models_app.view_registeredmodel",
    "models_app.view_modelversion",
    "models_app.view_promotionpolicy",
    "models_app.view_auditevent",
    "approvals_app.view_modelcard",
    "approvals_app.view_cardrevision",
    "approvals_app.view_review",
]

ROLES = {
    "viewer": VIEW,
    "contributor": [*VIEW, "models_app.create_model"],
    "reviewer": [*VIEW, "approvals_app.submit_review"],
    "release_manager": [
        *VIEW,
        "models_app.promote_version",
        "models_app.archive_version",
        "models_app.rollback_model",
        "models_app.deprecate_version",
        "models_app.post_signal",
    ],
    # Monitoring systems (Prometheus Alertmanager, a drift job): they post signals on
    # versions and may change nothing else.
    "signal_reporter": ["models_app.post_signal"],
}


def ensure_roles(*, using: str = "default", **kwargs) -> None:
    """Create any missing role group and give every role its permissions (idempotent)."""
    from django.contrib.auth.models import Group, Permission

    wanted = {tuple(dotted.split(".")) for perms in ROLES.values() for dotted in perms}
    perms = {
        (p.content_type.app_label, p.codename): p
        for p in Permission.objects.using(using)
        .select_related("content_type")
        .filter(codename__in={codename for _, codename in wanted})
    }
    for name, dotted_perms in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        keys = [tuple(d.split(".")) for d in dotted_perms]
        group.permissions.add(*(perms[key] for key in keys if key in perms))


def restore_roles(sender, using: str = "default", **kwargs) -> None:
    """Connected to post_migrate (models_app's AppConfig.ready): run `ensure_roles` once
    per migrate or flush, after the last app whose permissions a role names.

    Django creates each app's permissions on that app's own post_migrate, app by app in
    INSTALLED_APPS order, so the roles can only be given their permissions (models_app's
    and approvals_app's) once the later of those apps has had its turn.
    """
    from django.apps import apps

    labels = {dotted.split(".")[0] for perms in ROLES.values() for dotted in perms}
    last = [config.label for config in apps.get_app_configs() if config.label in labels][-1]
    if sender.label == last:
        ensure_roles(using=using)
