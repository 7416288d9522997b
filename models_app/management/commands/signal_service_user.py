"""`manage.py signal_service_user`: a monitoring system's user and its API token."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from knox.models import AuthToken

from models_app.enums import Role
from models_app.roles import ensure_roles


class Command(BaseCommand):
    help = (
        "Create (or reuse) the service user a monitoring system (Prometheus Alertmanager, "
        "a drift job) posts health signals with, give it the signal_reporter role (it may "
        "post signals and change nothing else), and print a new API token for it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="signals")
        parser.add_argument("--no-token", action="store_true", help="Only create the user.")

    def handle(self, *args, **options):
        User = get_user_model()
        user, created = User.objects.get_or_create(username=options["username"])
        if created:
            # A service account signs in with tokens only.
            user.set_unusable_password()
            user.save()
        ensure_roles()
        user.groups.add(Group.objects.get(name=Role.SIGNAL_REPORTER))
        verb = "Created" if created else "Found"
        self.stderr.write(f"{verb} {user.username} with the signal_reporter role.")
        if not options["no_token"]:
            _instance, token = AuthToken.objects.create(user=user)
            self.stdout.write(token)
