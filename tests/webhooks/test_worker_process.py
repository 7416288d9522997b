"""`manage.py run_worker` as a real process: killed mid-delivery, nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from tests.factories import register
from tests.waiting import wait_until
from tests.webhooks.conftest import Receiver
from webhooks_app.models import Delivery, DeliveryAttempt, DeliveryStatus
from webhooks_app.worker import Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# The lease a worker process takes on what it claims. The worker started here is killed
# holding one; this process then moves its own clock past it rather than waiting.
LEASE_SECONDS = 60

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    """The URL of this test run's database, for a worker in another process."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _worker_env(**env_extra) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "registry_site.settings",
        "SECRET_KEY": "worker-subprocess-test-key-0123456789-abcdefghijklmnop",
        "DEBUG": "0",
        "REGISTRY_WEBHOOK_ALLOW_PRIVATE": "1",
        "REGISTRY_WEBHOOK_TIMEOUT": "30",
        "REGISTRY_WEBHOOK_LEASE_SECONDS": str(LEASE_SECONDS),
        **env_extra,
    }


def _start_worker(tmp_path, *args: str, **env_extra) -> subprocess.Popen:
    env = _worker_env(**env_extra)
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", "--interval", "0.1", *args],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def test_worker_killed_mid_delivery_loses_nothing(
    people, model, receiver, subscribe, tmp_path, clock
):
    subscribe(receiver.url)
    register(actor=people.author, model=model, version="1.0.0")
    register(actor=people.author, model=model, version="1.1.0")
    # Holds the request open (a server-side delay, really waited in the receiver's thread)
    # until the worker is killed; the receiver drops it when the test ends.
    receiver.mode, receiver.delay = "slow", 30.0

    proc = _start_worker(tmp_path)
    try:
        wait_until(
            lambda: len(receiver.arrived) == 1,
            timeout=20,
            message=lambda: (tmp_path / "worker.log").read_text(),
        )
        proc.send_signal(signal.SIGKILL)  # no chance to record anything
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    first = Delivery.objects.order_by("event_id").first()
    assert first.status == DeliveryStatus.DELIVERING
    assert not DeliveryAttempt.objects.exists()  # the dead worker recorded nothing
    receiver.mode = "ok"

    worker = Worker()
    assert worker.run_once() == 0  # its claim still holds: no premature duplicate
    clock.shift(LEASE_SECONDS + 1)  # the lease runs out
    worker.drain()

    assert Delivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == 2
    acked = receiver.acknowledged
    assert [r.json["version"]["version"] for r in acked] == ["1.0.0", "1.1.0"]
    # At-least-once: the first event reached the receiver twice, with the same key.
    assert (
        acked[0].headers["X-Registry-Delivery"]
        == receiver.arrived[0].headers["X-Registry-Delivery"]
    )
    assert acked[0].headers["X-Registry-Delivery"] == str(first.idempotency_key)


