"""sync_catalog's refusals and failures, without a central registry."""

from __future__ import annotations

import io
import json
import socket

import pytest
from django.core.management import CommandError, call_command

from federation_app.models import SyncState
from models_app.models import AuditEvent
from tests.factories import register


def test_sync_without_a_central_registry_configured_says_how(db, settings):
    settings.REGISTRY_CENTRAL_URL = ""
    settings.REGISTRY_CENTRAL_TOKEN = ""
    with pytest.raises(CommandError, match="REGISTRY_CENTRAL_URL and REGISTRY_CENTRAL_TOKEN"):
        call_command("sync_catalog")


@pytest.mark.parametrize("registry_id", ["local", "Team Fraud"])
def test_sync_refuses_a_registry_id_that_is_not_a_name(db, registry_id):
    with pytest.raises(CommandError, match="REGISTRY_ID"):
        call_command(
            "sync_catalog", central_url="http://127.0.0.1:9", token="t", registry_id=registry_id
        )


def test_sync_with_the_central_registry_down_fails_clearly_and_keeps_the_cursor(model, settings):
    settings.REGISTRY_ID = "team-fraud"  # the team registry's own id, from the environment
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(CommandError, match=r"Sync stopped at batch 1/1: .*did not answer"):
        call_command("sync_catalog", central_url=url, token="t")
    state = SyncState.objects.get(central_url=url, registry_id="team-fraud")
    assert state.audit_cursor == 0
    assert state.fingerprints.count() == 0
    assert state.last_success_at is None


def test_every_needs_a_positive_number_of_seconds(db):
    with pytest.raises(CommandError, match="--every"):
        call_command("sync_catalog", every=0)


def test_batches_respect_both_the_item_count_and_the_byte_budget():
    from federation_app import sync

    items = [{"kind": "audit", "id": i, "data": {"reason": "x" * 30}} for i in range(5)]
    two = len(sync.push_body("team-fraud", items[:2]))  # the exact body of two items
    by_size = sync.make_batches(items, batch_size=50, max_bytes=two, registry_id="team-fraud")
    assert [[item["id"] for item in batch] for batch in by_size] == [[0, 1], [2, 3], [4]]
    assert all(len(sync.push_body("team-fraud", b)) <= two for b in by_size)
    one_short = sync.make_batches(items, batch_size=50, max_bytes=two - 1, registry_id="team-fraud")
    assert [len(batch) for batch in one_short] == [1, 1, 1, 1, 1]
    by_count = sync.make_batches(items[:3], batch_size=1)
    assert [len(batch) for batch in by_count] == [1, 1, 1]
    huge = [{"kind": "audit", "id": 9, "data": {"reason": "x" * 500}}]
    assert sync.make_batches(huge, batch_size=50, max_bytes=100) == [huge]


def test_a_leftover_worker_sync_setting_is_reported_with_what_to_run(db, monkeypatch):
    """The webhook worker no longer syncs the catalog: a deployment that still sets
    REGISTRY_SYNC_EVERY for it is warned, with the command to run instead."""
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setenv("REGISTRY_SYNC_EVERY", "300")
    call_command("check", stdout=out, stderr=err)
    report = out.getvalue() + err.getvalue()
    assert "federation_app.W001" in report
    assert "sync_catalog --every SECONDS" in report

    monkeypatch.delenv("REGISTRY_SYNC_EVERY")
    out, err = io.StringIO(), io.StringIO()
    call_command("check", stdout=out, stderr=err)
    assert "federation_app.W001" not in out.getvalue() + err.getvalue()


def test_a_model_of_ten_thousand_versions_is_split_into_bounded_parts():
    from federation_app import sync

    promoted = {3, 5000, 9999}  # in production once or now: all in the first part
    versions = [
        {
            "number": n,
            "version": f"1.{n}.0",
            "promoted_at": "2026-01-01T00:00:00+00:00" if n in promoted else None,
            "card": {"sections": {"evaluation": "x" * (n % 500)}},
        }
        for n in range(1, 10_001)
    ]
    data = {"name": "big", "description": "", "versions": versions}
    parts = sync.model_items(7, data, part_bytes=100_000, seq=1)

    assert len(parts) > 10_000 // sync.PART_VERSIONS
    assert {(p["kind"], p["id"], p["parts"]) for p in parts} == {("model", 7, len(parts))}
    assert [p["part"] for p in parts] == list(range(1, len(parts) + 1))
    assert {p["fingerprint"] for p in parts} == {sync.fingerprint(data)}
    assert promoted <= {v["number"] for v in parts[0]["data"]["versions"]}
    for part in parts:
        assert part["data"]["name"] == "big"
        assert len(part["data"]["versions"]) <= sync.PART_VERSIONS
        assert len(json.dumps(part["data"]["versions"])) <= 100_000
    sent = sorted(v["number"] for p in parts for v in p["data"]["versions"])
    assert sent == list(range(1, 10_001))
    # A model without versions is one part.
    assert [
        p["parts"] for p in sync.model_items(8, {"name": "e", "versions": []}, part_bytes=1, seq=1)
    ] == [1]


