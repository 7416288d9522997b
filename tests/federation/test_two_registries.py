"""Federation end to end: a team registry (the test database, served by live_server) pushes
to a central registry (a real server in a subprocess with its own SQLite database)."""

from __future__ import annotations

import json
from io import StringIO
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from django.core.management import call_command
from knox.models import AuthToken

from approvals_app.models import ModelCard, Review
from federation_app.models import SyncState
from federation_app.sync import SyncError, pending_items, sync_catalog
from models_app import services
from models_app.models import AuditEvent
from tests.factories import FULL_CARD, approve, current_sha256, make_promotable, register

pytestmark = pytest.mark.slow  # a central registry in a subprocess, for every test

MODEL = "team-fraud.fraud_detector"


def sync(central, registry_id: str = "team-fraud", **kwargs):
    return sync_catalog(
        central_url=central.url,
        token=central.tokens.sync_token,
        registry_id=registry_id,
        **kwargs,
    )


def sync_command(central, registry_id: str = "team-fraud", **kwargs) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(
        "sync_catalog",
        central_url=central.url,
        token=central.tokens.sync_token,
        registry_id=registry_id,
        stdout=out,
        stderr=err,
        **kwargs,
    )
    return out.getvalue(), err.getvalue()


def get(central, path: str, **params) -> dict:
    response = central.api("GET", path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def count(central, path: str, **params) -> int:
    """The rows of a list, counted by following its `next` cursors (lists carry no count)."""
    total, params = 0, {**params, "page_size": 200}
    while True:
        body = get(central, path, **params)
        total += len(body["results"])
        if not body["next"]:
            return total
        params = dict(parse_qsl(urlsplit(body["next"]).query))


def central_versions(central, name: str = MODEL) -> dict:
    data = get(central, f"/api/v1/models/{name}/versions/", page_size=200)
    return {v["version"]: (v["stage"], v["number"], v["metrics"]) for v in data["results"]}


def team_versions(model) -> dict:
    return {v.version: (v.stage, v.number, v.metrics) for v in model.versions.all()}


def central_totals(central) -> dict:
    """Counts of everything the central registry holds, to compare before and after."""
    models = get(central, "/api/v1/models/", page_size=200)["results"]
    return {
        "models": len(models),
        "versions": sum(m["versions_count"] for m in models),
        "stages": sorted(
            (m["name"], stage, n) for m in models for stage, n in m["stage_counts"].items()
        ),
        "audit": count(central, "/api/v1/audit/"),
        "mirrored_audit": count(central, "/api/v1/federation/audit/"),
        "reviews": sum(
            len(v["reviews"])
            for m in models
            if m["origin"]
            for v in get(central, f"/api/v1/federation/models/{m['name']}/")["versions"]
        ),
    }


def central_events(central, action: str, name: str = MODEL) -> list[dict]:
    return get(central, "/api/v1/audit/", model=name, action=action)["results"]


def test_first_sync_mirrors_models_versions_cards_reviews_and_audit(
    live_server, central, people, model, promote
):
    promote(model, "1.0.0", metrics={"accuracy": 0.95})
    register(actor=people.author, model=model, version="1.1.0", metrics={"accuracy": 0.96})

    out, err = sync_command(central, batch_size=4)

    team_events = AuditEvent.objects.count()
    batches = -(-(1 + team_events) // 4)
    assert f"batch {batches}/{batches} acknowledged" in err
    assert (
        f"1 model, 2 versions, 1 stage change, 2 cards, 1 review, {team_events} audit events" in out
    )
    listed = get(central, "/api/v1/models/", origin="team-fraud")
    assert [(m["name"], m["origin"]) for m in listed["results"]] == [(MODEL, "team-fraud")]
    assert listed["results"][0]["production"]["version"] == "1.0.0"
    assert count(central, "/api/v1/models/", origin="local") == 0
    assert central_versions(central) == team_versions(model)
    # The team registry's own server answers the same production version.
    token = AuthToken.objects.create(user=people.viewer)[1]
    team_production = requests.get(
        f"{live_server.url}/api/v1/models/fraud_detector/production/",
        headers={"Authorization": f"Token {token}"},
        timeout=10,
    ).json()
    central_production = get(central, f"/api/v1/models/{MODEL}/production/")
    assert central_production["version"] == team_production["version"] == "1.0.0"

    mirrored = get(central, f"/api/v1/federation/models/{MODEL}/")
    assert mirrored["origin"] == "team-fraud"
    assert mirrored["origin_name"] == "fraud_detector"
    by_version = {v["version"]: v for v in mirrored["versions"]}
    card = ModelCard.objects.get(model_version__version="1.0.0").current_revision
    assert by_version["1.0.0"]["card"]["revision"] == card.number
    assert by_version["1.0.0"]["card"]["sha256"] == card.sha256
    assert [(r["reviewer"], r["decision"]) for r in by_version["1.0.0"]["reviews"]] == [
        ("reviewer", "approve")
    ]
    # The central promotion went through the lifecycle and names the origin's event.
    promoted = central_events(central, "version.promoted")
    origin_event = AuditEvent.objects.get(action="version.promoted")
    assert [
        (e["actor"], e["payload"]["origin"], e["payload"]["origin_event_id"]) for e in promoted
    ] == [("catalog_sync", "team-fraud", origin_event.pk)]
    assert count(central, "/api/v1/federation/audit/", origin="team-fraud") == team_events
    registries = get(central, "/api/v1/federation/registries/")["results"]
    assert [(r["name"], r["models"]) for r in registries] == [("team-fraud", 1)]


def test_promotion_and_rollback_appear_centrally_after_the_next_sync(
    central, people, model, promote
):
    promote(model, "1.0.0")
    candidate = register(actor=people.author, model=model, version="1.1.0")
    sync(central)

    make_promotable(candidate, author=people.author, reviewer=people.reviewer2)
    services.model_version_promote(actor=people.release, version=candidate, reason="better f1")
    result = sync(central)
    assert result.applied["stage_changes"] == 2  # 1.0.0 archived, 1.1.0 promoted
    assert central_versions(central)["1.1.0"][0] == "production"
    assert central_versions(central)["1.0.0"][0] == "archived"

    services.registered_model_rollback(actor=people.release, model=model, reason="latency up")
    result = sync(central)
    assert result.applied["stage_changes"] == 2
    assert central_versions(central) == team_versions(model)
    assert central_versions(central)["1.0.0"][0] == "production"
    assert central_versions(central)["1.1.0"][0] == "rolled_back"

    for action in ("version.rolled_back", "version.restored"):
        origin_event = AuditEvent.objects.get(action=action)
        [event] = central_events(central, action)
        assert event["payload"]["origin"] == "team-fraud"
        assert event["payload"]["origin_event_id"] == origin_event.pk
        assert event["payload"]["origin_actor"] == "release"
        assert event["reason"] == "mirrored from team-fraud: latency up"
        [mirrored] = get(central, "/api/v1/federation/audit/", origin="team-fraud", action=action)[
            "results"
        ]
        assert (mirrored["origin_id"], mirrored["actor"], mirrored["reason"]) == (
            origin_event.pk,
            "release",
            "latency up",
        )


def test_second_sync_with_nothing_new_changes_nothing(central, people, model, promote):
    promote(model, "1.0.0")
    register(actor=people.author, model=model, version="1.1.0")
    sync(central)
    before = central_totals(central)

    out, err = sync_command(central)

    assert out.strip() == "Nothing to push: the central catalog is up to date."
    assert err == ""
    assert central_totals(central) == before
    # The central upsert itself is idempotent: the whole catalog sent again changes nothing.
    everything = pending_items(SyncState.objects.create(central_url="resend", registry_id="x"))
    response = central.api(
        "POST",
        "/api/v1/federation/push/",
        token=central.tokens.sync_token,
        json={"origin": "team-fraud", "items": everything},
    )
    assert response.status_code == 200, response.text
    applied = response.json()["applied"]
    assert applied.pop("unchanged") == len(everything)
    assert set(applied.values()) == {0}
    assert central_totals(central) == before


def test_interrupted_sync_completes_on_the_next_run_without_duplicates(
    central, people, model, promote
):
    promote(model, "1.0.0")
    register(actor=people.author, model=model, version="1.1.0")
    register(actor=people.author, model=model, version="1.2.0")
    team_event_ids = set(AuditEvent.objects.values_list("pk", flat=True))

    def stop_central_after_batch_2(number, total, applied):
        if number == 2:
            central.stop()

    with pytest.raises(SyncError, match=r"Sync stopped at batch 3/\d+"):
        sync(central, batch_size=3, progress=stop_central_after_batch_2)
    state = SyncState.objects.get(central_url=central.url, registry_id="team-fraud")
    # Batch 1 held the model and 2 events, batch 2 three more: the cursor is at event 5.
    assert state.audit_cursor == sorted(team_event_ids)[4]
    assert "did not answer" in state.last_error

    central.start()
    assert count(central, "/api/v1/federation/audit/") == 5
    out, err = sync_command(central, batch_size=3)
    assert "batch 1/" in err
    assert "Pushed" in out

    mirrored = get(central, "/api/v1/federation/audit/", page_size=200)["results"]
    assert sorted(e["origin_id"] for e in mirrored) == sorted(team_event_ids)
    assert central_versions(central) == team_versions(model)
    assert central_totals(central)["models"] == 1
    assert sync_command(central)[0].startswith("Nothing to push")


def test_central_registry_refuses_to_change_a_synced_entry(central, people, model, promote):
    promote(model, "1.0.0")
    candidate = register(actor=people.author, model=model, version="1.1.0")
    make_promotable(candidate, author=people.author, reviewer=people.reviewer)
    sync(central)
    before = central_totals(central)
    message = "fraud_detector is owned by registry team-fraud; change it there."
    base = f"/api/v1/models/{MODEL}"

    for method, path, body in (
        ("POST", f"{base}/versions/1.1.0/promote/", {"reason": "central wants it"}),
        ("POST", f"{base}/versions/1.1.0/archive/", {"reason": "central wants it"}),
        ("POST", f"{base}/rollback/", {"reason": "central wants it"}),
        ("PATCH", f"{base}/", {"description": "edited centrally"}),
        ("POST", f"{base}/versions/", {"version": "9.0.0"}),
        ("PUT", f"{base}/versions/1.1.0/card/", {"sections": {"limitations": "x"}}),
        (
            "POST",
            f"{base}/versions/1.1.0/reviews/",
            {"decision": "approve", "revision_sha256": "0" * 64},
        ),
    ):
        response = central.api(method, path, json=body)
        assert response.status_code == 409, (path, response.text)
        assert response.json()["error"]["message"] == message, path

    assert central_totals(central) == before
    # Only the catalog sync user (federation_app.push_catalog) may push.
    response = central.api(
        "POST",
        "/api/v1/federation/push/",
        token=central.tokens.reader,
        json={"origin": "team-fraud", "items": [{"kind": "audit", "id": 1, "data": {}}]},
    )
    assert response.status_code == 403
    assert "push_catalog" in response.json()["error"]["message"]


def test_two_team_registries_with_a_model_of_the_same_name_stay_distinct(
    central, people, model, promote
):
    promote(model, "1.0.0")
    sync(central, registry_id="team-fraud")
    newer = register(actor=people.author, model=model, version="2.0.0")
    sync(central, registry_id="team-risk")

    names = get(central, "/api/v1/models/", search="fraud_detector")["results"]
    assert sorted((m["name"], m["origin"], m["team_name"]) for m in names) == [
        ("team-fraud.fraud_detector", "team-fraud", "Fraud (team-fraud)"),
        ("team-risk.fraud_detector", "team-risk", "Fraud (team-risk)"),
    ]
    for origin in ("team-fraud", "team-risk"):
        listed = get(central, "/api/v1/models/", origin=origin)["results"]
        assert [m["name"] for m in listed] == [f"{origin}.fraud_detector"]

    make_promotable(newer, author=people.author, reviewer=people.reviewer)
    services.model_version_promote(actor=people.release, version=newer, reason="ship 2")
    sync(central, registry_id="team-fraud")

    assert central_versions(central, "team-fraud.fraud_detector") == team_versions(model)
    risk = central_versions(central, "team-risk.fraud_detector")
    assert {v: s for v, (s, _n, _m) in risk.items()} == {
        "1.0.0": "production",
        "2.0.0": "staging",
    }
    assert Review.objects.count() == 2


def test_periodic_mode_keeps_syncing_until_stopped(central, central_template, tmp_path):
    """`sync_catalog --every` in its own process, configured by the environment alone:
    a round, a pause, another round, until it is stopped."""
    import shutil
    import signal
    import subprocess
    import sys
    import threading

    from tests.federation.conftest import ROOT, _env
    from tests.waiting import wait_until

    team_db = tmp_path / "team.sqlite3"
    shutil.copy(central_template.db_file, team_db)  # a migrated registry of its own
    env = _env(team_db) | {
        "REGISTRY_ID": "team-cron",
        "REGISTRY_CENTRAL_URL": central.url,
        "REGISTRY_CENTRAL_TOKEN": central.tokens.sync_token,
    }
    errors = tmp_path / "sync.err"
    with errors.open("w") as err_file:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "sync_catalog", "--every", "0.2"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err_file,
            text=True,
        )
    rounds: list[str] = []  # one summary line a round, read as the process prints them

    def read_rounds() -> None:
        for line in process.stdout:
            rounds.append(line.rstrip("\n"))

    reader = threading.Thread(target=read_rounds)
    reader.start()
    try:
        wait_until(  # two rounds, the last with nothing new; or the process ended early
            lambda: (
                (len(rounds) >= 2 and rounds[-1].startswith("Nothing to push"))
                or process.poll() is not None
            ),
            timeout=30,
            message=lambda: f"{rounds} {errors.read_text()}",
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
        reader.join(timeout=10)
        process.stdout.close()
    out, err = "\n".join(rounds), errors.read_text()
    assert process.returncode == -signal.SIGTERM, (out, err)  # it ran until stopped
    assert len(rounds) >= 2, (out, err)
    assert rounds[-1] == "Nothing to push: the central catalog is up to date.", (out, err)


def _central_shell(central, code: str) -> dict:
    """Run `code` in a `manage.py shell` on the central database; it prints one JSON line."""
    from tests.federation.conftest import _manage

    return json.loads(_manage(central.db_file, "shell", "-c", code).strip().splitlines()[-1])


def _second_service_user(central, username: str = "team_fraud_sync_2") -> str:
    """A second service user on the central registry, made as an operator would (with the
    push permission), and its token."""
    from tests.federation.conftest import _manage

    return _manage(central.db_file, "federation_service_user", "--username", username).strip()


def _push(central, token: str, items: list) -> requests.Response:
    return central.api(
        "POST",
        "/api/v1/federation/push/",
        token=token,
        json={"origin": "team-fraud", "items": items},
    )


def _admin_session(central) -> requests.Session:
    """A browser session of the central admin, signed in through the admin's login page."""
    session = requests.Session()
    login = f"{central.url}/admin/login/"
    session.get(login, timeout=10)
    response = session.post(
        login,
        data={
            "username": "central_admin",
            "password": "pw",
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
            "next": "/admin/",
        },
        headers={"Referer": login},
        timeout=10,
    )
    assert response.status_code == 200 and "sessionid" in session.cookies, response.text[-500:]
    return session


def test_an_origin_is_bound_to_the_service_user_that_first_pushed_it(
    central, people, model, promote
):
    promote(model, "1.0.0")
    sync(central)  # the first push binds team-fraud to catalog_sync
    other_token = _second_service_user(central)
    register(actor=people.author, model=model, version="1.1.0", metrics={"accuracy": 0.5})
    items = pending_items(SyncState.objects.get(registry_id="team-fraud"))
    before = central_totals(central)
    [registry] = get(central, "/api/v1/federation/registries/")["results"]

    refused = _push(central, other_token, items)

    assert refused.status_code == 403, refused.text
    message = refused.json()["error"]["message"]
    assert "team-fraud" in message and "bound to another account" in message
    assert "catalog_sync" not in refused.text
    assert central_totals(central) == before
    assert "1.1.0" not in central_versions(central)
    [after] = get(central, "/api/v1/federation/registries/")["results"]
    # The refused push changed nothing of the origin's status (only the clock moved on).
    assert {**after, "seconds_since_last_push": 0} == {**registry, "seconds_since_last_push": 0}

    # The team registry's credentials change: an admin re-binds the origin in the admin.
    ids = _central_shell(
        central,
        "import json; from django.contrib.auth.models import User;"
        "from federation_app.models import OriginRegistry;"
        "print(json.dumps({'origin': OriginRegistry.objects.get(name='team-fraud').pk,"
        "'user': User.objects.get(username='team_fraud_sync_2').pk}))",
    )
    session = _admin_session(central)
    page = f"{central.url}/admin/federation_app/originregistry/{ids['origin']}/change/"
    assert session.get(page, timeout=10).status_code == 200
    form = {"csrfmiddlewaretoken": session.cookies["csrftoken"], "bound_user": ids["user"]}
    without_reason = session.post(page, data=form, headers={"Referer": page}, timeout=10)
    assert without_reason.status_code == 200 and "errorlist" in without_reason.text
    assert not get(central, "/api/v1/audit/", action="origin.rebound")["results"]
    saved = session.post(
        page,
        data={**form, "reason": "team-fraud's token was rotated to a new service user"},
        headers={"Referer": page},
        allow_redirects=False,
        timeout=10,
    )
    assert saved.status_code == 302, saved.text[-2000:]

    [event] = get(central, "/api/v1/audit/", action="origin.rebound")["results"]
    assert event["actor"] == "central_admin"
    assert event["reason"] == "team-fraud's token was rotated to a new service user"
    assert event["changes"] == {"bound_user": ["catalog_sync", "team_fraud_sync_2"]}
    assert event["payload"] == {
        "origin": "team-fraud",
        "old_user": "catalog_sync",
        "new_user": "team_fraud_sync_2",
    }
    # Now the new account may push and the old one may not.
    old = _push(central, central.tokens.sync_token, items)
    assert old.status_code == 403 and "bound to another account" in old.text
    assert "1.1.0" not in central_versions(central)
    accepted = _push(central, other_token, items)
    assert accepted.status_code == 200, accepted.text
    assert central_versions(central) == team_versions(model)


def test_a_mirrored_production_version_shows_its_origins_card_reviews_and_checks(
    central, people, model
):
    """Promoted at the team with a card and two approvals: after a sync, the central's own
    card, reviews and checks endpoints and its version page tell that, as the team's."""
    mv = register(actor=people.author, model=model, version="1.0.0", metrics={"accuracy": 0.95})
    make_promotable(mv, author=people.author, reviewer=people.reviewer)
    approve(mv, reviewer=people.reviewer2, comment="Looks right to me.")
    services.model_version_promote(actor=people.release, version=mv, reason="quarterly release")
    promotion = AuditEvent.objects.get(model_version=mv, action="version.promoted")
    sync(central)
    path = f"/api/v1/models/{MODEL}/versions/1.0.0"
    reader = central.tokens.reader

    card = central.api("GET", f"{path}/card/", token=reader)
    assert card.status_code == 200, card.text
    card = card.json()
    assert card["sections"] == FULL_CARD
    assert card["sha256"] == current_sha256(mv)
    assert card["source"]["origin"] == "team-fraud"

    reviews = central.api("GET", f"{path}/reviews/", token=reader).json()["results"]
    assert [(r["reviewer"], r["decision"], r["source"]["origin"]) for r in reviews] == [
        ("reviewer", "approve", "team-fraud"),
        ("reviewer2", "approve", "team-fraud"),
    ]
    assert reviews[1]["comment"] == "Looks right to me."

    checks = central.api("GET", f"{path}/checks/", token=reader).json()
    assert checks["stage"] == "production"
    assert checks["checks"] == promotion.payload["checks"]
    assert all(check["passed"] for check in checks["checks"])
    assert checks["source"]["origin"] == "team-fraud"
    assert checks["source"]["event_id"] == promotion.pk
    assert checks["source"]["recorded_by"] == "release"

    # Writes stay refused, owner first.
    refused = central.api("PUT", f"{path}/card/", json={"sections": FULL_CARD})
    assert refused.status_code == 409
    assert "owned by registry team-fraud" in refused.json()["error"]["message"]

    page = _admin_session(central).get(f"{central.url}/models/{MODEL}/versions/1.0.0/", timeout=10)
    assert page.status_code == 200
    assert page.text.count("from team-fraud") >= 3
    assert "Intended use text." in page.text
    assert "Looks right to me." in page.text
    assert "quarterly release" in page.text
    assert 'id="review-form"' not in page.text
