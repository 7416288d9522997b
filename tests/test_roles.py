"""The role groups exist after migrate and come back when removed."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from models_app.roles import ROLES


def _role_perms() -> dict[str, set[str]]:
    return {
        group.name: {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        for group in Group.objects.filter(name__in=ROLES).prefetch_related(
            "permissions__content_type"
        )
    }


@pytest.mark.django_db
def test_roles_have_exactly_their_permissions():
    assert _role_perms() == {name: set(perms) for name, perms in ROLES.items()}


@pytest.mark.django_db
def test_roles_come_back_after_migrate_when_deleted():
    Group.objects.filter(name="release_manager").delete()
    Group.objects.get(name="reviewer").permissions.clear()

    call_command("migrate", verbosity=0)

    assert _role_perms() == {name: set(perms) for name, perms in ROLES.items()}
