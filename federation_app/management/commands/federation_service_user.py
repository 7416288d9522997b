"""`manage.py federation_service_user`: the central catalog's sync user and its token."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from knox.models import AuthToken


class Command(BaseCommand):
    help = (
        "On the central registry: create (or reuse) the service user that team registries "
        "push with, give it the federation_app.push_catalog permission, and print a new "
        "API token for it (set it as REGISTRY_CENTRAL_TOKEN on a team registry)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="catalog_sync")
        parser.add_argument(
            "--no-token", action="store_true", help="Only create the user and permission."
        )

    def handle(self, *args, **options):
        User = get_user_model()
        user, created = User.objects.get_or_create(username=options["username"])
        if created:
            # A service account signs in with tokens only.
            user.set_unusable_password()
            user.save()
        permission = Permission.objects.get(
            content_type__app_label="federation_app", codename="push_catalog"
        )
        user.user_permissions.add(permission)
        self.stderr.write(f"{'Created' if created else 'Found'} {user.username} with push_catalog.")
        if not options["no_token"]:
            _instance, token = AuthToken.objects.create(user=user)
            self.stdout.write(token)
