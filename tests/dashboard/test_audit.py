"""The site-wide audit log: filters, and exports that honour the same filters."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.utils import timezone

from models_app.audit import record_event


def _body(response) -> str:
    return b"".join(response.streaming_content).decode()


def test_audit_log_filters_by_model_user_and_action(people, scene, login):
    client = login(people.viewer)
    html = client.get("/audit/?user=release&action=version.promoted").content.decode()
    assert html.count('<td data-label="Who">release</td>') == 2  # 1.0.0 and 1.1.0
    assert "Version registered" not in html.split("</thead>")[1]
    assert "ship it" in html
    none = client.get("/audit/?model=other_model").content.decode()
    assert "No events match these filters." in none


def test_audit_log_names_known_actions_and_shows_others_as_stored(people, scene, login):
    record_event(action="model.inspected", actor=people.admin, obj=scene.model)
    html = login(people.viewer).get("/audit/").content.decode()
    assert "Version promoted" in html and "version.promoted" not in html.split("</thead>")[1]
    assert "model.inspected" in html


def test_audit_log_filters_by_date_range(people, scene, login):
    client = login(people.viewer)
    today = timezone.now().date()
    tomorrow = today + dt.timedelta(days=1)
    assert "Version promoted" in client.get(f"/audit/?since={today}&until={today}").content.decode()
    later = client.get(f"/audit/?since={tomorrow}").content.decode()
    assert "No events match these filters." in later


def test_audit_log_invalid_filter_is_explained(people, scene, login):
    client = login(people.viewer)
    html = client.get("/audit/?since=yesterday").content.decode()
    assert "Enter a date as YYYY-MM-DD (for example 2026-12-07)." in html
    backwards = client.get("/audit/?since=2026-02-02&until=2026-01-01").content.decode()
    assert "The end date is before the start date." in backwards
    export = client.get("/audit/export.csv?since=yesterday")
    assert export.status_code == 400


def test_audit_export_csv_honours_filters(people, scene, login):
    response = login(people.viewer).get(
        "/audit/export.csv?model=fraud_detector&action=version.promoted"
    )
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    assert [r["version_label"] for r in rows] == ["1.1.0", "1.0.0"]
    assert {r["actor_username"] for r in rows} == {"release"}
    assert {r["reason"] for r in rows} == {"ship it"}
    assert rows[0]["from_stage"] == "staging" and rows[0]["to_stage"] == "production"


def test_audit_export_json_honours_filters(people, scene, login):
    response = login(people.viewer).get("/audit/export.json?user=author&action=card.edited")
    assert response["Content-Type"] == "application/json"
    events = json.loads(_body(response))
    assert len(events) == 3  # the cards of 1.0.0, 1.1.0 and 1.2.0
    assert {e["action"] for e in events} == {"card.edited"}
    assert all(e["changes"] for e in events)


def test_audit_export_everything_matches_the_table(people, scene, login):
    from models_app.models import AuditEvent

    events = json.loads(_body(login(people.viewer).get("/audit/export.json")))
    assert len(events) == AuditEvent.objects.count()


def test_audit_export_csv_defuses_spreadsheet_formulas(people, scene, login):
    from models_app import services

    services.model_version_archive(
        actor=people.release, version=scene.candidate, reason='=HYPERLINK("http://x","y")'
    )
    response = login(people.viewer).get("/audit/export.csv?action=version.archived")
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    reasons = {r["reason"] for r in rows}
    assert '\'=HYPERLINK("http://x","y")' in reasons
    assert not any(r.startswith("=") for r in reasons)


def test_a_multiline_card_edit_reason_stays_inside_its_own_record(people, scene, login):
    """Card-edit reasons may span lines, as transition reasons may; no view of the trail
    lets a line break pass for another event."""
    from approvals_app import services as approvals

    forged = "Typo fixed.\r\n2026-01-01 00:00:00,release,version.promoted,fraud_detector"
    approvals.card_update(
        actor=people.author,
        version=scene.candidate,
        sections={"evaluation": "Fixed."},
        reason=forged,
    )
    client = login(people.viewer)
    rows = list(
        csv.DictReader(io.StringIO(_body(client.get("/audit/export.csv?action=card.edited"))))
    )
    assert [r["reason"] for r in rows].count(forged) == 1
    assert all(r["action"] == "card.edited" for r in rows)
    events = json.loads(_body(client.get("/audit/export.json?action=card.edited")))
    assert len(events) == len(rows)
    html = client.get("/audit/?action=card.edited").content.decode()
    assert '<td data-label="Why">Typo fixed.\r\n2026-01-01 00:00:00,release,' in html


@pytest.mark.parametrize("bad", ["12/07/2026", "2026-13-01", "2026-02-30", "07.12.2026", "%00"])
def test_audit_date_filters_take_iso_dates_only_and_say_so(people, scene, login, bad):
    """A date the locale might read (12/07/2026) is refused like any other non-ISO date,
    with the format in the error; the page answers, the export is a 400."""
    client = login(people.viewer)
    response = client.get("/audit/", {"since": bad, "until": bad})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("Enter a date as YYYY-MM-DD") == 2
    assert "YYYY-MM-DD; the day is in UTC." in html  # the fields' help
    assert client.get("/audit/export.csv", {"since": bad}).status_code == 400
