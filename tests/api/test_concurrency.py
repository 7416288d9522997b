"""Concurrent writes through the live API with real threads, on SQLite and PostgreSQL:
8 registrations of one version give one 201 and seven clean 409s, never a 500."""

from __future__ import annotations

import threading
from datetime import timedelta

import requests
from django.utils import timezone
from knox.models import AuthToken

from models_app.models import AuditEvent, HealthSignal, LatestSignal, ModelVersion

WORKERS = 8


def run_together(fn, n: int = WORKERS) -> list:
    """Call fn(i) in n threads released at the same moment; return their results."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def work(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as exc:  # a transport error is a result to assert on, not a crash
            results[i] = exc

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_concurrent_duplicate_registration_is_one_201_and_409s(live_server, people, model):
    _, token = AuthToken.objects.create(user=people.author)
    url = f"{live_server.url}/api/v1/models/fraud_detector/versions/"

    def register(_):
        with requests.Session() as session:
            r = session.post(
                url,
                json={"version": "1.0.0", "metrics": {"accuracy": 0.9}},
                headers={"Authorization": f"Token {token}"},
                timeout=60,
            )
            return r.status_code, r.json()

    results = run_together(register)
    codes = sorted(code for code, _ in results)
    assert codes == [201] + [409] * (WORKERS - 1), results
    for code, body in results:
        if code == 409:
            assert body["error"]["code"] == "conflict"
            assert "already has a version 1.0.0" in body["error"]["message"]
    assert ModelVersion.objects.filter(registered_model=model).count() == 1
    assert AuditEvent.objects.filter(action="version.registered").count() == 1


def test_concurrent_registration_of_distinct_versions_gets_distinct_numbers(
    live_server, people, model
):
    _, token = AuthToken.objects.create(user=people.author)
    url = f"{live_server.url}/api/v1/models/fraud_detector/versions/"

    def register(i):
        r = requests.post(
            url,
            json={"version": f"1.0.{i}"},
            headers={"Authorization": f"Token {token}"},
            timeout=60,
        )
        return r.status_code, r.json()

    results = run_together(register)
    assert [code for code, _ in results] == [201] * WORKERS, results
    numbers = sorted(body["number"] for _, body in results)
    assert numbers == list(range(1, WORKERS + 1))


def test_concurrent_model_creation_is_one_201_and_409s(live_server, people):
    _, token = AuthToken.objects.create(user=people.author)
    url = f"{live_server.url}/api/v1/models/"

    def create(_):
        r = requests.post(
            url,
            json={"name": "racer", "team": "fraud"},
            headers={"Authorization": f"Token {token}"},
            timeout=60,
        )
        return r.status_code, r.json()

    results = run_together(create)
    assert sorted(code for code, _ in results) == [201] + [409] * (WORKERS - 1), results
    assert all("error" in body for code, body in results if code == 409)


def test_concurrent_signals_all_201_and_the_newest_is_the_latest(
    live_server, people, model, promote
):
    """Eight first signals of one metric at once: each stored, none a 500, and the latest
    value is the newest observation whichever transaction committed first."""
    promote(model, "1.0.0")
    _, token = AuthToken.objects.create(user=people.release)
    url = f"{live_server.url}/api/v1/models/fraud_detector/signals/"
    start = timezone.now() - timedelta(minutes=30)

    def post(i):
        with requests.Session() as session:
            r = session.post(
                url,
                json={
                    "metric": "fpr",
                    "value": i,
                    "observed_at": (start + timedelta(minutes=i)).isoformat(),
                },
                headers={"Authorization": f"Token {token}"},
                timeout=60,
            )
            return r.status_code

    assert run_together(post) == [201] * WORKERS
    assert HealthSignal.objects.count() == WORKERS
    latest = LatestSignal.objects.select_related("signal").get()
    assert latest.signal.value == WORKERS - 1
