"""`manage.py sync_catalog`: push this team registry's catalog to the central one, or
say how far each push is behind (--status)."""

from __future__ import annotations

import json
import logging
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from federation_app.models import SyncState
from federation_app.sync import SyncError, describe_set_aside, sync_catalog, sync_status

logger = logging.getLogger("federation_app.sync")


class Command(BaseCommand):
    help = (
        "Push models, versions, stages, metrics, cards, reviews and audit events changed "
        "since the last successful sync to the central catalog (REGISTRY_CENTRAL_URL); "
        "with --status, say how far behind each central registry is instead."
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
        parser.add_argument(
            "--status",
            action="store_true",
            help="Push nothing: print, per central registry pushed to, the last acknowledged "
            "sequence, the lag, the last attempt, success and error, and the items set aside.",
        )
        parser.add_argument(
            "--json", action="store_true", help="With --status: one JSON document instead."
        )

    def handle(self, *args, **options):
        if options["json"] and not options["status"]:
            raise CommandError("--json goes with --status.")
        if options["status"]:
            self.print_status(options)
            return
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

    def print_status(self, options) -> None:
        """One report per central registry this registry pushes to (a SyncState), and the
        configured one even before its first sync."""
        states = list(SyncState.objects.order_by("central_url", "registry_id"))
        central_url = (options["central_url"] or settings.REGISTRY_CENTRAL_URL).rstrip("/")
        registry_id = options["registry_id"] or settings.REGISTRY_ID
        if central_url and not any(
            (s.central_url, s.registry_id) == (central_url, registry_id) for s in states
        ):
            states.append(SyncState(central_url=central_url, registry_id=registry_id))
        reports = [sync_status(state) for state in states]
        if options["json"]:
            self.stdout.write(json.dumps({"registries": reports}, indent=2))
            return
        if not reports:
            self.stdout.write("This registry pushes to no central registry.")
        for report in reports:
            self.stdout.write(_in_words(report))


def _in_words(report: dict) -> str:
    lines = [
        f"{report['central_url']} (as {report['registry_id']})",
        f"  last acknowledged sequence: {report['audit_cursor']}",
        f"  lag: {_n(report['lag_items'], 'item')} ({_n(report['lag_models'], 'model')}, "
        f"{_n(report['lag_events'], 'audit event')}), oldest unpushed change "
        f"{report['lag_seconds']} seconds ago",
        f"  last attempt: {report['last_attempt_at'] or 'never'}",
        f"  last success: {report['last_success_at'] or 'never'}",
        f"  last error: {report['last_error'] or 'none'}",
        f"  set aside as too large: {len(report['set_aside'])}",
        *(f"    {describe_set_aside(entry)}" for entry in report["set_aside"]),
        f"  refused as stale in the last sync: {report['stale']}",
    ]
    return "\n".join(lines)


def _n(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
