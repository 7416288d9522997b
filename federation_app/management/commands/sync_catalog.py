"""`manage.py sync_catalog`: push this team registry's catalog to the central one."""

from __future__ import annotations

import logging
import time

from django.core.management.base import BaseCommand, CommandError

from federation_app.sync import SyncError, sync_catalog

logger = logging.getLogger("federation_app.sync")


class Command(BaseCommand):
    help = (
        "Push models, versions, stages, metrics, cards, reviews and audit events changed "
        "since the last successful sync to the central catalog (REGISTRY_CENTRAL_URL)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=None, help="Items per request.")
        parser.add_argument(
            "--every",
            type=float,
            default=None,
            metavar="SECONDS",
            help="Keep running: sync, then wait SECONDS, and again (failures are reported "
            "and retried at the next round).",
        )
        parser.add_argument("--central-url", default=None, help="Overrides REGISTRY_CENTRAL_URL.")
        parser.add_argument("--token", default=None, help="Overrides REGISTRY_CENTRAL_TOKEN.")
        parser.add_argument("--registry-id", default=None, help="Overrides REGISTRY_ID.")
        parser.add_argument("--timeout", type=float, default=30, help="Seconds per request.")

    def handle(self, *args, **options):
        if options["every"] is not None and options["every"] <= 0:
            raise CommandError("--every takes a number of seconds greater than 0.")
        while True:
            started = time.monotonic()
            try:
                result = self.sync_once(options)
            except SyncError as exc:
                logger.warning(
                    "catalog sync failed: %s",
                    exc,
                    extra={
                        "job": "sync_catalog",
                        "result": "failed",
                        "duration_ms": round((time.monotonic() - started) * 1000),
                    },
                )
                if options["every"] is None:
                    raise CommandError(str(exc)) from exc
                self.stderr.write(str(exc))
            else:
                logger.info(
                    "catalog sync: %s items in %s batches",
                    result.items,
                    result.batches_sent,
                    extra={
                        "job": "sync_catalog",
                        "result": "succeeded",
                        "items": result.items,
                        "batches": result.batches_sent,
                        "duration_ms": round((time.monotonic() - started) * 1000),
                    },
                )
            if options["every"] is None:
                return
            time.sleep(options["every"])

    def sync_once(self, options):
        def progress(number: int, total: int, applied: dict) -> None:
            self.stderr.write(f"batch {number}/{total} acknowledged")

        result = sync_catalog(
            central_url=options["central_url"],
            token=options["token"],
            registry_id=options["registry_id"],
            batch_size=options["batch_size"],
            timeout=options["timeout"],
            progress=progress,
        )
        self.stdout.write(result.summary())
        return result