def test_status_without_a_sync_yet_counts_every_model_and_event_as_lag(model, settings):
    settings.REGISTRY_CENTRAL_URL = "https://central.example/"
    settings.REGISTRY_ID = "team-fraud"
    out = io.StringIO()
    call_command("sync_catalog", status=True, json=True, stdout=out)

    [report] = json.loads(out.getvalue())["registries"]
    assert report["central_url"] == "https://central.example"
    assert report["registry_id"] == "team-fraud"
    assert report["audit_cursor"] == 0
    assert report["lag_models"] == 1
    assert report["lag_events"] == AuditEvent.objects.count() > 0
    assert report["lag_items"] == 1 + AuditEvent.objects.count()
    assert report["lag_seconds"] >= 0
    assert report["last_attempt_at"] is None and report["last_success_at"] is None
    assert (report["set_aside"], report["stale"], report["last_error"]) == ([], 0, "")
    assert not SyncState.objects.exists()  # a status changes nothing


def test_status_reports_each_central_with_its_lag_set_aside_and_stale_items(
    model, people, settings, clock
):
    from federation_app.models import SyncFingerprint

    settings.REGISTRY_CENTRAL_URL = ""
    newest = AuditEvent.objects.order_by("pk").last()
    caught_up = SyncState.objects.create(
        central_url="https://a.example",
        registry_id="team-fraud",
        audit_cursor=newest.pk,
        last_summary={"stale": 2},
        set_aside=[
            {
                "kind": "model",
                "id": 99,
                "part": 2,
                "parts": 3,
                "bytes": 5000,
                "limit": 4000,
                "since": "2026-12-01T00:00:00+00:00",
            }
        ],
    )
    SyncFingerprint.objects.create(state=caught_up, model_id=model.pk, fingerprint="0" * 64)
    SyncState.objects.create(
        central_url="https://b.example",
        registry_id="team-fraud",
        audit_cursor=newest.pk,
        last_error="batch 1/1 refused with 403: no",
    )
    clock.shift(120)
    register(actor=people.author, model=model, version="2.0.0")  # one new change

    out = io.StringIO()
    call_command("sync_catalog", status=True, json=True, stdout=out)
    a, b = json.loads(out.getvalue())["registries"]
    assert (a["central_url"], b["central_url"]) == ("https://a.example", "https://b.example")
    new_events = AuditEvent.objects.filter(pk__gt=newest.pk).count()
    assert (a["lag_models"], a["lag_events"]) == (1, new_events)  # the model changed since
    assert a["lag_seconds"] < 60
    assert (b["lag_models"], b["lag_events"]) == (1, new_events)  # never acknowledged
    assert b["lag_seconds"] >= 120  # the model itself waits since before the shift
    assert (a["stale"], b["stale"]) == (2, 0)
    assert len(a["set_aside"]) == 1 and b["set_aside"] == []
    assert b["last_error"] == "batch 1/1 refused with 403: no"

    out = io.StringIO()
    call_command("sync_catalog", status=True, stdout=out)
    text = out.getvalue()
    assert "https://a.example (as team-fraud)" in text
    assert f"last acknowledged sequence: {newest.pk}" in text
    assert "set aside as too large: 1" in text
    assert "model 99 (part 2 of 3), 5000 bytes over the central registry's limit of 4000" in text
    assert "refused as stale in the last sync: 2" in text
    assert "last error: batch 1/1 refused with 403: no" in text


def test_an_item_split_again_keeps_the_versions_once_in_production_together():
    from federation_app import sync

    def version(n, promoted=False):
        return {
            "id": n,
            "number": n,
            "promoted_at": "2026-01-01T00:00:00+00:00" if promoted else None,
        }

    def item(*versions):
        return {
            "kind": "model",
            "id": 1,
            "part": 1,
            "parts": 2,
            "fingerprint": "f",
            "data": {"name": "m", "versions": list(versions)},
        }

    first, second = sync.split_item(
        item(version(1, True), version(2), version(3), version(4, True))
    )
    assert [v["number"] for v in first["data"]["versions"]] == [1, 2, 4]
    assert [v["number"] for v in second["data"]["versions"]] == [3]
    assert (first["part"], first["parts"], second["part"]) == (1, 2, 1)
    assert [len(p["data"]["versions"]) for p in sync.split_item(item(version(5), version(6)))] == [
        1,
        1,
    ]
    assert sync.split_item(item(version(7))) is None
    assert sync.split_item(item(version(8, True), version(9, True))) is None
    assert sync.split_item({"kind": "audit", "id": 3, "data": {}}) is None
