"""End-to-end webhook delivery against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from models_app import services
from models_app.enums import Action
from models_app.models import AuditEvent
from tests.factories import make_model, register
from tests.webhooks.conftest import EXPECTED_TYPES, drive_every_event_type
from webhooks_app.events import EVENT_TYPES
from webhooks_app.models import Delivery, DeliveryAttempt, DeliveryStatus
from webhooks_app.signing import sign, verify_signature
from webhooks_app.worker import Worker, backoff_seconds

pytestmark = pytest.mark.django_db(transaction=True)


def _delivered_events(receiver) -> list[dict]:
    return [r.json for r in receiver.acknowledged]


def test_every_event_type_arrives_once_with_valid_signature(
    people, model, receiver, subscribe, worker
):
    sub = subscribe(receiver.url)
    drive_every_event_type(people, model)

    worker.drain()

    received = receiver.acknowledged
    assert [r.headers["X-Registry-Event"] for r in received] == EXPECTED_TYPES
    assert set(EXPECTED_TYPES) == set(EVENT_TYPES)
    for r in received:
        assert verify_signature(sub.secret, r.headers["X-Registry-Signature"], r.body)
        assert r.headers["Content-Type"] == "application/json"
        assert r.json["type"] == r.headers["X-Registry-Event"]
    # Once: one request per event, every event id and idempotency key distinct.
    assert len(receiver.arrived) == len(received)
    assert len({r.json["id"] for r in received}) == len(received)
    assert len({r.headers["X-Registry-Delivery"] for r in received}) == len(received)
    assert Delivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == len(received)
    # A second run finds nothing to send.
    assert worker.drain() == 0
    assert len(receiver.arrived) == len(received)


def test_payload_names_model_version_stages_actor_reason(
    people, model, receiver, subscribe, worker
):
    subscribe(receiver.url, event_types=["version.promoted", "version.rolled_back"])
    drive_every_event_type(people, model)
    worker.drain()

    promoted, second_promoted, rolled_back = _delivered_events(receiver)
    assert promoted["type"] == "version.promoted"
    assert promoted["model"] == {"name": "fraud_detector", "team": "fraud"}
    assert promoted["version"] == {"version": "1.0.0", "number": 1, "stage": "production"}
    assert (promoted["from_stage"], promoted["to_stage"]) == ("staging", "production")
    assert (promoted["actor"], promoted["reason"]) == ("release", "first release")
    assert promoted["data"]["previous_version"] is None
    assert second_promoted["data"]["previous_version"] == "1.0.0"
    assert promoted["occurred_at"].endswith("Z")
    # The rollback's two audit rows become one event naming both versions.
    assert rolled_back["type"] == "version.rolled_back"
    assert rolled_back["version"] == {"version": "1.1.0", "number": 2, "stage": "rolled_back"}
    assert rolled_back["data"] == {
        "rolled_back_version": {"version": "1.1.0", "number": 2, "stage": "rolled_back"},
        "restored_version": {"version": "1.0.0", "number": 1, "stage": "production"},
    }
    assert AuditEvent.objects.filter(action=Action.VERSION_RESTORED).count() == 1


def test_subscription_gets_only_its_event_types(people, model, receiver, subscribe, worker):
    subscribe(receiver.url, event_types=["review.submitted"])
    drive_every_event_type(people, model)
    worker.drain()
    assert receiver.types() == ["review.submitted", "review.submitted"]


def test_inactive_subscription_gets_nothing_new(people, model, receiver, subscribe, worker):
    from webhooks_app import services as webhooks

    sub = subscribe(receiver.url)
    webhooks.subscription_update(actor=people.admin, subscription=sub, active=False)
    register(actor=people.author, model=model, version="1.0.0")
    worker.drain()
    assert receiver.arrived == []
    assert Delivery.objects.count() == 0


def test_rolled_back_transaction_emits_nothing(people, model, receiver, subscribe, worker):
    subscribe(receiver.url)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        register(actor=people.author, model=model, version="1.0.0")
        assert Delivery.objects.count() == 1  # queued inside the change's transaction
        raise Boom

    assert Delivery.objects.count() == 0
    assert not AuditEvent.objects.filter(action=Action.VERSION_REGISTERED).exists()
    worker.drain()
    assert receiver.arrived == []


def test_events_wait_in_the_outbox_while_no_worker_runs(people, model, receiver, subscribe):
    subscribe(receiver.url)
    register(actor=people.author, model=model, version="1.0.0")
    register(actor=people.author, model=model, version="1.1.0")
    # Nothing sent and nothing even tried: the changes only queued their events.
    assert receiver.arrived == []
    assert Delivery.objects.filter(status=DeliveryStatus.PENDING, attempts=0).count() == 2
    assert not DeliveryAttempt.objects.exists()
    Worker().drain()
    assert receiver.types() == ["version.registered", "version.registered"]


def _two_models_of_events(people, model):
    """Interleaved events on two models: fraud 1.0.0, pricing 1.0.0, fraud 1.1.0, …"""
    other = make_model(actor=people.admin, team=people.other_team, name="price_model")
    order = []
    for fraud_v, other_v in (("1.0.0", "1.0.0"), ("1.1.0", "1.1.0"), ("1.2.0", None)):
        register(actor=people.author, model=model, version=fraud_v)
        order.append(("fraud_detector", fraud_v))
        if other_v:
            register(actor=people.admin, model=other, version=other_v)
            order.append(("price_model", other_v))
    return order


def _per_model(events: list[dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in events:
        out.setdefault(e["model"]["name"], []).append(e["version"]["version"])
    return out


def test_failing_receiver_gets_retries_then_every_event_in_order(
    people, model, receiver, subscribe, fast, clock
):
    subscribe(receiver.url)
    receiver.mode = "error"
    order = _two_models_of_events(people, model)
    worker = Worker(batch_size=10)  # each round tries every model's first event

    for _ in range(3):
        worker.run_once()
        clock.shift(0.25)  # past the back-off cap (0.2 s): the retries are due
    # Only the first event of each model was tried: later ones wait behind it.
    tried = {(r.json["model"]["name"], r.json["version"]["version"]) for r in receiver.arrived}
    assert tried == {("fraud_detector", "1.0.0"), ("price_model", "1.0.0")}
    assert len(receiver.arrived) == 6
    heads = Delivery.objects.filter(attempts__gt=0)
    assert {d.status for d in heads} == {DeliveryStatus.FAILED_RETRYING}
    assert {d.attempts for d in heads} == {3}
    assert {d.last_status_code for d in heads} == {500}
    assert DeliveryAttempt.objects.filter(status_code=500).count() == 6

    receiver.mode = "ok"
    clock.shift(0.25)
    worker.drain()

    per_model = _per_model(_delivered_events(receiver))
    assert per_model == {
        "fraud_detector": [v for m, v in order if m == "fraud_detector"],
        "price_model": [v for m, v in order if m == "price_model"],
    }
    assert Delivery.objects.exclude(status=DeliveryStatus.SUCCEEDED).count() == 0


def test_receiver_that_times_out_gets_retries_then_everything(
    people, model, receiver, subscribe, worker, settings, clock
):
    settings.REGISTRY_WEBHOOK_TIMEOUT = 0.3
    subscribe(receiver.url)
    receiver.mode, receiver.delay = "slow", 1.0
    register(actor=people.author, model=model, version="1.0.0")
    register(actor=people.author, model=model, version="1.1.0")

    started = time.monotonic()
    worker.run_once()
    assert time.monotonic() - started < 1.0  # the timeout, not the receiver, ended it
    head = Delivery.objects.order_by("event_id").first()
    assert head.status == DeliveryStatus.FAILED_RETRYING
    assert "timed out" in head.last_error

    receiver.mode = "ok"
    clock.shift(0.25)  # past the back-off cap
    worker.drain()
    assert _per_model(_delivered_events(receiver)) == {"fraud_detector": ["1.0.0", "1.1.0"]}
    # At-least-once: the timed-out request did reach the receiver, with the same key.
    keys = [r.headers["X-Registry-Delivery"] for r in receiver.arrived]
    assert keys[0] == keys[1] == str(head.idempotency_key)


def test_receiver_that_is_down_gets_everything_once_back(people, model, subscribe, fast, clock):
    from tests.webhooks.conftest import Receiver

    receiver = Receiver().start()
    port = receiver.port
    receiver.stop()  # the port is closed: connections are refused
    subscribe(f"http://127.0.0.1:{port}/hook")
    order = _two_models_of_events(people, model)
    worker = Worker(batch_size=10)  # each round tries every model's first event

    for _ in range(3):
        worker.run_once()
        clock.shift(0.25)  # past the back-off cap
    failing = Delivery.objects.filter(attempts__gt=0)
    assert failing.count() == 2
    assert all(d.status == DeliveryStatus.FAILED_RETRYING for d in failing)
    assert all("ConnectionError" in d.last_error for d in failing)

    back = Receiver(port=port).start()
    try:
        clock.shift(0.25)
        worker.drain()
        per_model = _per_model(_delivered_events(back))
    finally:
        back.stop()
    assert per_model == {
        "fraud_detector": [v for m, v in order if m == "fraud_detector"],
        "price_model": [v for m, v in order if m == "price_model"],
    }


def test_backoff_delays_the_next_attempt(people, model, receiver, subscribe, settings):
    settings.REGISTRY_WEBHOOK_BACKOFF_BASE = 60
    settings.REGISTRY_WEBHOOK_BACKOFF_CAP = 600
    subscribe(receiver.url)
    receiver.mode = "error"
    register(actor=people.author, model=model, version="1.0.0")
    worker = Worker()
    before = time.time()
    worker.run_once()
    d = Delivery.objects.get()
    wait = d.next_attempt_at.timestamp() - before
    assert 0 <= wait <= 61
    # Not due yet (unless the jitter drew ~0): nothing is sent on the next round.
    if wait > 1:
        assert worker.run_once() == 0
        assert len(receiver.arrived) == 1


def test_backoff_grows_exponentially_with_full_jitter_under_the_cap():
    draws = [backoff_seconds(n, base=1, cap=30) for n in range(1, 9) for _ in range(200)]
    assert all(0 <= d <= 30 for d in draws)
    firsts = [backoff_seconds(1, base=1, cap=30) for _ in range(200)]
    fourths = [backoff_seconds(4, base=1, cap=30) for _ in range(200)]
    assert max(firsts) <= 1 < max(fourths) <= 8
    assert len({round(d, 6) for d in firsts}) > 100  # jittered, not a fixed delay


def test_delivery_dies_after_max_attempts(people, model, receiver, subscribe, settings, clock):
    settings.REGISTRY_WEBHOOK_MAX_ATTEMPTS = 3
    settings.REGISTRY_WEBHOOK_BACKOFF_BASE = 0.01
    settings.REGISTRY_WEBHOOK_BACKOFF_CAP = 0.01
    subscribe(receiver.url)
    receiver.mode = "error"
    register(actor=people.author, model=model, version="1.0.0")
    register(actor=people.author, model=model, version="1.1.0")
    worker = Worker()
    for _ in range(20):
        worker.run_once()
        clock.shift(0.02)  # past the back-off (at most 0.01 s)
    first, second = Delivery.objects.order_by("event_id")
    assert (first.status, first.attempts) == (DeliveryStatus.DEAD, 3)
    # A dead delivery stops holding the queue: the next event was tried too.
    assert (second.status, second.attempts) == (DeliveryStatus.DEAD, 3)
    assert len(receiver.arrived) == 6


def test_abandoned_claim_is_delivered_by_the_next_worker_with_same_key(
    people, model, receiver, subscribe, clock
):
    subscribe(receiver.url)
    register(actor=people.author, model=model, version="1.0.0")
    # A worker claims the delivery and dies before sending (or before recording).
    crashed = Worker(lease_seconds=30)
    _token, claimed = crashed.claim()
    assert [d.status for d in claimed] == [DeliveryStatus.DELIVERING]
    key = claimed[0].idempotency_key

    survivor = Worker()
    assert survivor.run_once() == 0  # the lease still holds
    clock.shift(25)
    assert survivor.run_once() == 0  # and still does five seconds before it runs out
    clock.shift(6)
    assert survivor.run_once() == 1
    assert [r.headers["X-Registry-Delivery"] for r in receiver.acknowledged] == [str(key)]
    assert Delivery.objects.get().status == DeliveryStatus.SUCCEEDED


def test_a_claim_counts_no_attempt_and_a_stopped_worker_gives_back_its_claims(
    people, model, receiver, subscribe, fast
):
    subscribe(receiver.url)
    subscribe(receiver.url, description="second")
    register(actor=people.author, model=model, version="1.0.0")
    worker = Worker(batch_size=2)
    token, claimed = worker.claim()
    assert len(claimed) == 2
    assert list(Delivery.objects.values_list("attempts", flat=True)) == [0, 0]

    assert worker.release(claimed, token) == 2
    assert {d.status for d in Delivery.objects.all()} == {DeliveryStatus.PENDING}
    assert list(Delivery.objects.values_list("attempts", flat=True)) == [0, 0]

    worker.stop()
    assert worker.run_once() == 0  # a stopped worker claims nothing more
    assert {d.status for d in Delivery.objects.all()} == {DeliveryStatus.PENDING}
    assert Worker().drain() == 2
    assert list(Delivery.objects.values_list("attempts", flat=True)) == [1, 1]
    assert len(receiver.acknowledged) == 2


def test_signature_rejects_tampering_and_old_timestamps():
    body = b'{"type":"version.promoted"}'
    header = sign("s3cret-s3cret-s3cret", body)
    assert verify_signature("s3cret-s3cret-s3cret", header, body)
    assert not verify_signature("s3cret-s3cret-s3cret", header, body + b" ")
    assert not verify_signature("another-secret-value", header, body)
    old = sign("s3cret-s3cret-s3cret", body, timestamp=int(time.time()) - 3600)
    assert not verify_signature("s3cret-s3cret-s3cret", old, body)
    assert verify_signature("s3cret-s3cret-s3cret", old, body, tolerance=None)
    assert not verify_signature("s3cret-s3cret-s3cret", "garbage", body)
    assert not verify_signature("s3cret-s3cret-s3cret", None, body)


def test_services_outside_webhooks_still_work_without_subscriptions(people, model):
    mv = register(actor=people.author, model=model, version="1.0.0")
    services.model_version_archive(actor=people.release, version=mv, reason="old")
    assert Delivery.objects.count() == 0


def test_docs_verification_snippet_accepts_real_delivery(people, model, receiver, subscribe):
    """The receiver snippet in docs/events.md verifies what the worker really sends."""
    import re
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()
    snippet = next(b for b in re.findall(r"```python\n(.*?)```", docs, re.S) if "def verify" in b)
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102 - our own documentation
    docs_verify = namespace["verify_signature"]

    sub = subscribe(receiver.url)
    register(actor=people.author, model=model, version="1.0.0")
    Worker().drain()

    (request,) = receiver.acknowledged
    header = request.headers["X-Registry-Signature"]
    assert docs_verify(sub.secret, header, request.body)
    assert not docs_verify(sub.secret, header, request.body.replace(b"1.0.0", b"9.9.9"))
    assert not docs_verify("whsec_wrong", header, request.body)


def test_a_second_worker_delivers_other_models_while_the_first_is_in_flight(
    people, receiver, subscribe, fast
):
    """Two workers at once: while one waits on a receiver with one model's event, the
    other sends the other models' events (and none of that model's, which must wait)."""
    import threading

    from django.db import connections

    from tests.waiting import wait_until

    subscribe(receiver.url)
    models = [make_model(actor=people.admin, team=people.team, name=f"m{i}") for i in range(3)]
    for minor in range(3):
        for m in models:
            register(actor=people.admin, model=m, version=f"1.{minor}.0")
    receiver.mode = "hold-first"  # the first request stays in flight until the gate opens
    first, second = Worker(), Worker()

    def run_first():
        try:
            first.run_once()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run_first)
    thread.start()
    try:
        wait_until(lambda: len(receiver.arrived) == 1, timeout=30)
        held = receiver.arrived[0].json["model"]["name"]
        assert held == "m0"  # the oldest event first

        second.drain()  # while the first worker's request is still in flight

        assert second.succeeded == 6
        sent_by_second = {r.json["model"]["name"] for r in receiver.acknowledged}
        assert sent_by_second == {"m1", "m2"}
    finally:
        receiver.gate.set()
        thread.join(timeout=30)
    assert first.succeeded == 1
    first.drain()  # m0's later events, free now that its first one was acknowledged

    assert first.succeeded == 3 and second.succeeded == 6
    keys = [r.headers["X-Registry-Delivery"] for r in receiver.acknowledged]
    assert len(keys) == len(set(keys)) == 9
    assert _per_model(_delivered_events(receiver)) == {
        m.name: ["1.0.0", "1.1.0", "1.2.0"] for m in models
    }


def test_two_workers_in_parallel_send_each_event_once_in_order(people, receiver, subscribe):
    import threading

    from django.db import connections

    subscribe(receiver.url)
    models = [make_model(actor=people.admin, team=people.team, name=f"m{i}") for i in range(3)]
    for minor in range(4):
        for m in models:
            register(actor=people.admin, model=m, version=f"1.{minor}.0")

    errors = []

    def run():
        try:
            Worker(batch_size=2).drain()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    Worker().drain()  # anything a thread left because the other held the model's head

    assert errors == []
    keys = [r.headers["X-Registry-Delivery"] for r in receiver.acknowledged]
    assert len(keys) == len(set(keys)) == 12
    assert _per_model(_delivered_events(receiver)) == {
        m.name: ["1.0.0", "1.1.0", "1.2.0", "1.3.0"] for m in models
    }
