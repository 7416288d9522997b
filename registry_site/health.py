"""`GET /healthz` and `GET /readyz`, for supervisors and load balancers; no login.

`/healthz` (liveness): the process is up and answering. It reads nothing (no database, no
cache, no session), so it may be called often; it says nothing about the database.

`/readyz` (readiness): the database answers, its migrations are applied, the cache answers
(with REDIS_URL), a webhook worker is alive (when a subscription needs one) and the outbox
is not backed up. It answers 200 or 503 with each check by name and its state: "ok",
"failing", "skipped" (not configured or not needed) or "unknown" (not run because the
database is down). It names no host, address, password or error text.
"""

from __future__ import annotations

import io
import logging

from django.conf import settings
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from webhooks_app.models import OPEN_STATUSES, Delivery, Subscription
from webhooks_app.worker import last_heartbeat


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


# --- GET /readyz ---------------------------------------------------------------------------

logger = logging.getLogger("registry_site.health")

# Set once `migrate --check` has found nothing to apply: migrations are not un-applied
# while a process runs, so each process asks only until the answer is yes.
_migrations_applied = False


def _database() -> tuple[bool, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return True, "reachable"


def _migrations() -> tuple[bool, str]:
    global _migrations_applied
    if not _migrations_applied:
        try:
            call_command("migrate", "--check", verbosity=0, stdout=io.StringIO())
        except SystemExit:
            return False, "migrations are not applied: run manage.py migrate"
        _migrations_applied = True
    return True, "applied"


def _cache() -> tuple[bool | None, str]:
    if not settings.REDIS_URL:
        return None, "not configured (REDIS_URL is not set)"
    cache = caches["registry"]
    key = "readyz-probe"
    cache.set(key, "1", timeout=30)
    if cache.get(key) != "1":
        return False, "the cache did not return what was just stored"
    return True, "reachable"


def _webhook_worker() -> tuple[bool | None, str]:
    max_age = settings.REGISTRY_READYZ_WORKER_MAX_AGE
    if not max_age:
        return None, "not checked (REGISTRY_READYZ_WORKER_MAX_AGE is 0)"
    if not Subscription.objects.filter(active=True).exists():
        return None, "not needed: no active webhook subscription"
    beat_at = last_heartbeat()
    if beat_at is None:
        return False, "no webhook worker has ever run: start manage.py run_worker"
    age = (timezone.now() - beat_at).total_seconds()
    if age > max_age:
        return False, f"last heartbeat {age:.0f} s ago (more than {max_age} s)"
    return True, f"last heartbeat {max(age, 0):.0f} s ago"


def _outbox_backlog() -> tuple[bool | None, str]:
    limit = settings.REGISTRY_READYZ_MAX_BACKLOG
    if not limit:
        return None, "not checked (REGISTRY_READYZ_MAX_BACKLOG is 0)"
    # Counted no further than one past the limit: enough to know it is exceeded.
    count = Delivery.objects.filter(status__in=OPEN_STATUSES).order_by()[: limit + 1].count()
    if count > limit:
        return False, f"more than {limit} {'delivery' if limit == 1 else 'deliveries'} waiting"
    return True, f"{count} deliveries waiting (limit {limit})"


CHECKS = {
    "database": _database,
    "migrations": _migrations,
    "cache": _cache,
    "webhook_worker": _webhook_worker,
    "outbox_backlog": _outbox_backlog,
}
# Checks that read the database: not run when it does not answer.
NEEDS_DATABASE = frozenset({"migrations", "webhook_worker", "outbox_backlog"})


@never_cache
@require_GET
def readyz(request):
    """Whether this process can serve: 200 when every check passes (or is not needed),
    503 otherwise, naming each check and its state. A check that cannot even run (the
    database is down, say) fails with a generic sentence; the error goes to the log, not
    to the answer."""
    checks = {}
    ready = True
    for name, check in CHECKS.items():
        if name in NEEDS_DATABASE and checks["database"]["state"] != "ok":
            checks[name] = {"state": "unknown", "detail": "not run: the database is not reachable"}
            continue
        try:
            ok, detail = check()
        except Exception:
            logger.exception("readiness check %s failed", name)
            ok, detail = False, "the check raised an error (see the registry's log)"
        state = "skipped" if ok is None else ("ok" if ok else "failing")
        ready = ready and ok is not False
        checks[name] = {"state": state, "detail": detail}
    return JsonResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )
