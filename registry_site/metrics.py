"""`GET /metrics`: the registry's own health in the Prometheus text format.

Two kinds of metric (docs/operations.md lists them all):

- Counters of things that happen: requests (by route, method and status, with their
  latency), promotions, refusals by guard, rollbacks, reviews, webhook delivery attempts
  and dead letters. Each is counted at one place, whichever door caused it: the audit
  event of the change (`post_save` of AuditEvent, counted once its transaction commits),
  the core's `promotion_refused` signal, the webhook worker's `delivery_attempted` signal,
  and this module's middleware. They live in the process that counts them; under several
  gunicorn workers, set PROMETHEUS_MULTIPROC_DIR so that prometheus_client's multiprocess
  mode adds up every worker's counts (and the webhook worker's, on the same machine).
- Gauges read from the database when Prometheus scrapes, with bounded queries: the outbox
  backlog and the dead letters (each counted up to REGISTRY_METRICS_COUNT_CAP), each
  origin's seconds since its last push, and which version of each model is in production.

The endpoint answers a request that carries `Authorization: Bearer <REGISTRY_METRICS_TOKEN>`
or comes from an address in REGISTRY_METRICS_ALLOW (loopback by default).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from functools import lru_cache

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_save
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

from approvals_app.models import Decision
from federation_app.models import OriginRegistry
from models_app.context import get_request_id
from models_app.enums import Action, Stage
from models_app.models import AuditEvent, ModelVersion
from models_app.signals import promotion_refused
from webhooks_app.models import OPEN_STATUSES, Delivery, DeliveryStatus
from webhooks_app.signals import delivery_attempted

from .logins import client_address

request_logger = logging.getLogger("registry_site.requests")

# --- Counters ------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "registry_http_requests",
    "Requests answered, by URL pattern (route), method and status code.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "registry_http_request_duration_seconds",
    "Time to answer a request, by URL pattern (route) and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PROMOTIONS = Counter(
    "registry_promotions",
    'Versions promoted to production; origin is "local", or the team registry a mirrored '
    "promotion came from.",
    ["origin"],
)
REFUSALS = Counter(
    "registry_promotion_refusals",
    "Promotions refused by the guards, counted once per failed guard.",
    ["guard"],
)
ROLLBACKS = Counter(
    "registry_rollbacks",
    'Production versions rolled back; kind is "manual" (a person or a client asked) or '
    '"automatic" (the registry decided); origin as for promotions.',
    ["kind", "origin"],
)
REVIEWS = Counter("registry_reviews", "Reviews submitted, by decision.", ["decision"])
DELIVERIES = Counter(
    "registry_webhook_deliveries",
    'Webhook delivery attempts, by result ("succeeded" or "failed").',
    ["result"],
)
DEAD_LETTERS = Counter(
    "registry_webhook_dead_letters",
    "Webhook deliveries that used up their attempts and were dead-lettered.",
)

ROLLBACK_KINDS = ("manual", "automatic")
LOCAL = "local"


def _prepare_labels() -> None:
    """Children of the labels known in advance, so that each series exists (at 0) before
    its first event and a rate() over it starts from the beginning."""
    PROMOTIONS.labels(origin=LOCAL)
    for kind in ROLLBACK_KINDS:
        ROLLBACKS.labels(kind=kind, origin=LOCAL)
    for decision in Decision.values:
        REVIEWS.labels(decision=decision)
    for result in ("succeeded", "failed"):
        DELIVERIES.labels(result=result)


_prepare_labels()


def _origin(event: AuditEvent) -> str:
    origin = (event.payload or {}).get("origin")
    return origin if isinstance(origin, str) and origin else LOCAL


def _rollback_kind(event: AuditEvent) -> str:
    """ "automatic" when the rollback's audit payload says `"automatic": true`."""
    return "automatic" if (event.payload or {}).get("automatic") is True else "manual"


def _count_audit_event(
    sender, instance: AuditEvent, created: bool, raw: bool = False, **kwargs
) -> None:
    """Counts the changes whose audit event this is, once its transaction commits (a change
    that rolls back is not counted)."""
    if not created or raw:
        return
    if instance.action == Action.VERSION_PROMOTED:
        origin = _origin(instance)
        transaction.on_commit(lambda: PROMOTIONS.labels(origin=origin).inc())
    elif instance.action == Action.VERSION_ROLLED_BACK:
        kind, origin = _rollback_kind(instance), _origin(instance)
        transaction.on_commit(lambda: ROLLBACKS.labels(kind=kind, origin=origin).inc())
    elif instance.action == Action.REVIEW_SUBMITTED:
        decision = (instance.payload or {}).get("decision")
        if decision in Decision.values:
            transaction.on_commit(lambda: REVIEWS.labels(decision=decision).inc())


def _count_refusal(sender, failures, **kwargs) -> None:
    """A refusal happened even though its transaction rolls back: counted at once."""
    for failure in failures:
        REFUSALS.labels(guard=failure.guard).inc()


