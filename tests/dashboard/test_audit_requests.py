"""The audit log by request: each event shows its request id and the log filters by it;
the events one request wrote read as one entry, its parts in the order they were written,
and stay on one page where they can; a policy change reads as a diff."""

from __future__ import annotations

import csv
import datetime as dt
import html as html_lib
import io
import re

from django.utils import timezone

from models_app import services, views
from models_app.enums import Action
from models_app.models import AuditEvent

ROLLBACK_ID = "rollback-req-0001"


def rollback_by_dashboard(client) -> None:
    response = client.post(
        "/models/fraud_detector/rollback/",
        {"to_version": "1.0.0", "reason": "Alert storm", "confirm": "on"},
        HTTP_X_REQUEST_ID=ROLLBACK_ID,
    )
    assert response.status_code == 302


def entries(page: str) -> list[tuple[str, list[str]]]:
    """(request id, the actions in words of its rows) of each entry of an audit page."""
    found = []
    for request_id, body in re.findall(
        r'<tbody class="audit-entry[^"]*" data-request-id="([^"]*)">(.*?)</tbody>', page, re.S
    ):
        actions = re.findall(r'<td data-label="What"><div>([^<:]*)', body)
        found.append((request_id, [a.strip() for a in actions]))
    return found


def reasons(page: str) -> list[str]:
    return re.findall(r'<td data-label="Why">([^<]*)</td>', page)


def link(page: str, rel: str) -> str | None:
    match = re.search(rf'<a href="([^"]*)" rel="{rel}">', page)
    return html_lib.unescape(match.group(1)) if match else None


def test_a_rollback_reads_as_one_entry_with_its_parts_in_order(people, scene, login):
    client = login(people.release)
    rollback_by_dashboard(client)
    page = client.get("/audit/").content.decode()
    newest = entries(page)[0]
    assert newest == (ROLLBACK_ID, ["Version rolled back", "Version restored by rollback"])
    assert "One request by release, 2 changes:" in page
    # Each event names its request and links the log filtered by it.
    assert page.count(f'href="/audit/?request_id={ROLLBACK_ID}"') == 2


def test_the_log_filters_by_request_id_and_its_links_and_exports_keep_it(
    people, scene, login, monkeypatch
):
    client = login(people.release)
    rollback_by_dashboard(client)
    page = client.get(f"/audit/?request_id={ROLLBACK_ID}").content.decode()
    assert reasons(page) == ["Alert storm", "Alert storm"]
    assert f'name="request_id" value="{ROLLBACK_ID}"' in page  # the form keeps it
    exported = client.get(f"/audit/export.csv?request_id={ROLLBACK_ID}")
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert [r["action"] for r in rows] == ["version.restored", "version.rolled_back"]
    assert {r["request_id"] for r in rows} == {ROLLBACK_ID}
    assert f"export.json?request_id={ROLLBACK_ID}" in page
    # Pages of one event: the "older" and "newer" links keep the filter.
    monkeypatch.setattr(views, "EVENTS_PER_PAGE", 1)
    monkeypatch.setattr(views, "GROUP_EXTRA", 0)
    first = client.get(f"/audit/?request_id={ROLLBACK_ID}").content.decode()
    older = link(first, "next")
    assert f"request_id={ROLLBACK_ID}" in older
    second = client.get("/audit/" + older).content.decode()
    assert f"request_id={ROLLBACK_ID}" in link(second, "prev")
    assert len(reasons(first)) == len(reasons(second)) == 1


def make_trail(groups: list[tuple[str, int]]) -> list[str]:
    """Events of the given requests (oldest first), one second apart; returns their
    reasons newest first."""
    start = timezone.now() - dt.timedelta(days=10)
    events, i = [], 0
    for request_id, size in groups:
        for part in range(size):
            events.append(
                AuditEvent(
                    created_at=start + dt.timedelta(seconds=i),
                    action=Action.VERSION_REGISTERED,
                    actor_username="author",
                    request_id=request_id,
                    model_name="trail_model",
                    object_type="model_version",
                    reason=f"{request_id or 'none'} part {part}",
                )
            )
            i += 1
    AuditEvent.objects.bulk_create(events)
    return [e.reason for e in reversed(events)]


def walk(client, url: str, rel: str) -> list[str]:
    pages = []
    while url:
        page = client.get(url if url.startswith("/") else "/audit/" + url).content.decode()
        pages.append(page)
        url = link(page, rel)
    return pages


