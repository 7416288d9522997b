"""The webhook worker's periodic catalog sync ."""

from __future__ import annotations

import threading

import pytest

from federation_app.sync import sync_periodically
from tests.waiting import wait_until

MODEL = "team-fraud.fraud_detector"


@pytest.mark.django_db(transaction=True)
def test_worker_sync_thread_pushes_changes_until_stopped(central, people, model, promote):
    promote(model, "1.0.0")
    stop, lines = threading.Event(), []
    thread = threading.Thread(
        target=sync_periodically,
        args=(stop, 0.2, lines.append),
        kwargs={
            "central_url": central.url,
            "token": central.tokens.sync_token,
            "registry_id": "team-fraud",
        },
    )
    thread.start()
    try:
        wait_until(
            lambda: any("Nothing to push" in s for s in lines), timeout=30, message=str(lines)
        )
    finally:
        stop.set()
        thread.join(timeout=30)

    assert not thread.is_alive()
    assert lines[0].startswith("catalog sync: ") and "1 model" in lines[0]
    assert any("Nothing to push" in line for line in lines[1:])
    production = central.api("GET", f"/api/v1/models/{MODEL}/production/").json()
    assert production["version"] == "1.0.0"


@pytest.mark.django_db(transaction=True)
def test_worker_sync_thread_reports_a_failure_and_keeps_going(people):
    stop, lines = threading.Event(), []
    thread = threading.Thread(
        target=sync_periodically,
        args=(stop, 0.1, lines.append),
        kwargs={"central_url": "http://127.0.0.1:9", "token": "x", "registry_id": "team-fraud"},
    )
    thread.start()
    try:
        wait_until(lambda: len(lines) >= 2, timeout=20, message=str(lines))
    finally:
        stop.set()
        thread.join(timeout=20)

    assert len(lines) >= 2
    assert all(line.startswith("catalog sync failed (retried in 0.1 s)") for line in lines)