def _count_delivery(sender, succeeded: bool, dead: bool, **kwargs) -> None:
    DELIVERIES.labels(result="succeeded" if succeeded else "failed").inc()
    if dead:
        DEAD_LETTERS.inc()


def connect() -> None:
    """Connect the counters to the events they count (RegistrySiteConfig.ready)."""
    post_save.connect(_count_audit_event, sender=AuditEvent, dispatch_uid="metrics-audit")
    promotion_refused.connect(_count_refusal, dispatch_uid="metrics-refusals")
    delivery_attempted.connect(_count_delivery, dispatch_uid="metrics-deliveries")


# --- Gauges read at scrape time ----------------------------------------------------------


def _capped_count(queryset, cap: int) -> int:
    """How many rows `queryset` has, counting no further than `cap`."""
    return queryset.order_by()[:cap].count()


class DatabaseCollector:
    """Gauges read from the database at each scrape, each with one bounded query."""

    def collect(self):
        cap = settings.REGISTRY_METRICS_COUNT_CAP
        backlog = GaugeMetricFamily(
            "registry_webhook_outbox_backlog",
            "Webhook deliveries not yet delivered nor dead (pending, delivering or waiting "
            f"to retry), counted up to {cap}.",
        )
        backlog.add_metric(
            [], _capped_count(Delivery.objects.filter(status__in=OPEN_STATUSES), cap)
        )
        yield backlog

        dead = GaugeMetricFamily(
            "registry_webhook_dead_deliveries",
            f"Dead-lettered webhook deliveries waiting for a redelivery, counted up to {cap}.",
        )
        dead.add_metric([], _capped_count(Delivery.objects.filter(status=DeliveryStatus.DEAD), cap))
        yield dead

        lag = GaugeMetricFamily(
            "registry_federation_sync_lag_seconds",
            "Seconds since each team registry (origin) last pushed its catalog here.",
            labels=["origin"],
        )
        now = timezone.now()
        for name, last_push_at in OriginRegistry.objects.values_list("name", "last_push_at"):
            lag.add_metric([name], max(0.0, (now - last_push_at).total_seconds()))
        yield lag

        production = InfoMetricFamily(
            "registry_model_production_version",
            "The version of each model that is in production (models without one are left out).",
            labels=["model"],
        )
        rows = ModelVersion.objects.filter(stage=Stage.PRODUCTION).values_list(
            "registered_model__name", "version"
        )
        for model, version in rows.order_by("registered_model__name"):
            production.add_metric([model], {"version": version})
        yield production


_DATABASE = DatabaseCollector()


def _exposition() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every process's counters, added up from the files they write (multiprocess mode).
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(_DATABASE)
        return generate_latest(registry)
    registry = CollectorRegistry()
    registry.register(_DATABASE)
    return generate_latest(REGISTRY) + generate_latest(registry)


# --- Who may scrape ------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _networks(allowed: tuple[str, ...]):
    return tuple(ipaddress.ip_network(item, strict=False) for item in allowed)


def _bearer(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def _refusal(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@never_cache
@require_GET
def metrics(request):
    """The metrics, to a scraper with the token or from an allowed address."""
    token = settings.REGISTRY_METRICS_TOKEN
    given = _bearer(request)
    if given is not None:
        if not token or not hmac.compare_digest(given.encode(), token.encode()):
            return _refusal(401, "The metrics token is not valid.")
    else:
        address = client_address(request)
        allowed = _networks(tuple(settings.REGISTRY_METRICS_ALLOW))
        if address is None or not any(address in network for network in allowed):
            if token:
                return _refusal(401, "Send the metrics token: Authorization: Bearer <token>.")
            return _refusal(403, "This address may not read the metrics.")
    return HttpResponse(_exposition(), content_type=CONTENT_TYPE_LATEST)


# --- The request middleware ----------------------------------------------------------------


def _route(request) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return match.route or match.view_name or "unnamed"


# Any other method a client sends is counted as "other": a label never takes a value the
# client chose freely.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _username(request) -> str:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return ""
    return user.get_username()


class RequestMetricsMiddleware:
    """Counts and times every request by its URL pattern, and logs one line for it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        route = _route(request)
        method = request.method if request.method in METHODS else "other"
        HTTP_REQUESTS.labels(route=route, method=method, status=str(response.status_code)).inc()
        HTTP_LATENCY.labels(route=route, method=method).observe(elapsed)
        duration_ms = round(elapsed * 1000, 1)
        request_logger.info(
            "%s %s %s %sms",
            request.method,
            route,
            response.status_code,
            duration_ms,
            extra={
                "request_id": getattr(request, "request_id", "") or get_request_id(),
                "user": _username(request),
                "route": route,
                "method": method,
                "status": response.status_code,
                "duration_ms": duration_ms,
            },
        )
        return response
