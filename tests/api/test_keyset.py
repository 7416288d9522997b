"""Keyset (cursor) pagination of every REST list: every row once and in order, stable when
rows are added between pages, no count, clear 400s for bad cursors, and a number of
queries per page that does not grow with the rows."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from django.utils import timezone

from approvals_app import services as approvals
from federation_app import services as federation
from federation_app.models import SyncState
from federation_app.sync import pending_items
from models_app import services
from models_app.models import AuditEvent
from tests.api.conftest import error_of
from tests.factories import FULL_CARD, register

VERSIONS = "/api/v1/models/fraud_detector/versions/"


def walk(client, url: str) -> tuple[list[dict], list[dict]]:
    """Every page of a list from `url`, following `next`: (rows, pages)."""
    rows, pages = [], []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"next", "previous", "results"}
        pages.append(body)
        rows += body["results"]
        url = body["next"]
        assert len(pages) < 100
    return rows, pages


def cursor_of(payload) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture
def queries(django_assert_max_num_queries):
    # The bound is far above any count here; the tests assert the exact counts.
    def count(client, url: str) -> int:
        with django_assert_max_num_queries(1000) as ctx:
            response = client.get(url)
        assert response.status_code == 200, response.content
        return len(ctx.captured_queries)

    return count


def test_versions_walk_returns_every_row_once_in_order(people, model, client_for):
    labels = [f"1.{i}.0" for i in range(11)]
    for label in labels:
        register(actor=people.author, model=model, version=label)
    client = client_for(people.viewer)
    rows, pages = walk(client, VERSIONS + "?page_size=3")
    assert [r["version"] for r in rows] == labels[::-1]
    assert [len(p["results"]) for p in pages] == [3, 3, 3, 2]
    assert pages[0]["previous"] is None and pages[-1]["next"] is None
    assert all(p["previous"] for p in pages[1:])


def test_previous_link_gives_back_the_page_before(people, model, client_for):
    for i in range(7):
        register(actor=people.author, model=model, version=f"1.{i}.0")
    client = client_for(people.viewer)
    _, pages = walk(client, VERSIONS + "?page_size=3")
    back = client.get(pages[2]["previous"]).json()
    assert back["results"] == pages[1]["results"]
    assert back["next"] and back["previous"]
    first = client.get(back["previous"]).json()
    assert first["results"] == pages[0]["results"]
    assert first["previous"] is None
    assert client.get(first["next"]).json()["results"] == pages[1]["results"]


def test_rows_added_between_pages_neither_repeat_nor_shift(people, model, client_for):
    for i in range(1, 9):
        register(actor=people.author, model=model, version=f"2.{i}.0")
    client = client_for(people.viewer)
    first = client.get(VERSIONS + "?page_size=3").json()
    assert [r["version"] for r in first["results"]] == ["2.8.0", "2.7.0", "2.6.0"]
    # One version sorts before the page already read, one after it.
    register(actor=people.author, model=model, version="9.0.0")
    register(actor=people.author, model=model, version="2.5.5")
    rest, _ = walk(client, first["next"])
    assert [r["version"] for r in rest] == ["2.5.5", "2.5.0", "2.4.0", "2.3.0", "2.2.0", "2.1.0"]


def test_versions_walk_by_stage(people, model, client_for, promote):
    promote(model, "1.0.0")
    promote(model, "1.1.0")
    promote(model, "1.2.0")
    register(actor=people.author, model=model, version="1.3.0")
    rows, _ = walk(client_for(people.viewer), VERSIONS + "?stage=archived&page_size=1")
    assert [r["version"] for r in rows] == ["1.1.0", "1.0.0"]


def test_audit_events_in_the_same_instant_are_each_listed_once(people, model, client_for):
    moment = timezone.now() - dt.timedelta(days=1)
    AuditEvent.objects.bulk_create(
        AuditEvent(
            created_at=moment, action="model.updated", model_name="tied", object_type="model"
        )
        for _ in range(7)
    )
    tied = list(
        AuditEvent.objects.filter(model_name="tied").order_by("-id").values_list("id", flat=True)
    )
    client = client_for(people.viewer)
    rows, _ = walk(client, "/api/v1/audit/?model=tied&page_size=2")
    assert [r["id"] for r in rows] == tied
    everything, _ = walk(client, "/api/v1/audit/?page_size=4")
    ids = [r["id"] for r in everything]
    assert sorted(ids) == sorted(AuditEvent.objects.values_list("id", flat=True))
    assert len(set(ids)) == len(ids)


def test_models_walk_and_search(people, client_for):
    from tests.factories import make_model

    for name in ("b_fraud", "a_fraud", "c_churn", "d_fraud"):
        make_model(actor=people.author, team=people.team, name=name)
    client = client_for(people.viewer)
    rows, pages = walk(client, "/api/v1/models/?search=fraud&page_size=2")
    assert [r["name"] for r in rows] == ["a_fraud", "b_fraud", "d_fraud"]
    assert "search=fraud" in pages[0]["next"]


def test_a_full_last_page_has_no_next(people, model, client_for):
    for i in range(4):
        register(actor=people.author, model=model, version=f"1.{i}.0")
    _, pages = walk(client_for(people.viewer), VERSIONS + "?page_size=2")
    assert len(pages) == 2 and pages[-1]["next"] is None


BAD_CURSORS = [
    "x",
    "!!!",
    "%00",
    cursor_of(b"\xff\xfe"),
    cursor_of(b"not json"),
    cursor_of([1, 2]),
    cursor_of({"d": "n", "v": []}),
    cursor_of({"d": "sideways", "v": ["a", 1]}),
    cursor_of({"d": "n", "v": ["a"]}),
    cursor_of({"d": "n", "v": [None, 1]}),
    cursor_of({"d": "n", "v": [{"a": 1}, 1]}),
    cursor_of({"d": "n", "v": [True, 1]}),
    cursor_of({"d": "n", "v": ["a\u0000", 1]}),
    cursor_of({"d": "n", "v": ["a", "one"]}),
    cursor_of({"d": "n", "v": ["a", 10**30]}),
    cursor_of({"d": "n", "v": ["a" * 5000, 1]}),
    "A" * 5000,
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_bad_version_cursor_is_400(people, model, client_for, cursor):
    r = client_for(people.viewer).get(f"{VERSIONS}?cursor={cursor}")
    assert r.status_code == 400, r.content
    assert error_of(r)["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/models/",
        "/api/v1/audit/",
        "/api/v1/models/fraud_detector/history/",
        "/api/v1/models/fraud_detector/versions/1.0.0/reviews/",
        "/api/v1/webhooks/",
        "/api/v1/federation/registries/",
        "/api/v1/federation/audit/",
    ],
)
@pytest.mark.parametrize(
    "cursor",
    [
        "x",
        cursor_of({"d": "n", "v": ["not a date", "x"]}),
        cursor_of({"d": "n", "v": ["2026-13-45T99:00:00", "x"]}),
        cursor_of({"d": "p", "v": [1, 2, 3, 4]}),
    ],
)
def test_bad_cursor_is_400_on_every_list(people, model, client_for, url, cursor):
    register(actor=people.author, model=model, version="1.0.0")
    r = client_for(people.admin).get(f"{url}?cursor={cursor}")
    assert r.status_code == 400, (url, r.content)
    assert error_of(r)["code"] == "invalid_cursor"


# --- Queries per page do not grow with the rows ------------------------------------------


def test_history_query_count_is_constant(queries, people, model, client_for):
    client = client_for(people.viewer)
    url = "/api/v1/models/fraud_detector/history/"
    one = queries(client, url)
    for i in range(30):
        services.registered_model_update(actor=people.author, model=model, description=f"d{i}")
    assert queries(client, url) == one
    assert queries(client, url + "?page_size=5") == one


def test_reviews_query_count_is_constant(queries, people, model, client_for):
    mv = register(actor=people.author, model=model, version="1.0.0")
    client = client_for(people.viewer)
    url = f"{VERSIONS}1.0.0/reviews/"
    approvals.card_update(actor=people.author, version=mv, sections=FULL_CARD)
    approvals.review_submit(
        actor=people.reviewer, version=mv, decision="request_changes", comment="1"
    )
    one = queries(client, url)
    for i in range(5):
        approvals.review_submit(
            actor=people.reviewer2, version=mv, decision="request_changes", comment=str(i)
        )
    assert queries(client, url) == one
    rows, _ = walk(client, url + "?page_size=2")
    assert [r["comment"] for r in rows] == ["1", "0", "1", "2", "3", "4"]


def test_webhook_lists_query_count_is_constant(queries, people, model, client_for, settings):
    from webhooks_app import services as webhooks
    from webhooks_app.worker import Worker

    settings.REGISTRY_WEBHOOK_ALLOW_PRIVATE = True
    settings.REGISTRY_WEBHOOK_ALLOWED_HOSTS = []
    client = client_for(people.admin)
    sub = webhooks.subscription_create(actor=people.admin, url="http://127.0.0.1:9/a")
    deliveries = f"/api/v1/webhooks/{sub.pk}/deliveries/"
    register(actor=people.author, model=model, version="0.0.1")
    one_sub, one_delivery = queries(client, "/api/v1/webhooks/"), queries(client, deliveries)
    for i in range(5):
        webhooks.subscription_create(actor=people.admin, url=f"http://127.0.0.1:9/{i}")
        register(actor=people.author, model=model, version=f"1.0.{i}")
    # Every delivery fails once against the closed port, and the first one twice more.
    Worker(max_attempts=1).drain()
    first = sub.deliveries.order_by("event_id").first()
    for _ in range(2):
        webhooks.delivery_redeliver(actor=people.admin, delivery=first, reason="again")
        Worker(max_attempts=1).drain()
        first.refresh_from_db()
    assert queries(client, "/api/v1/webhooks/") == one_sub
    # The attempts of a whole page come in one query, however many rows and attempts.
    assert queries(client, deliveries) == one_delivery
    assert queries(client, f"/api/v1/webhooks/deliveries/{first.pk}/") <= one_delivery
    rows, _ = walk(client, deliveries + "?page_size=2")
    event_ids = [r["event_id"] for r in rows]
    assert event_ids == sorted(event_ids, reverse=True) and len(event_ids) >= 6
    assert all(len(r["attempt_log"]) == 1 for r in rows if r["id"] != first.pk)
    assert [len(r["attempt_log"]) for r in rows if r["id"] == first.pk] == [3]
    subs, _ = walk(client, "/api/v1/webhooks/?page_size=4")
    assert len(subs) == 6


def test_federation_lists_query_count_is_constant(queries, people, model, client_for, promote):
    promote(model, "1.0.0")
    client = client_for(people.admin)

    def ingest(origin: str) -> None:
        state = SyncState.objects.create(central_url=origin, registry_id=origin)
        federation.catalog_ingest(actor=people.admin, origin=origin, items=pending_items(state))

    ingest("team-a")
    one_registry = queries(client, "/api/v1/federation/registries/")
    one_audit = queries(client, "/api/v1/federation/audit/")
    ingest("team-b")
    ingest("team-c")
    assert queries(client, "/api/v1/federation/registries/") == one_registry
    assert queries(client, "/api/v1/federation/audit/") == one_audit
    registries, _ = walk(client, "/api/v1/federation/registries/?page_size=2")
    assert [(r["name"], r["models"]) for r in registries] == [
        ("team-a", 1),
        ("team-b", 1),
        ("team-c", 1),
    ]
    audit, _ = walk(client, "/api/v1/federation/audit/?page_size=3")
    keys = [(e["origin"], e["origin_id"]) for e in audit]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