def test_worker_process_delivers_and_stops_on_sigterm(people, model, receiver, subscribe, tmp_path):
    subscribe(receiver.url)
    register(actor=people.author, model=model, version="1.0.0")
    proc = _start_worker(tmp_path)
    try:
        wait_until(
            lambda: len(receiver.acknowledged) == 1,
            timeout=20,
            message=lambda: (tmp_path / "worker.log").read_text(),
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "webhook worker stopped" in (tmp_path / "worker.log").read_text()


def test_run_worker_once_delivers_what_is_due(people, model, receiver, subscribe, capsys):
    subscribe(receiver.url)
    register(actor=people.author, model=model, version="1.0.0")
    call_command("run_worker", "--once", "--max-attempts", "2")
    assert receiver.types() == ["version.registered"]
    assert "1 delivery attempt(s) made." in capsys.readouterr().out


def test_run_worker_once_exits_zero_when_nothing_is_due(fast, capsys):
    call_command("run_worker", "--once")
    assert "0 delivery attempt(s) made." in capsys.readouterr().out


def test_run_worker_once_fails_when_every_attempt_failed(people, model, receiver, subscribe):
    subscribe(receiver.url)
    register(actor=people.author, model=model, version="1.0.0")
    receiver.mode = "error"  # answers 500
    with pytest.raises(CommandError, match="Every delivery attempt failed") as raised:
        call_command("run_worker", "--once", "--max-attempts", "1")
    assert raised.value.returncode == 1
    assert len(receiver.arrived) == 1
    assert Delivery.objects.get().status == DeliveryStatus.DEAD


def test_run_worker_once_succeeds_when_one_attempt_succeeded(
    people, model, receiver, subscribe, capsys
):
    receiving = subscribe(receiver.url)
    refusing = Receiver().start()
    try:
        refusing.mode = "error"
        subscribe(refusing.url)
        register(actor=people.author, model=model, version="1.0.0")
        call_command("run_worker", "--once", "--max-attempts", "1")
    finally:
        refusing.stop()
    assert len(refusing.arrived) == 1 and not refusing.acknowledged
    assert receiver.types() == ["version.registered"]
    assert Delivery.objects.get(subscription=receiving).status == DeliveryStatus.SUCCEEDED
    assert "2 delivery attempt(s) made." in capsys.readouterr().out


def test_run_worker_once_process_exit_status(people, model, receiver, subscribe):
    subscribe(receiver.url)
    register(actor=people.author, model=model, version="1.0.0")
    command = [sys.executable, "manage.py", "run_worker", "--once", "--max-attempts", "1"]
    receiver.mode = "error"
    failed = subprocess.run(command, cwd=ROOT, env=_worker_env(), capture_output=True, text=True)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "Every delivery attempt failed (1 made)." in failed.stderr

    register(actor=people.author, model=model, version="1.1.0")
    receiver.mode = "ok"
    done = subprocess.run(command, cwd=ROOT, env=_worker_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert receiver.types() == ["version.registered"]
    assert "1 delivery attempt(s) made." in done.stdout


def test_sigterm_releases_claimed_deliveries_and_a_restart_sends_them(
    people, model, receiver, subscribe, tmp_path
):
    subscriptions = [subscribe(receiver.url, description=str(i)) for i in range(3)]
    register(actor=people.author, model=model, version="1.0.0")
    receiver.mode = "hold"  # the first request stays in flight until the gate opens
    log = tmp_path / "worker.log"

    # A worker that claims three at a time (one is the default).
    proc = _start_worker(tmp_path, "--batch-size", "3")
    try:
        wait_until(lambda: len(receiver.arrived) == 1, timeout=20, message=log.read_text)
        # One worker holds all three: one in flight, two claimed and waiting their turn.
        assert Delivery.objects.filter(status=DeliveryStatus.DELIVERING).count() == 3
        assert sorted(Delivery.objects.values_list("attempts", flat=True)) == [0, 0, 1]
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: "stop requested" in log.read_text(), message=log.read_text)
        receiver.gate.set()  # the delivery in flight is answered
        assert proc.wait(timeout=20) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert "released 2 claimed delivery(ies) back to the queue" in log.read_text()
    assert len(receiver.arrived) == 1
    finished = Delivery.objects.get(status=DeliveryStatus.SUCCEEDED)
    assert finished.attempts == 1 and finished.attempt_log.count() == 1
    released = Delivery.objects.exclude(pk=finished.pk)
    assert {d.status for d in released} == {DeliveryStatus.PENDING}
    assert [d.attempts for d in released] == [0, 0]
    assert {(d.claim_token, d.lease_expires_at) for d in released} == {("", None)}
    assert not DeliveryAttempt.objects.filter(delivery__in=released).exists()

    proc = _start_worker(tmp_path)  # a restart sends them at once, not after a lease
    try:
        wait_until(lambda: len(receiver.acknowledged) == 3, timeout=20, message=log.read_text)
        wait_until(
            lambda: Delivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == 3,
            message=log.read_text,
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert sorted(Delivery.objects.values_list("attempts", flat=True)) == [1, 1, 1]
    assert {d.subscription_id for d in Delivery.objects.all()} == {s.pk for s in subscriptions}
    assert DeliveryAttempt.objects.count() == 3
