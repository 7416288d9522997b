"""The admin's lists of large tables: a count that stops at a cap and says "N+", filters
whose choices come from the code, searches that the indexes answer, and a number of
queries that does not grow with the rows."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import reverse

from approvals_app import services as approvals
from approvals_app.models import CardRevision, ModelCard, Review
from federation_app.models import MirroredAuditEvent, OriginRegistry
from models_app import services
from models_app.enums import Action, Stage
from models_app.models import AuditEvent, ModelVersion
from models_app.paging import CappedPaginator
from tests.factories import FULL_CARD, approve, make_model, register
from tests.queries import captured_queries
from webhooks_app.models import Delivery, Subscription

CAP = 3


@pytest.fixture
def su(client, people):
    client.force_login(people.admin)
    return client


@pytest.fixture
def small_cap(monkeypatch):
    """Lists count at most three rows, so that a handful of rows is past the cap."""
    monkeypatch.setattr(CappedPaginator, "cap", CAP)


@pytest.fixture
def versions(people, model):
    """fraud_detector 1.0.0 … 1.4.0 and other_model 2.0.0, each with a card edited once
    and an approving review."""
    made = []
    for i in range(5):
        mv = register(actor=people.author, model=model, version=f"1.{i}.0")
        approvals.card_update(actor=people.author, version=mv, sections=FULL_CARD)
        approve(mv, reviewer=people.reviewer)
        made.append(mv)
    other = make_model(actor=people.author, team=people.team, name="other_model")
    made.append(register(actor=people.author, model=other, version="2.0.0"))
    return made


@pytest.fixture
def deliveries(people, versions):
    """A subscription to every event and a delivery of each audit event since."""
    sub = Subscription.objects.create(
        url="https://hooks.example.org/registry", secret="s" * 32, created_by=people.admin
    )
    for i in range(5):
        register(actor=people.author, model=versions[0].registered_model, version=f"3.{i}.0")
    return Delivery.objects.filter(subscription=sub)


@pytest.fixture
def mirrored(db):
    OriginRegistry.objects.create(name="team-x")
    OriginRegistry.objects.create(name="team-y")
    for i in range(5):
        MirroredAuditEvent.objects.create(
            origin="team-x" if i < 4 else "team-y",
            origin_id=i,
            created_at="2026-01-01T00:00:00Z",
            action=Action.VERSION_REGISTERED if i % 2 else Action.VERSION_PROMOTED,
            model_name="fraud_detector",
        )


LARGE_LISTS = [
    "models_app_modelversion",
    "models_app_auditevent",
    "approvals_app_modelcard",
    "approvals_app_cardrevision",
    "approvals_app_review",
    "models_app_historicalmodelversion",
    "approvals_app_historicalmodelcard",
    "approvals_app_historicalreview",
    "webhooks_app_delivery",
    "federation_app_mirroredauditevent",
]


def changelist(name: str) -> str:
    return reverse(f"admin:{name}_changelist")


def _rows(response) -> int:
    return len(response.context["cl"].result_list)


def _full_counts(queries: list[str]) -> list[str]:
    """The COUNT queries that are not capped by a LIMIT."""
    return [q for q in queries if "COUNT(" in q.upper() and "LIMIT" not in q.upper()]


@pytest.mark.parametrize("name", LARGE_LISTS)
def test_a_list_past_the_cap_says_n_plus_and_counts_no_further(
    su, versions, deliveries, mirrored, small_cap, name
):
    with captured_queries() as queries:
        response = su.get(changelist(name))
    assert response.status_code == 200
    page = response.content.decode()
    assert _rows(response) > CAP  # the page shows its rows; only the count stops
    assert re.search(rf"<span class=\"capped-count\">{CAP}\+ ", page), name
    assert f"only the first {CAP} are paged through" in page
    assert not _full_counts(queries), _full_counts(queries)
    assert not [q for q in queries if "DISTINCT" in q.upper()]
    # "Select all N" would name a number never counted, and act on every row.
    assert not re.search(r"Select all \d", page)
    assert 'class="question' not in page


@pytest.mark.parametrize("name", LARGE_LISTS)
def test_a_list_under_the_cap_shows_its_exact_count(su, versions, deliveries, mirrored, name):
    response = su.get(changelist(name))
    assert response.status_code == 200
    count = response.context["cl"].result_count
    assert count == _rows(response) > 0
    assert re.search(rf"\n{count} ", response.content.decode().split('class="paginator"')[1])
    assert "capped-count" not in response.content.decode()


def test_a_capped_search_says_n_plus_results(su, versions, small_cap):
    response = su.get(changelist("models_app_modelversion"), {"q": "fraud_detector"})
    assert f"{CAP}+ results" in response.content.decode()
    assert _rows(response) == 5


def test_pages_past_the_cap_are_not_offered(su, versions, small_cap, monkeypatch):
    from django.contrib import admin

    monkeypatch.setattr(admin.site.get_model_admin(ModelVersion), "list_per_page", 2)
    url = changelist("models_app_modelversion")
    first = su.get(url)
    # Six versions; three are counted, so two pages of two are offered.
    assert first.context["cl"].paginator.num_pages == 2
    assert _rows(first) == 2
    second = su.get(url, {"p": "2"})
    assert second.status_code == 200 and _rows(second) == 1
    third = su.get(url, {"p": "3"})
    assert third.status_code == 302 and third["Location"].endswith("?e=1")


# --- Filters: choices from the code, no DISTINCT -------------------------------------------


def test_stage_filter_of_versions_lists_every_stage_and_filters(su, people, versions, promote):
    promote(versions[0].registered_model, "9.0.0")
    url = changelist("models_app_modelversion")
    with captured_queries() as queries:
        page = su.get(url).content.decode()
    for value, label in Stage.choices:
        assert f"?stage__exact={value}" in page and label in page
    assert not [q for q in queries if "DISTINCT" in q.upper()]
    production = su.get(url, {"stage__exact": Stage.PRODUCTION})
    assert [str(v) for v in production.context["cl"].result_list] == ["fraud_detector 9.0.0"]
    assert su.get(url, {"stage__exact": "bogus"}).context["cl"].result_count == 0


def test_audit_filters_list_actions_and_stages_from_the_code(su, people, versions, promote):
    promote(versions[0].registered_model, "9.0.0")
    url = changelist("models_app_auditevent")
    with captured_queries() as queries:
        page = su.get(url).content.decode()
    assert not [q for q in queries if "DISTINCT" in q.upper()]
    assert "?to_stage__exact=rolled_back" in page  # a stage no event has reached yet
    assert f"?action__exact={Action.TOKEN_REVOKED.value}" in page
    promoted = su.get(url, {"to_stage__exact": Stage.PRODUCTION}).context["cl"].result_list
    assert [(e.action, e.version_label) for e in promoted] == [("version.promoted", "9.0.0")]
    registered = su.get(url, {"action__exact": Action.VERSION_REGISTERED})
    assert registered.context["cl"].result_count == 7
    assert su.get(url, {"to_stage__exact": "nowhere"}).context["cl"].result_count == 0
    # No date hierarchy: its links would be a DISTINCT over every event.
    assert "created_at__year" not in page


def test_delivery_and_mirrored_filters_read_no_distinct(su, deliveries, mirrored):
    for name, query, expected in (
        ("webhooks_app_delivery", {"event_type__exact": "version.registered"}, 5),
        ("webhooks_app_delivery", {"event_type__exact": "card.edited"}, 0),
        ("federation_app_mirroredauditevent", {"origin__exact": "team-y"}, 1),
        ("federation_app_mirroredauditevent", {"action__exact": "version.promoted"}, 3),
    ):
        with captured_queries() as queries:
            response = su.get(changelist(name), query)
        assert response.context["cl"].result_count == expected, (name, query)
        assert not [q for q in queries if "DISTINCT" in q.upper()]
    page = su.get(changelist("federation_app_mirroredauditevent")).content.decode()
    assert "?origin__exact=team-x" in page and "?origin__exact=team-y" in page


# --- Search through the indexes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("fraud_detector", ["1.4.0", "1.3.0", "1.2.0", "1.1.0", "1.0.0"]),
        ("FRAUD_DETECTOR", ["1.4.0", "1.3.0", "1.2.0", "1.1.0", "1.0.0"]),
        ("fraud_detector 1.2.0", ["1.2.0"]),
        ("fraud", []),  # the exact name, not a part of it
        ("1.2.0", []),
        ("fraud_detector 1.2.0 extra", []),
    ],
)
def test_version_search_takes_an_exact_model_name_and_a_version(su, versions, query, expected):
    response = su.get(changelist("models_app_modelversion"), {"q": query})
    assert response.status_code == 200
    assert [v.version for v in response.context["cl"].result_list] == expected
    assert "Search by a model&#x27;s exact name" in response.content.decode()


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("approvals_app_modelcard", lambda row: row.model_version.version),
        ("approvals_app_review", lambda row: row.model_version.version),
        ("approvals_app_cardrevision", lambda row: row.card.model_version.version),
    ],
)
def test_cards_revisions_and_reviews_are_searched_by_model_and_version(su, versions, name, label):
    url = changelist(name)
    one = su.get(url, {"q": "fraud_detector 1.3.0"}).context["cl"].result_list
    assert {label(row) for row in one} == {"1.3.0"}
    every = su.get(url, {"q": "fraud_detector"}).context["cl"].result_list
    assert {label(row) for row in every} == {f"1.{i}.0" for i in range(5)}
    assert list(su.get(url, {"q": "other_model 1.3.0"}).context["cl"].result_list) == []


def test_audit_search_matches_exact_model_names_and_usernames(su, people, versions):
    url = changelist("models_app_auditevent")
    by_model = su.get(url, {"q": "other_model"}).context["cl"].result_list
    assert {e.model_name for e in by_model} == {"other_model"}
    by_user = su.get(url, {"q": "reviewer"}).context["cl"].result_list
    assert {e.actor_username for e in by_user} == {"reviewer"}
    assert len(by_user) == 5
    assert list(su.get(url, {"q": "other"}).context["cl"].result_list) == []
    assert "Search by an exact model name or username" in su.get(url).content.decode()


def test_history_search_by_object_id_or_username(su, people, versions):
    url = changelist("models_app_historicalmodelversion")
    mv = versions[2]
    services.model_version_update(actor=people.admin, version=mv, description="edited")
    rows = su.get(url, {"q": str(mv.pk)}).context["cl"].result_list
    assert {row.id for row in rows} == {mv.pk} and len(rows) == 2
    by_admin = su.get(url, {"q": people.admin.username}).context["cl"].result_list
    assert [(row.id, row.history_username) for row in by_admin] == [(mv.pk, people.admin.username)]
    assert list(su.get(url, {"q": "nobody"}).context["cl"].result_list) == []
    assert su.get(url, {"q": "9" * 30}).status_code == 200


def test_delivery_search_by_idempotency_key(su, deliveries):
    delivery = deliveries.first()
    url = changelist("webhooks_app_delivery")
    found = su.get(url, {"q": str(delivery.idempotency_key)}).context["cl"].result_list
    assert list(found) == [delivery]
    assert list(su.get(url, {"q": str(uuid.uuid4())}).context["cl"].result_list) == []
    assert list(su.get(url, {"q": "not-a-key"}).context["cl"].result_list) == []


# --- Orderings that an index serves ------------------------------------------------------------


def test_versions_list_is_by_model_newest_first_then_precedence(su, versions):
    rows = su.get(changelist("models_app_modelversion")).context["cl"].result_list
    assert [str(v) for v in rows] == [
        "other_model 2.0.0",
        "fraud_detector 1.4.0",
        "fraud_detector 1.3.0",
        "fraud_detector 1.2.0",
        "fraud_detector 1.1.0",
        "fraud_detector 1.0.0",
    ]


def test_cards_revisions_and_reviews_list_newest_first(su, versions):
    for name, model in (
        ("approvals_app_modelcard", ModelCard),
        ("approvals_app_cardrevision", CardRevision),
        ("approvals_app_review", Review),
    ):
        rows = su.get(changelist(name)).context["cl"].result_list
        assert [r.pk for r in rows] == list(
            model.objects.order_by("-id").values_list("pk", flat=True)
        )


# --- The query count does not grow with the rows ----------------------------------------------


@pytest.mark.parametrize("name", LARGE_LISTS)
def test_large_list_query_count_does_not_grow_with_rows(su, people, model, name):
    OriginRegistry.objects.create(name="team-x")
    Subscription.objects.create(
        url="https://hooks.example.org/registry", secret="s" * 32, created_by=people.admin
    )

    def add(i: int) -> None:
        other = make_model(actor=people.author, team=people.team, name=f"m{i}")
        mv = register(actor=people.author, model=other, version=f"0.0.{i}")
        approvals.card_update(actor=people.author, version=mv, sections=FULL_CARD)
        approve(mv, reviewer=people.reviewer)
        MirroredAuditEvent.objects.create(
            origin="team-x", origin_id=i, created_at="2026-01-01T00:00:00Z", action="x"
        )

    add(1)
    url = changelist(name)
    su.get(url)  # warm caches (content types, permissions) out of the count
    with captured_queries() as one:
        assert su.get(url).status_code == 200
    for i in range(2, 31):
        add(i)
    with captured_queries() as many:
        response = su.get(url)
    assert _rows(response) >= 30
    assert len(many) == len(one), (one, many)
    assert ModelVersion.objects.count() == 30 and AuditEvent.objects.exists()
