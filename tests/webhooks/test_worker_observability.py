"""What the webhook worker shows of itself: delivery and dead-letter metrics, one
structured log line per delivery and per round, and the heartbeat /readyz reads."""

from __future__ import annotations

import json
import logging
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from models_app.context import reset_request_id, set_request_id
from registry_site.logs import JsonFormatter
from tests.factories import register
from tests.waiting import wait_until
from webhooks_app.worker import Worker, last_heartbeat

pytestmark = pytest.mark.django_db(transaction=True)


def _samples(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.content.decode())
        for s in family.samples
    }


def _moved(before, after, name, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_deliveries_by_result_dead_letters_and_backlog(
    client, people, model, receiver, subscribe, fast
):
    subscribe(receiver.url, event_types=["version.registered"])
    before = _samples(client)
    register(actor=people.author, model=model, version="1.0.0")
    queued = _samples(client)
    assert _moved(before, queued, "registry_webhook_outbox_backlog") == 1

    Worker().drain()
    delivered = _samples(client)
    assert _moved(before, delivered, "registry_webhook_deliveries_total", result="succeeded") == 1
    assert delivered[("registry_webhook_outbox_backlog", ())] == 0

    receiver.mode = "error"
    register(actor=people.author, model=model, version="1.1.0")
    Worker(max_attempts=1).drain()
    dead = _samples(client)
    assert _moved(delivered, dead, "registry_webhook_deliveries_total", result="failed") == 1
    assert _moved(delivered, dead, "registry_webhook_dead_letters_total") == 1
    assert dead[("registry_webhook_dead_deliveries", ())] == 1


def test_the_worker_logs_each_delivery_and_round_as_json(
    people, model, receiver, subscribe, fast, caplog
):
    subscribe(receiver.url, event_types=["version.registered"])
    # As if inside the request that registered the version.
    token = set_request_id("req-0123456789abcdef")
    try:
        register(actor=people.author, model=model, version="1.0.0")
    finally:
        reset_request_id(token)
    with caplog.at_level(logging.INFO, logger="webhooks_app.worker"):
        Worker().drain()
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records]
    delivery = next(line for line in lines if line.get("job") == "webhook_delivery")
    assert delivery["result"] == "succeeded"
    assert delivery["event_type"] == "version.registered"
    # The request id of the change that queued the event.
    assert delivery["request_id"] == "req-0123456789abcdef"
    round_ = next(line for line in lines if line.get("job") == "webhook_delivery_round")
    assert (round_["claimed"], round_["attempted"], round_["succeeded"]) == (1, 1, 1)
    assert isinstance(round_["duration_ms"], int)


def test_a_running_worker_writes_its_heartbeat(db, fast):
    assert last_heartbeat() is None
    worker = Worker()
    thread = threading.Thread(target=worker.run_forever, kwargs={"interval": 0.05})
    thread.start()
    try:
        wait_until(lambda: last_heartbeat() is not None, timeout=10)
    finally:
        worker.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