def test_pages_keep_a_request_whole_and_say_when_one_is_split(people, login, monkeypatch):
    monkeypatch.setattr(views, "EVENTS_PER_PAGE", 4)
    monkeypatch.setattr(views, "GROUP_EXTRA", 3)
    # Oldest first: "big" wrote 9 events, too many for one page even with the extra rows.
    expected = make_trail(
        [("old-1", 1), ("big", 9), ("", 1), ("", 1), ("pair", 3), ("new-1", 1), ("new-2", 1)]
    )
    client = login(people.viewer)
    pages = walk(client, "/audit/?model=trail_model", "next")
    shown = [r for page in pages for r in reasons(page)]
    # Every event once; newest first by entry, the parts of one entry oldest first.
    assert sorted(shown) == sorted(expected)
    first = entries(pages[0])
    # The page of four ends inside "pair": it reads on to finish it.
    assert [request_id for request_id, _ in first] == ["new-2", "new-1", "pair"]
    assert reasons(pages[0])[2:5] == ["pair part 0", "pair part 1", "pair part 2"]
    assert "continues on the older page" not in pages[0]
    # "big" does not fit: split over two pages, and both say so.
    assert "continues on the older page" in pages[1]
    assert "continued from the newer page" in pages[2]
    # Back up by the "newer" links: the same events, each once.
    back = walk(client, "/audit/" + link(pages[-2], "next"), "prev")
    assert sorted(r for page in back for r in reasons(page)) == sorted(expected)


def test_events_of_one_transaction_keep_their_order_in_every_list(
    people, scene, login, time_machine
):
    """A review and the promotion it allowed, written at the same instant: every list
    shows them in the order they were written (newest first: the promotion above)."""
    from tests.factories import make_promotable

    time_machine.move_to(timezone.now(), tick=False)  # one instant for every event
    make_promotable(scene.candidate, author=people.author, reviewer=people.reviewer2)
    services.model_version_promote(actor=people.release, version=scene.candidate, reason="go")
    newest = list(AuditEvent.objects.order_by("-id").values_list("action", flat=True)[:3])
    assert newest == [Action.VERSION_PROMOTED, Action.VERSION_ARCHIVED, Action.REVIEW_SUBMITTED]
    client = login(people.viewer)
    labels = ["Version promoted", "Version archived", "Review submitted"]

    def order_in(page: str) -> list[int]:
        return [page.index(label) for label in labels]

    model_page = client.get("/models/fraud_detector/").content.decode()
    assert order_in(model_page) == sorted(order_in(model_page))
    version_page = client.get(
        f"/models/fraud_detector/versions/{scene.candidate.version}/"
    ).content.decode()
    version_labels = ["Version promoted", "Review submitted"]
    assert version_page.index(version_labels[0]) < version_page.index(version_labels[1])
    listed = client.get("/api/v1/audit/?model=fraud_detector")
    actions = [e["action"] for e in listed.json()["results"]][:3]
    assert actions == newest
    history = client.get("/api/v1/models/fraud_detector/history/").json()["results"]
    assert [e["action"] for e in history][:3] == newest
    audit_page = client.get("/audit/?model=fraud_detector").content.decode()
    assert order_in(audit_page) == sorted(order_in(audit_page))


def test_a_policy_change_reads_as_a_diff(people, model, login):
    services.policy_update(
        actor=people.admin,
        model=model,
        thresholds=[{"metric": "accuracy", "min": 0.9}],
        required_card_sections=["intended_use"],
        required_approvals=1,
        reason="First policy",
    )
    services.policy_update(
        actor=people.admin,
        model=model,
        thresholds=[{"metric": "accuracy", "min": 0.95}, {"metric": "latency_ms", "max": 50}],
        key_metrics=[{"metric": "f1", "direction": "higher", "tolerance": 0.01}],
        required_card_sections=["evaluation"],
        required_approvals=2,
        reason="Stricter",
    )
    client = login(people.viewer)
    for url in ("/audit/?action=policy.changed", "/models/fraud_detector/"):
        page = html_lib.unescape(client.get(url).content.decode())
        assert "Thresholds</span>: added latency_ms: at most 50; accuracy: at least 0.9 → " in page
        assert "at least 0.95" in page
        assert "Key metrics</span>: added f1: higher is better, tolerance 0.01" in page
        assert "Required card sections</span>: added Evaluation; removed Intended use" in page
        assert "Required approvals</span>: 1 → 2" in page
        assert '[{"metric"' not in page  # no JSON
