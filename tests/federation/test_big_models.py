"""Federation with models too large for one push: a model's versions split across parts,
batches sized to the central registry's own limit, and items too large even alone set
aside without stopping what follows (a real central registry in a subprocess)."""

from __future__ import annotations

import json

import pytest

from approvals_app import services as approvals
from approvals_app.models import ModelCard
from federation_app.models import SyncState
from federation_app.sync import sync_catalog
from models_app import services
from models_app.models import AuditEvent
from tests.factories import make_model, make_promotable, register
from tests.federation.test_two_registries import (
    MODEL,
    central_versions,
    count,
    get,
    sync,
    sync_command,
    team_versions,
)

pytestmark = pytest.mark.slow  # a central registry in a subprocess, for every test

# A card of about 100 kB: every section at its longest.
BIG_CARD = {
    key: (key[0] * 19_999) + "."
    for key in ("intended_use", "training_data", "evaluation", "limitations")
} | {"ethical_considerations": "e" * 19_999 + "."}


def big_version(people, model, version: str):
    mv = register(actor=people.author, model=model, version=version)
    approvals.card_update(actor=people.author, version=mv, sections=BIG_CARD)
    return mv


def central_cards(central, name: str = MODEL) -> dict:
    mirrored = get(central, f"/api/v1/federation/models/{name}/")
    return {v["version"]: v["card"]["sha256"] for v in mirrored["versions"]}


def team_cards(model) -> dict:
    return {
        card.model_version.version: card.current_revision.sha256
        for card in ModelCard.objects.filter(model_version__registered_model=model).select_related(
            "model_version", "current_revision"
        )
    }


def state_of(central) -> SyncState:
    return SyncState.objects.get(central_url=central.url, registry_id="team-fraud")


def test_a_model_too_large_for_one_push_arrives_in_parts_with_its_stages(central, people, model):
    versions = [big_version(people, model, f"1.{i}.0") for i in range(30)]
    for mv in (versions[0], versions[20]):  # 1.0.0 in production, then 1.20.0 replaces it
        make_promotable(mv, author=people.author, reviewer=people.reviewer)
        services.model_version_promote(actor=people.release, version=mv, reason="ship it")
    later = make_model(actor=people.author, team=people.team, name="later_model")
    register(actor=people.author, model=later, version="0.1.0")

    out, err = sync_command(central)

    assert err.count("acknowledged") > 1, err  # several pushes
    assert "applied: 2 models, 31 versions" in out, out
    assert central_versions(central) == team_versions(model)
    assert central_versions(central)["1.20.0"][0] == "production"
    assert central_versions(central)["1.0.0"][0] == "archived"
    assert central_cards(central) == team_cards(model)
    assert central_versions(central, "team-fraud.later_model") == team_versions(later)
    team_events = AuditEvent.objects.count()
    assert count(central, "/api/v1/federation/audit/", origin="team-fraud") == team_events
    # Every part acknowledged: the model's fingerprint is stored, nothing is left to push.
    assert state_of(central).fingerprints.count() == 2
    assert sync_command(central)[0].startswith("Nothing to push")

    # A version of a later part goes to production (1.20.0 leaves it), then a rollback
    # brings 1.20.0 back: the walks are applied together, one production at a time.
    make_promotable(versions[25], author=people.author, reviewer=people.reviewer2)
    services.model_version_promote(actor=people.release, version=versions[25], reason="next")
    sync(central)
    assert central_versions(central)["1.25.0"][0] == "production"
    services.registered_model_rollback(actor=people.release, model=model, reason="worse")
    approvals.card_update(
        actor=people.author, version=versions[29], sections={"limitations": "Shorter now."}
    )
    sync(central)
    assert central_versions(central) == team_versions(model)
    assert central_versions(central)["1.20.0"][0] == "production"
    assert central_cards(central) == team_cards(model)
    assert count(central, "/api/v1/federation/audit/") == AuditEvent.objects.count()


def test_batches_follow_the_central_limit_it_answers_and_the_one_a_413_names(
    make_central, people, model
):
    central = make_central(REGISTRY_MAX_PUSH_BYTES="300000")
    for i in range(8):
        big_version(people, model, f"1.{i}.0")
    restarted = []

    def lower_the_limit_after_batch_1(number, total, applied):
        # The central registry's operator lowers the limit mid-sync: the batches planned
        # for 300 kB are refused with 413 naming the new limit, then split and sent again.
        if number == 1:
            central.stop()
            central.start(REGISTRY_MAX_PUSH_BYTES="150000")
            restarted.append(total)

    result = sync(central, progress=lower_the_limit_after_batch_1)

    assert restarted and result.batches_sent > restarted[0]
    assert result.set_aside == []
    state = state_of(central)
    assert state.push_limit == 150_000  # learned from the 413
    assert state.last_error == ""
    assert central_versions(central) == team_versions(model)
    assert central_cards(central) == team_cards(model)
    assert count(central, "/api/v1/federation/audit/") == AuditEvent.objects.count()
    limits = central.api("GET", "/api/v1/federation/limits/", token=central.tokens.sync_token)
    assert limits.json() == {"max_push_bytes": 150_000, "max_items": 500}
    refused = central.api("GET", "/api/v1/federation/limits/", token=central.tokens.reader)
    assert refused.status_code == 403


