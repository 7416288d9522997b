"""The signal_reporter role (posting health signals, nothing else), and the right to post
signals for release managers. models_app.roles restores both after every migrate as well."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def add_roles(apps, schema_editor):
    # Permissions are normally made after all migrations; make models_app's now so that
    # the groups can hold post_signal.
    app_config = apps.get_app_config("models_app")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    post_signal = Permission.objects.get(
        content_type__app_label="models_app", codename="post_signal"
    )
    for name in ("signal_reporter", "release_manager"):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(post_signal)


def remove_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name="signal_reporter").delete()
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name="release_manager"):
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="models_app", codename="post_signal")
        )


class Migration(migrations.Migration):
    dependencies = [
        ("models_app", "0016_health_signals"),
        ("approvals_app", "0003_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(add_roles, remove_roles)]
