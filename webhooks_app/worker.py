"""The delivery worker: claim due deliveries, send them, record the outcome.

Claiming marks rows 'delivering' with a lease in one short transaction (PostgreSQL:
SELECT … FOR UPDATE SKIP LOCKED, so several workers share the queue; SQLite: the
immediate write transaction serialises claimers). The HTTP requests happen outside any
transaction. An attempt is counted when its request is about to be made, not when the
delivery is claimed. A worker stopped with SIGTERM (or SIGINT) finishes the delivery in
flight, puts the others it claimed back to 'pending' with no attempt counted, and exits.
A worker killed outright (SIGKILL, a crash) leaves its rows 'delivering'; once the lease
expires any worker takes them again, with the same idempotency key: delivery is
at-least-once and receivers drop duplicates by X-Registry-Delivery.

Order: for one subscription, a delivery is claimed only when no earlier event of the same
model (`ordering_key`) is still open (pending, delivering or retrying). A receiver that is
down therefore gets a model's events in the order they happened once it is back; a dead
delivery stops holding the queue.

Parallel workers: a claimed delivery holds back the later events of its model until it is
sent, so a worker claims only what it is about to send: one delivery per round by default
(`batch_size`). A worker that claimed ten and sent them one after the other would keep
nine models waiting behind its queue for nothing, and with several workers each model
would move on by one event per batch instead of one per request: the backlog of a few
busy models would drain no faster with more workers. With one claim per request, N
workers keep N requests in flight, each on a different model, and a model's next event
is free for any worker as soon as the previous one is acknowledged. A bigger batch only
saves claims, which cost far less than a request to a receiver.

Back-off: after failed attempt n the next one is due after a random delay between 0 and
min(cap, base · 2^(n-1)) seconds ("full jitter"), so that many retries spread out instead
of arriving together. After REGISTRY_WEBHOOK_MAX_ATTEMPTS attempts the delivery is dead
(the dead-letter state); an admin can redeliver it.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from .delivery import send
from .models import OPEN_STATUSES, Delivery, DeliveryAttempt, DeliveryStatus, WorkerHeartbeat
from .services import expired_secrets_forget
from .signals import delivery_attempted

logger = logging.getLogger("webhooks_app.worker")

# The heartbeat row every webhook worker refreshes, and how often at most (seconds).
HEARTBEAT_NAME = "webhook-worker"
HEARTBEAT_EVERY = 10.0


def heartbeat(now=None) -> None:
    """Record that a webhook worker is alive now (one shared row, see WorkerHeartbeat)."""
    now = now or timezone.now()
    if WorkerHeartbeat.objects.filter(name=HEARTBEAT_NAME).update(beat_at=now):
        return
    try:
        with transaction.atomic():
            WorkerHeartbeat.objects.create(name=HEARTBEAT_NAME, beat_at=now)
    except IntegrityError:  # another worker created it at the same moment
        WorkerHeartbeat.objects.filter(name=HEARTBEAT_NAME).update(beat_at=now)


def last_heartbeat():
    """When a webhook worker last recorded it was alive, or None if none ever did."""
    return (
        WorkerHeartbeat.objects.filter(name=HEARTBEAT_NAME)
        .values_list("beat_at", flat=True)
        .first()
    )


def _setting(name: str, default):
    return getattr(settings, name, default)


def backoff_seconds(attempts: int, *, base: float | None = None, cap: float | None = None) -> float:
    """Full-jitter exponential back-off after `attempts` failed attempts."""
    base = float(_setting("REGISTRY_WEBHOOK_BACKOFF_BASE", 10) if base is None else base)
    cap = float(_setting("REGISTRY_WEBHOOK_BACKOFF_CAP", 3600) if cap is None else cap)
    ceiling = min(cap, base * (2 ** max(attempts - 1, 0)))
    return random.uniform(0, ceiling)


def claimable(now=None):
    """Deliveries a worker may take now: due, their subscription active, first in order."""
    now = now or timezone.now()
    earlier_open = Delivery.objects.filter(
        subscription=OuterRef("subscription"),
        ordering_key=OuterRef("ordering_key"),
        event_id__lt=OuterRef("event_id"),
        status__in=OPEN_STATUSES,
    )
    due = Q(
        status__in=(DeliveryStatus.PENDING, DeliveryStatus.FAILED_RETRYING),
        next_attempt_at__lte=now,
    ) | Q(status=DeliveryStatus.DELIVERING, lease_expires_at__lte=now)
    return (
        Delivery.objects.filter(due, subscription__active=True)
        .filter(~Exists(earlier_open))
        .order_by("event_id", "id")
    )


class Worker:
    """Delivers the outbox. `run_once` does one claim-and-send round; `drain` repeats it
    until nothing is due; `run_forever` polls every `interval` seconds until stopped."""

    def __init__(
        self,
        *,
        max_attempts: int | None = None,
        batch_size: int = 1,
        lease_seconds: float | None = None,
        log=None,
    ) -> None:
        self.max_attempts = int(max_attempts or _setting("REGISTRY_WEBHOOK_MAX_ATTEMPTS", 8))
        self.batch_size = batch_size
        self.lease_seconds = float(
            lease_seconds
            if lease_seconds is not None
            else _setting("REGISTRY_WEBHOOK_LEASE_SECONDS", 120)
        )
        self.log = log or logger.info
        # The per-delivery line goes to `log` only when one was given: otherwise the
        # structured line of the "webhooks_app.worker" logger already says it.
        self._log_deliveries = log is not None
        # A resident worker (run_forever) writes the heartbeat GET /readyz reads.
        self._beats = False
        self._last_beat: float | None = None
        self._stop = threading.Event()
        # Attempts made and attempts that succeeded since this worker was created.
        self.attempted = 0
        self.succeeded = 0

    # --- claiming -------------------------------------------------------------------------

    def claim(self) -> tuple[str, list[Delivery]]:
        """Take up to `batch_size` due deliveries for this worker; returns (token, rows)."""
        token = str(uuid.uuid4())
        now = timezone.now()
        with transaction.atomic():
            qs = claimable(now)
            if connection.vendor == "postgresql":
                qs = qs.select_for_update(skip_locked=True, of=("self",))
            ids = list(qs.values_list("pk", flat=True)[: self.batch_size])
            if not ids:
                return token, []
            Delivery.objects.filter(pk__in=ids).update(
                status=DeliveryStatus.DELIVERING,
                lease_expires_at=now + timedelta(seconds=self.lease_seconds),
                claim_token=token,
                updated_at=now,
            )
        rows = list(
            Delivery.objects.filter(pk__in=ids)
            .select_related("subscription")
            # The request that made the change, so that the log can name it.
            .annotate(request_id=F("event__request_id"))
            .order_by("event_id", "id")
        )
        return token, rows

    # --- sending --------------------------------------------------------------------------

    def deliver(self, delivery: Delivery, token: str) -> bool | None:
        """Send one claimed delivery and record the outcome; None when its lease ran out."""
        if delivery.lease_expires_at and timezone.now() >= delivery.lease_expires_at:
            # Another worker may take it now; sending as well would only add a duplicate.
            return None
        # The attempt counts now that its request is about to be made, and only while the
        # claim is still ours.
        counted = Delivery.objects.filter(
            pk=delivery.pk, claim_token=token, status=DeliveryStatus.DELIVERING
        ).update(attempts=F("attempts") + 1)
        if not counted:
            return None
        delivery.attempts = Delivery.objects.values_list("attempts", flat=True).get(pk=delivery.pk)
        started_at = timezone.now()
        outcome = send(
            url=delivery.subscription.url,
            secret=delivery.subscription.secret,
            previous_secret=delivery.subscription.previous_secret_at(started_at),
            payload=delivery.payload,
            event_type=delivery.event_type,
            idempotency_key=str(delivery.idempotency_key),
        )
        stored = self._record(delivery, token, outcome, started_at)
        dead = stored.status == DeliveryStatus.DEAD
        delivery_attempted.send(
            sender=Delivery, delivery=stored, succeeded=outcome.succeeded, dead=dead
        )
        logger.info(
            "webhook delivery %s attempt %s: %s",
            delivery.pk,
            delivery.attempts,
            "ok" if outcome.succeeded else ("dead" if dead else "failed"),
            extra={
                "job": "webhook_delivery",
                "request_id": getattr(delivery, "request_id", "") or "",
                "delivery_id": delivery.pk,
                "event_type": delivery.event_type,
                "subscription_id": delivery.subscription_id,
                "attempt": delivery.attempts,
                "result": "succeeded" if outcome.succeeded else ("dead" if dead else "failed"),
                "status": outcome.status_code,
                "duration_ms": outcome.duration_ms,
            },
        )
        if self._log_deliveries:
            self.log(
                f"delivery {delivery.pk} ({delivery.event_type} → {delivery.subscription.url}) "
                f"attempt {delivery.attempts}: "
                + ("ok" if outcome.succeeded else outcome.error or "failed")
            )
        return outcome.succeeded

    @transaction.atomic
    def _record(self, delivery: Delivery, token: str, outcome, started_at) -> Delivery:
        now = timezone.now()
        DeliveryAttempt.objects.create(
            delivery_id=delivery.pk,
            number=delivery.attempts,
            started_at=started_at,
            duration_ms=outcome.duration_ms,
            status_code=outcome.status_code,
            succeeded=outcome.succeeded,
            error=outcome.error[:2000],
            response_snippet=outcome.response_snippet,
        )
        d = Delivery.objects.select_for_update().get(pk=delivery.pk)
        d.last_status_code = outcome.status_code
        d.last_error = outcome.error[:2000]
        d.updated_at = now
        if outcome.succeeded:
            # Success is final, even if a slower claim of ours lost its lease meanwhile.
            d.status = DeliveryStatus.SUCCEEDED
            d.delivered_at = now
            d.lease_expires_at = None
        elif d.claim_token != token or d.status != DeliveryStatus.DELIVERING:
            # Another worker took it over (or it was redelivered): its outcome decides.
            d.save(update_fields=["last_status_code", "last_error", "updated_at"])
            return d
        elif d.attempts >= self.max_attempts:
            d.status = DeliveryStatus.DEAD
            d.lease_expires_at = None
        else:
            d.status = DeliveryStatus.FAILED_RETRYING
            d.next_attempt_at = now + timedelta(seconds=backoff_seconds(d.attempts))
            d.lease_expires_at = None
        d.save()
        return d

    # --- loops ------------------------------------------------------------------------------

    def release(self, deliveries: list[Delivery], token: str) -> int:
        """Put claimed deliveries that were not attempted back in the queue as they were
        due, with no attempt counted; returns how many were still ours to release."""
        released = Delivery.objects.filter(
            pk__in=[d.pk for d in deliveries],
            claim_token=token,
            status=DeliveryStatus.DELIVERING,
        ).update(
            status=DeliveryStatus.PENDING,
            lease_expires_at=None,
            claim_token="",
            updated_at=timezone.now(),
        )
        if released:
            self.log(f"released {released} claimed delivery(ies) back to the queue")
        return released

    def run_once(self) -> int:
        """One round: claim a batch and send it. Returns how many were attempted. Once
        stopped, it claims nothing and releases what it claimed but has not attempted."""
        if self._stop.is_set():
            return 0
        started = time.monotonic()
        if self._beats and (
            self._last_beat is None or started - self._last_beat >= HEARTBEAT_EVERY
        ):
            # Every round, not every poll: a long drain of a big backlog still beats.
            heartbeat()
            self._last_beat = started
        token, rows = self.claim()
        done = succeeded = 0
        for index, delivery in enumerate(rows):
            if self._stop.is_set():
                self.release(rows[index:], token)
                break
            outcome = self.deliver(delivery, token)
            if outcome is not None:
                done += 1
                succeeded += int(outcome)
        self.attempted += done
        self.succeeded += succeeded
        if rows:
            logger.info(
                "webhook delivery round: %s claimed, %s attempted, %s succeeded",
                len(rows),
                done,
                succeeded,
                extra={
                    "job": "webhook_delivery_round",
                    "claimed": len(rows),
                    "attempted": done,
                    "succeeded": succeeded,
                    "duration_ms": round((time.monotonic() - started) * 1000),
                },
            )
        return done

    def drain(self, max_rounds: int = 10_000) -> int:
        """Run rounds until nothing is due now (retries scheduled later stay queued)."""
        expired_secrets_forget()
        total = 0
        for _ in range(max_rounds):
            done = self.run_once()
            if not done:
                break
            total += done
        return total

    def stop(self, signum=None, frame=None) -> None:
        """Stop after the delivery in flight (the SIGTERM and SIGINT handler)."""
        if signum is not None and not self._stop.is_set():
            # A direct write: safe inside a signal handler, unlike buffered streams.
            os.write(2, b"webhook worker: stop requested, finishing the delivery in flight\n")
        self._stop.set()

    def stop_on_signals(self) -> None:
        """Make SIGTERM and SIGINT stop the worker cleanly (main thread only)."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)

    def run_forever(self, interval: float = 2.0) -> None:
        """Poll every `interval` seconds until SIGTERM or SIGINT."""
        self.stop_on_signals()
        self.log(
            f"webhook worker started (interval {interval:g} s, max attempts {self.max_attempts})"
        )
        self._beats = True
        while not self._stop.is_set():
            try:
                self.drain()
            except Exception:
                logger.exception("webhook worker round failed; retrying after the interval")
            finally:
                connection.close_if_unusable_or_obsolete()
            self._stop.wait(interval)
        self.log("webhook worker stopped")
