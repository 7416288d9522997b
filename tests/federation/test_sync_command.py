"""sync_catalog's refusals and failures, without a central registry."""

from __future__ import annotations

import io
import socket

import pytest
from django.core.management import CommandError, call_command

from federation_app.models import SyncState


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
