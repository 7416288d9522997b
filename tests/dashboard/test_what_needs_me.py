"""What needs me: the models list and the model page's versions table show, for each
staging version, where its review stands and how many of its guards pass; the models list
shows each model's production version and how long it has been there. Both cost the same
number of queries however many models and versions there are."""

from __future__ import annotations

import re

import pytest

from approvals_app import services as approvals
from models_app import selectors
from tests.factories import FULL_CARD, approve, make_model, make_promotable, register


def _states(people, model):
    """Five staging versions of `model`, one in each review state."""
    not_requested = register(actor=people.author, model=model, version="2.0.0")
    approvals.card_update(actor=people.author, version=not_requested, sections=FULL_CARD)
    awaiting = register(actor=people.author, model=model, version="2.1.0")
    approvals.card_update(actor=people.author, version=awaiting, sections=FULL_CARD)
    approvals.review_request(actor=people.author, version=awaiting)
    approved = register(actor=people.author, model=model, version="2.2.0")
    make_promotable(approved, author=people.author, reviewer=people.reviewer)
    changes = register(actor=people.author, model=model, version="2.3.0")
    make_promotable(changes, author=people.author, reviewer=people.reviewer)
    approvals.review_submit(
        actor=people.reviewer2, version=changes, decision="request_changes", comment="More."
    )
    rejected = register(actor=people.author, model=model, version="2.4.0")
    approvals.card_update(actor=people.author, version=rejected, sections=FULL_CARD)
    approvals.review_request(actor=people.author, version=rejected)
    approvals.review_submit(
        actor=people.reviewer, version=rejected, decision="reject", comment="No."
    )
    return not_requested, awaiting, approved, changes, rejected


def _list_row(html: str, name: str) -> str:
    """The models list's row of model `name`."""
    [row] = [r for r in html.split("<tr")[1:] if f'<a href="/models/{name}/">{name}</a>' in r]
    return row


def _row(html: str, label: str) -> str:
    """The versions table's row of version `label`."""
    [row] = [r for r in html.split("<tr") if f"/versions/{label}/" in r and '<th scope="row"' in r]
    return row


def test_versions_table_shows_each_staging_versions_review_state_and_guards(
    people, model, promote, login
):
    promote(model, "1.0.0")
    _states(people, model)
    html = login(people.viewer).get("/models/fraud_detector/").content.decode()
    expected = {
        "2.0.0": ("review not requested", "1 of 2 guards pass"),
        "2.1.0": ("awaiting review", "1 of 2 guards pass"),
        "2.2.0": ("approved", "2 of 2 guards pass"),
        "2.3.0": ("changes requested", "1 of 2 guards pass"),
        "2.4.0": ("rejected", "1 of 2 guards pass"),
    }
    for label, (state, guards) in expected.items():
        row = _row(html, label)
        assert f">{state}</span>" in row, (label, row)
        assert guards in row, (label, row)
    # The production version is not waiting for anything.
    assert "guards pass" not in _row(html, "1.0.0")


def test_versions_table_counts_guards_as_the_checklist_does(people, model, login):
    from models_app import services

    services.policy_update(
        actor=people.admin, model=model, thresholds=[{"metric": "accuracy", "min": 0.9}]
    )
    mv = register(actor=people.author, model=model, version="1.0.0", metrics={"accuracy": 0.5})
    checks = selectors.promotion_checks(version=mv)
    passing = sum(c.passed for c in checks)
    html = login(people.viewer).get("/models/fraud_detector/").content.decode()
    assert f"{passing} of {len(checks)} guards pass" in _row(html, "1.0.0")


