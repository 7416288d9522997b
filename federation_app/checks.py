"""System checks of the federation's settings."""

from __future__ import annotations

import os

from django.core import checks


@checks.register()
def catalog_sync_is_its_own_job(app_configs=None, **kwargs) -> list:
    """REGISTRY_SYNC_EVERY once made the webhook worker sync the catalog too. The worker
    no longer does: a deployment that still sets it is told what to run instead, rather
    than finding out later that its catalog stopped syncing."""
    if not os.environ.get("REGISTRY_SYNC_EVERY"):
        return []
    return [
        checks.Warning(
            "REGISTRY_SYNC_EVERY is set, but nothing reads it: the webhook worker does not "
            "sync the catalog.",
            hint="Run `manage.py sync_catalog --every SECONDS` as a process of its own, or "
            "sync_catalog from cron (docs/federation.md), and unset REGISTRY_SYNC_EVERY.",
            id="federation_app.W001",
        )
    ]
