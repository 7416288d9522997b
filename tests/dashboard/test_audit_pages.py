"""The audit log is paged by keyset: "Newer" and "Older" links that name an event, keep
the filters, can be reloaded, and cost the same number of queries on every page; no page
counts the events, and a bad cursor is a 400."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import json
import re

import pytest
from django.utils import timezone

from models_app import views
from models_app.enums import Action
from models_app.models import AuditEvent
from tests.queries import captured_queries

PER_PAGE = 4


@pytest.fixture
def small_pages(monkeypatch):
    """Pages of four events, so that a handful of events spans several pages."""
    monkeypatch.setattr(views, "EVENTS_PER_PAGE", PER_PAGE)


@pytest.fixture
def trail(people):
    """Eleven events of one model, one a minute, two of them with the same time (the id
    breaks the tie), and five events of another action, all older than any fixture's."""
    start = timezone.now() - dt.timedelta(days=30)
    events = []
    for i in range(11):
        at = start + dt.timedelta(minutes=min(i, 9))  # events 9 and 10 share a time
        events.append(
            AuditEvent(
                created_at=at,
                action=Action.VERSION_REGISTERED,
                actor_username="author",
                model_name="trail_model",
                version_label=f"1.{i}.0",
                object_type="model_version",
                reason=f"event {i}",
            )
        )
    for i in range(5):
        events.append(
            AuditEvent(
                created_at=start + dt.timedelta(minutes=i, seconds=30),
                action=Action.VERSION_ARCHIVED,
                actor_username="release",
                model_name="trail_model",
                version_label=f"1.{i}.0",
                object_type="model_version",
                reason=f"archived {i}",
            )
        )
    AuditEvent.objects.bulk_create(events)
    return AuditEvent.objects.filter(model_name="trail_model")


def _reasons(page: str) -> list[str]:
    return re.findall(r'<td data-label="Why">([^<]*)</td>', page)


def _link(page: str, rel: str) -> str | None:
    match = re.search(rf'<a href="([^"]*)" rel="{rel}">', page)
    return html_lib.unescape(match.group(1)) if match else None


def _walk(client, url: str, rel: str) -> list[list[str]]:
    """The reasons of every page from `url` on, following the `rel` links."""
    pages = []
    while url:
        response = client.get("/audit/" + url if url.startswith("?") else url)
        assert response.status_code == 200
        page = response.content.decode()
        pages.append(_reasons(page))
        url = _link(page, rel)
    return pages


def test_older_and_newer_links_show_every_event_once_newest_first(
    people, trail, small_pages, login
):
    client = login(people.viewer)
    expected = [
        e.reason
        for e in AuditEvent.objects.filter(model_name="trail_model").order_by("-created_at", "-id")
    ]
    assert expected[:2] == ["event 10", "event 9"]  # same time: the later id first
    pages = _walk(client, "/audit/?model=trail_model", "next")
    assert [len(p) for p in pages] == [4, 4, 4, 4]
    assert [reason for page in pages for reason in page] == expected
    # And back again from the last page, by the "Newer" links.
    first = client.get("/audit/?model=trail_model").content.decode()
    url = _link(first, "next")
    last = None
    while url:
        last = url
        url = _link(client.get("/audit/" + url).content.decode(), "next")
    back = _walk(client, "/audit/" + last, "prev")
    assert [reason for page in reversed(back) for reason in page] == expected


def test_page_links_keep_the_filters_and_can_be_reloaded(people, trail, small_pages, login):
    client = login(people.viewer)
    first = client.get("/audit/?model=trail_model&action=version.registered").content.decode()
    older = _link(first, "next")
    assert "model=trail_model" in older and "action=version.registered" in older
    again = client.get("/audit/" + older).content.decode()
    assert _reasons(again) == _reasons(client.get("/audit/" + older).content.decode())
    assert _reasons(again) == ["event 6", "event 5", "event 4", "event 3"]
    newer = _link(again, "prev")
    assert "model=trail_model" in newer and "action=version.registered" in newer
    assert _reasons(client.get("/audit/" + newer).content.decode()) == _reasons(first)
    # The first page has no "Newer" link; a later one links back to the newest page.
    assert _link(first, "prev") is None
    assert "« Newest" in again and "« Newest" not in first


def test_export_links_carry_the_filters_and_never_the_page(people, trail, small_pages, login):
    client = login(people.viewer)
    first = client.get("/audit/?model=trail_model&action=version.archived").content.decode()
    older = _link(first, "next")
    page = client.get("/audit/" + older).content.decode()
    export = html_lib.unescape(re.search(r'href="(/audit/export\.json[^"]*)"', page).group(1))
    assert "older=" not in export and "model=trail_model" in export
    body = b"".join(client.get(export).streaming_content).decode()
    assert [e["reason"] for e in json.loads(body)] == [f"archived {i}" for i in range(4, -1, -1)]


@pytest.mark.parametrize(
    "query",
    [
        "older=abc",
        "newer=-1",
        "older=1.5",
        "older=%00",
        "older=１２",  # full-width digits
        "older=99999999999999999999999",
        "older=1&newer=1",
    ],
)
def test_a_bad_cursor_is_a_400(people, trail, login, query):
    response = login(people.viewer).get(f"/audit/?{query}")
    assert response.status_code == 400


def test_a_cursor_naming_no_event_is_a_400(people, trail, login):
    missing = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() + 1000
    response = login(people.viewer).get(f"/audit/?older={missing}")
    assert response.status_code == 400


def test_a_page_past_the_newest_event_says_so(people, trail, login):
    newest = AuditEvent.objects.order_by("-created_at", "-id").first()
    page = login(people.viewer).get(f"/audit/?newer={newest.pk}").content.decode()
    assert "No events on this page." in page
    assert _reasons(page) == []


def test_no_page_counts_the_events_and_every_page_costs_the_same(people, trail, small_pages, login):
    client = login(people.viewer)
    client.get("/audit/")  # warm-up
    with captured_queries() as first_queries:
        first = client.get("/audit/?model=trail_model").content.decode()
    older = _link(first, "next")
    with captured_queries() as second_queries:
        second = client.get("/audit/" + older).content.decode()
    with captured_queries() as third_queries:
        client.get("/audit/" + _link(second, "next"))
    for queries in (first_queries, second_queries, third_queries):
        assert not [q for q in queries if "COUNT(" in q.upper()], queries
    # A later page reads the cursor's event once more than the first page.
    assert len(second_queries) == len(third_queries) == len(first_queries) + 1
    # More events, older and newer, change no page's count.
    AuditEvent.objects.bulk_create(
        AuditEvent(
            created_at=timezone.now() - dt.timedelta(days=d),
            action=Action.VERSION_REGISTERED,
            model_name="trail_model",
            object_type="model_version",
            reason=f"more {d}",
        )
        for d in range(60)
    )
    with captured_queries() as again:
        client.get("/audit/" + older)
    assert len(again) == len(second_queries)