def test_models_list_shows_production_age_and_waiting_versions(
    people, model, promote, login, clock
):
    promote(model, "1.0.0")
    clock.shift(12 * 86400 + 3600)
    _states(people, model)
    html = login(people.viewer).get("/").content.decode()
    row = _list_row(html, "fraud_detector")
    production = row.split('data-label="Production">')[1].split("</td>")[0]
    assert re.search(
        r'1\.0\.0</a><span class="production-age">, <time [^>]*>12\xa0days</time>', production
    ), production
    # The three newest staging versions, with their states; the rest are counted.
    waiting = row.split('<ul class="waiting">')[1].split("</ul>")[0]
    assert "2.4.0</a>" in waiting and ">rejected</span>" in waiting
    assert "2.3.0</a>" in waiting and ">changes requested</span>" in waiting
    assert "2.2.0</a>" in waiting and ">approved</span>" in waiting
    assert "2 of 2 guards pass" in waiting
    assert "2.1.0" not in waiting and "2.0.0" not in waiting
    assert "2 more in staging" in waiting


def test_models_list_without_staging_or_production_says_none(people, model, login):
    html = login(people.viewer).get("/").content.decode()
    row = _list_row(html, "fraud_detector")
    assert re.search(r'data-label="Waiting in staging">\s*<span class="muted">none</span>', row)


@pytest.fixture
def count_queries(django_assert_max_num_queries):
    def count(client, url: str) -> int:
        client.get(url)
        with django_assert_max_num_queries(1000) as ctx:
            response = client.get(url)
        assert response.status_code == 200
        return len(ctx.captured_queries)

    return count


def test_models_list_reviews_and_guards_cost_the_same_for_one_model_or_a_page(
    count_queries, people, model, promote, login
):
    promote(model, "1.0.0")
    mv = register(actor=people.author, model=model, version="1.1.0")
    approvals.review_request(actor=people.author, version=mv)
    client = login(people.viewer)
    one = count_queries(client, "/")
    for i in range(30):  # more than a page
        extra = make_model(actor=people.author, team=people.team, name=f"model_{i:02d}")
        promote(extra, "1.0.0")
        for j in range(4):
            v = register(actor=people.author, model=extra, version=f"2.{j}.0")
            approvals.card_update(actor=people.author, version=v, sections=FULL_CARD)
            approvals.review_request(actor=people.author, version=v)
            if j % 2:
                approve(v, reviewer=people.reviewer)
    many = count_queries(client, "/")
    assert one == many
    html = client.get("/").content.decode()
    assert html.count("guards pass") == 1 + 24 * 3  # three shown per model on the page


def test_versions_table_reviews_and_guards_cost_the_same_for_one_version_or_a_page(
    count_queries, people, model, promote, login
):
    promote(model, "1.0.0")
    register(actor=people.author, model=model, version="1.1.0")
    client = login(people.viewer)
    one = count_queries(client, "/models/fraud_detector/")
    for i in range(40):  # more than a page of versions
        v = register(actor=people.author, model=model, version=f"2.{i}.0")
        approvals.review_request(actor=people.author, version=v)
        if i % 3 == 0:
            approve(v, reviewer=people.reviewer)
    many = count_queries(client, "/models/fraud_detector/")
    assert one == many


def test_readiness_of_many_versions_is_five_queries_and_agrees_with_each_dry_run(
    people, model, promote, django_assert_num_queries
):
    from models_app import services

    services.policy_update(
        actor=people.admin,
        model=model,
        thresholds=[{"metric": "accuracy", "min": 0.9}],
        key_metrics=[{"metric": "accuracy", "direction": "higher", "tolerance": 0.0}],
    )
    promote(model, "1.0.0", {"accuracy": 0.92})
    versions = list(_states(people, model))
    for i in range(3):
        other = make_model(actor=people.author, team=people.team, name=f"other_{i}")
        versions.append(register(actor=people.author, model=other, version="1.0.0"))
        versions.append(
            register(actor=people.author, model=other, version="1.1.0", metrics={"accuracy": 0.5})
        )
    # The policies (own and the site's), the production versions, the cards with their
    # current revisions, the cards' authors, the reviews of those revisions.
    with django_assert_num_queries(5):
        readiness = selectors.promotion_readiness(versions=versions)
    for mv in versions:
        assert readiness[mv.pk].results == selectors.promotion_checks(version=mv)
    states = [readiness[v.pk].review_state for v in versions[:5]]
    assert states == ["not_requested", "awaiting", "approved", "changes_requested", "rejected"]