def test_an_item_too_large_alone_is_set_aside_and_what_follows_still_arrives(
    make_central, people, model
):
    central = make_central(REGISTRY_MAX_PUSH_BYTES="60000")
    big_version(people, model, "1.0.0")  # one version whose card alone is over the limit
    [card_event] = AuditEvent.objects.filter(action="card.edited")  # its diff too
    small = make_model(actor=people.author, team=people.team, name="small_model")
    register(actor=people.author, model=small, version="0.1.0")

    out, _err = sync_command(central)

    assert f"Set aside, too large to push: model {model.pk}," in out
    assert f"Set aside, too large to push: audit event {card_event.pk}," in out
    assert "over the central registry's limit of 60000" in out
    assert [m["name"] for m in get(central, "/api/v1/models/")["results"]] == [
        "team-fraud.small_model"
    ]
    team_events = set(AuditEvent.objects.values_list("pk", flat=True))
    mirrored = get(central, "/api/v1/federation/audit/", page_size=200)["results"]
    assert {e["origin_id"] for e in mirrored} == team_events - {card_event.pk}
    state = state_of(central)
    assert state.audit_cursor == max(team_events)  # the cursor moved past it
    assert state.gaps == []  # set aside, not a gap that expires
    assert {(e["kind"], e["id"]) for e in state.set_aside} == {
        ("model", model.pk),
        ("audit", card_event.pk),
    }
    assert list(state.fingerprints.values_list("model_id", flat=True)) == [small.pk]
    first_seen = {e["kind"]: e["since"] for e in state.set_aside}

    status, _ = _status(central)
    [report] = status["registries"]
    assert report["audit_cursor"] == max(team_events)
    assert (report["lag_models"], report["lag_events"], report["lag_items"]) == (1, 1, 2)
    assert report["lag_seconds"] >= 0
    assert report["last_error"] == "" and report["last_success_at"] is not None
    assert len(report["set_aside"]) == 2 and report["stale"] == 0

    # Tried again by the next sync, still too large: still set aside, since the first time;
    # new changes behind it arrive.
    register(actor=people.author, model=small, version="0.2.0")
    out, _err = sync_command(central)
    assert "Set aside" in out
    assert "0.2.0" in central_versions(central, "team-fraud.small_model")
    state.refresh_from_db()
    assert {e["kind"]: e["since"] for e in state.set_aside} == first_seen

    # The central registry's operator raises the limit: the next sync brings them over.
    central.stop()
    central.start(REGISTRY_MAX_PUSH_BYTES="2621440")
    out, _err = sync_command(central)
    assert "Set aside" not in out
    assert central_versions(central) == team_versions(model)
    assert central_cards(central) == team_cards(model)
    mirrored = get(central, "/api/v1/federation/audit/", page_size=200)["results"]
    assert {e["origin_id"] for e in mirrored} == set(
        AuditEvent.objects.values_list("pk", flat=True)
    )
    state.refresh_from_db()
    assert state.set_aside == []
    assert state.fingerprints.count() == 2
    [report] = _status(central)[0]["registries"]
    assert (report["lag_items"], report["lag_seconds"], report["set_aside"]) == (0, 0, [])


def _status(central) -> tuple[dict, str]:
    out, err = sync_command(central, status=True, json=True)
    return json.loads(out), err


@pytest.fixture
def proxy_in_front(request):
    """A reverse proxy in front of a central registry that refuses bodies over
    `max_body` bytes with its own 413, naming no limit (as nginx's client_max_body_size
    does)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import requests

    def start(central, max_body: int) -> str:
        class Relay(BaseHTTPRequestHandler):
            def relay(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if length > max_body:
                    status, content_type = 413, "text/html"
                    answer = b"<html><h1>413 Request Entity Too Large</h1></html>"
                else:
                    headers = {
                        key: self.headers[key]
                        for key in ("Authorization", "Content-Type", "Accept")
                        if key in self.headers
                    }
                    reply = requests.request(
                        self.command,
                        central.url + self.path,
                        data=body,
                        headers=headers,
                        timeout=60,
                    )
                    status, answer = reply.status_code, reply.content
                    content_type = reply.headers.get("Content-Type", "application/json")
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = relay

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Relay)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()

        def stop():
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)

        request.addfinalizer(stop)
        return f"http://127.0.0.1:{server.server_address[1]}"

    return start


def test_a_proxy_413_naming_no_limit_splits_batches_and_parts_until_they_pass(
    central, proxy_in_front, people, model
):
    url = proxy_in_front(central, max_body=150_000)  # lower than the central's 2.5 MB
    versions = [big_version(people, model, f"1.{i}.0") for i in range(4)]
    other = {key: text.replace(".", "!") for key, text in BIG_CARD.items()}
    approvals.card_update(actor=people.author, version=versions[0], sections=other)
    # That edit's audit event holds both cards (about 200 kB): it cannot pass the proxy.
    rewrite = AuditEvent.objects.filter(action="card.edited").order_by("pk").last()

    result = sync_catalog(
        central_url=url, token=central.tokens.sync_token, registry_id="team-fraud"
    )

    assert result.set_aside == [
        {**result.set_aside[0], "kind": "audit", "id": rewrite.pk, "limit": None}
    ]
    assert result.set_aside[0]["bytes"] > 150_000
    assert central_versions(central) == team_versions(model)
    assert central_cards(central) == team_cards(model)
    mirrored = get(central, "/api/v1/federation/audit/", page_size=200)["results"]
    assert {e["origin_id"] for e in mirrored} == set(
        AuditEvent.objects.exclude(pk=rewrite.pk).values_list("pk", flat=True)
    )
    state = SyncState.objects.get(central_url=url, registry_id="team-fraud")
    assert state.fingerprints.count() == 1  # every version of the model arrived
    assert "Set aside, too large to push: audit event" in result.summary()
