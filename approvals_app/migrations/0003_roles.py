"""The role groups with their permissions. Admins are superusers."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

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
    ],
}


def create_roles(apps, schema_editor):
    # Permissions are normally made after all migrations; make them now so groups can hold them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        for dotted in perms:
            app_label, codename = dotted.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("approvals_app", "0002_audit_triggers"),
        ("models_app", "0002_audit_triggers"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
