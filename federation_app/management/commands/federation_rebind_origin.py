"""`manage.py federation_rebind_origin`: give an origin to another service user."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from federation_app import services
from models_app.exceptions import RegistryError


class Command(BaseCommand):
    help = (
        "On the central registry: bind a team registry's origin to another service user "
        "(when the team registry's credentials change). Pushes for the origin are then "
        "accepted from that user only. Recorded as an origin.rebound audit event."
    )

    def add_arguments(self, parser):
        parser.add_argument("origin", help="The team registry's REGISTRY_ID.")
        parser.add_argument("username", help="The service user that will push it.")
        parser.add_argument("--reason", required=True, help="Why, for the audit trail.")

    def handle(self, *args, **options):
        User = get_user_model()
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"No user named {options['username']}.")
        try:
            registry = services.origin_rebind(
                actor=None, origin=options["origin"], user=user, reason=options["reason"]
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        except RegistryError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(f"{registry.name} is now bound to {user.get_username()}.")
