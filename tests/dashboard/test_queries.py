"""The list and detail pages cost the same number of queries for 1 row as for 50.

Each test measures a page, adds 49 more rows of what the page lists, and measures again;
the counts must be equal (no query per row).
"""

from __future__ import annotations

import pytest

from approvals_app import services as approvals
from tests.dashboard.conftest import version_url
from tests.factories import approve, make_model, register


@pytest.fixture
def count_queries(django_assert_max_num_queries):
    # The bound is far above any count here; the tests assert the exact counts.
    def count(client, url: str) -> int:
        client.get(url)  # warm-up: nothing cached on the first request skews the count
        with django_assert_max_num_queries(1000) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        return len(ctx.captured_queries)

    return count


def test_models_list_queries_do_not_grow_with_models(count_queries, people, model, login):
    register(actor=people.author, model=model, version="1.0.0")
    client = login(people.reviewer)
    one = count_queries(client, "/")
    for i in range(49):
        extra = make_model(actor=people.author, team=people.team, name=f"model_{i:02d}")
        register(actor=people.author, model=extra, version="1.0.0")
    many = count_queries(client, "/?page=1")
    assert one == many


def test_model_page_queries_do_not_grow_with_versions(count_queries, people, model, promote, login):
    promote(model, "0.1.0")
    # One staging version: the review and guards of the staging versions shown are read
    # once for the whole page, and not at all when none is shown.
    register(actor=people.author, model=model, version="0.1.1")
    client = login(people.release)
    one = count_queries(client, "/models/fraud_detector/")
    promote(model, "0.2.0")
    for i in range(48):
        register(actor=people.author, model=model, version=f"1.{i}.0")
    many = count_queries(client, "/models/fraud_detector/")
    assert one == many


def test_version_page_queries_do_not_grow_with_versions_reviews_or_events(
    count_queries, people, model, login
):
    mv = register(actor=people.author, model=model, version="1.0.0")
    approvals.review_request(actor=people.author, version=mv)
    approve(mv, reviewer=people.reviewer)
    client = login(people.release)
    one = count_queries(client, version_url(mv))
    for i in range(49):
        register(actor=people.author, model=model, version=f"0.{i}.0")
    for i in range(5):
        approvals.card_update(
            actor=people.author, version=mv, sections={"evaluation": f"Round {i}."}
        )
        approvals.review_submit(
            actor=people.reviewer2, version=mv, decision="request_changes", comment=f"{i}"
        )
    many = count_queries(client, version_url(mv))
    assert one == many


def test_inbox_queries_do_not_grow_with_waiting_versions(count_queries, people, model, login):
    mv = register(actor=people.author, model=model, version="1.0.0")
    approvals.review_request(actor=people.author, version=mv)
    client = login(people.reviewer)
    one = count_queries(client, "/reviews/")
    for i in range(49):
        extra = register(actor=people.author, model=model, version=f"0.{i}.0")
        approvals.review_request(actor=people.author, version=extra)
    many = count_queries(client, "/reviews/")
    assert one == many
    assert "fraud_detector 0.48.0" in client.get("/reviews/").content.decode()


def test_audit_log_queries_do_not_grow_with_events(count_queries, people, model, login):
    client = login(people.viewer)
    one = count_queries(client, "/audit/")
    for i in range(49):
        register(actor=people.author, model=model, version=f"0.{i}.0")
    many = count_queries(client, "/audit/")
    assert one == many
