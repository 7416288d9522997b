"""`manage.py prune_signals`: delete health signals older than the retention period."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from models_app import services


class Command(BaseCommand):
    help = (
        "Delete production health signals observed more than REGISTRY_SIGNAL_RETENTION_DAYS "
        "days ago (or --days), in small batches. Run it daily (cron, a systemd timer)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help=f"Keep this many days (default: REGISTRY_SIGNAL_RETENTION_DAYS, "
            f"{settings.REGISTRY_SIGNAL_RETENTION_DAYS}).",
        )

    def handle(self, *args, **options):
        days = options["days"]
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1.")
        deleted = services.signals_prune(days=days)
        self.stdout.write(f"{deleted} signal(s) deleted.")
