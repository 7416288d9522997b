"""List endpoints: pagination, search, filters, SemVer order, and query counts that do not
grow with the number of rows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from models_app import services
from tests.api.conftest import error_of
from tests.factories import make_model, register


@pytest.fixture
def count_queries(django_assert_max_num_queries):
    # The bound is far above any count here; the tests assert the exact counts.
    def count(client, url) -> tuple[int, object]:
        with django_assert_max_num_queries(1000) as ctx:
            response = client.get(url)
        assert response.status_code == 200, response.content
        return len(ctx.captured_queries), response

    return count


def test_models_list_is_paginated(people, client_for):
    for i in range(5):
        make_model(actor=people.author, team=people.team, name=f"m{i}")
    client = client_for(people.viewer)
    first = client.get("/api/v1/models/?page_size=2").json()
    assert "count" not in first and first["previous"] is None
    body = client.get(first["next"]).json()
    assert [m["name"] for m in body["results"]] == ["m2", "m3"]
    assert "cursor=" in body["next"] and "page_size=2" in body["next"] and body["previous"]


def test_models_list_search_filters_name_and_description(people, client_for):
    make_model(actor=people.author, team=people.team, name="fraud_a", description="cards")
    make_model(actor=people.author, team=people.team, name="churn", description="Fraud signals")
    make_model(actor=people.author, team=people.team, name="other")
    names = [
        m["name"]
        for m in client_for(people.viewer).get("/api/v1/models/?search=fraud").json()["results"]
    ]
    assert names == ["churn", "fraud_a"]


def test_models_list_filters_by_team_tag_and_stage(people, client_for, promote):
    a = make_model(actor=people.author, team=people.team, name="a", tags={"owner": "x", "k": "1"})
    make_model(actor=people.author, team=people.team, name="b", tags={"owner": "y"})
    make_model(actor=people.outsider, team=people.other_team, name="c", tags={"owner": "x"})
    promote(a, "1.0.0")
    client = client_for(people.viewer)

    def names(query):
        return [m["name"] for m in client.get(f"/api/v1/models/?{query}").json()["results"]]

    assert names("team=fraud") == ["a", "b"]
    assert names("team=pricing") == ["c"]
    assert names("tag=owner:x") == ["a", "c"]
    assert names("tag=owner:x&tag=k:1") == ["a"]
    assert names("tag=owner:x&team=pricing") == ["c"]
    assert names("stage=production") == ["a"]
    assert names("tag=a__b:x") == []  # the key is a key, never an ORM lookup
    assert names("team=nobody") == []


@pytest.mark.parametrize("key", ["a__b", "0", 'it\'s "quoted"', "ключ", "a.b[0]", "$.a"])
def test_models_list_tag_filter_takes_the_key_literally(people, client_for, key):
    # "a__b" is not key "b" inside "a", "0" is not an array index, "." and "[" are not paths.
    make_model(actor=people.author, team=people.team, name="tagged", tags={key: "yes", "a": "b"})
    make_model(actor=people.author, team=people.team, name="other", tags={"a": "yes", "b": "yes"})
    response = client_for(people.viewer).get("/api/v1/models/", {"tag": f"{key}:yes"})
    assert response.status_code == 200, response.content
    assert [m["name"] for m in response.json()["results"]] == ["tagged"]


def test_models_list_query_count_is_constant(count_queries, people, client_for, promote):
    client = client_for(people.viewer)
    first = make_model(actor=people.author, team=people.team, name="m000")
    promote(first, "1.0.0")
    one, _ = count_queries(client, "/api/v1/models/")
    for i in range(1, 50):
        model = make_model(actor=people.author, team=people.team, name=f"m{i:03d}")
        register(actor=people.author, model=model, version="1.0.0")
    fifty, response = count_queries(client, "/api/v1/models/")
    assert len(response.json()["results"]) == 50
    assert response.json()["results"][0]["stage_counts"]["production"] == 1
    assert response.json()["results"][1]["versions_count"] == 1
    # The page of models, their production versions, and the per-stage counts of these
    # models' versions.
    assert one == fifty <= 3


def test_versions_are_ordered_by_semver_precedence(people, model, client_for):
    for version in (
        "1.10.0",
        "1.2.0",
        "1.0.0-rc.1",
        "1.0.0",
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "2.0.0-rc.1+b5",
    ):
        register(actor=people.author, model=model, version=version)
    body = client_for(people.viewer).get("/api/v1/models/fraud_detector/versions/").json()
    assert [v["version"] for v in body["results"]] == [
        "2.0.0-rc.1+b5",
        "1.10.0",
        "1.2.0",
        "1.0.0",
        "1.0.0-rc.1",
        "1.0.0-alpha.1",
        "1.0.0-alpha",
    ]


def test_versions_filter_by_stage(people, model, client_for, promote):
    promote(model, "1.0.0")
    promote(model, "1.1.0")
    register(actor=people.author, model=model, version="1.2.0")
    client = client_for(people.viewer)
    url = "/api/v1/models/fraud_detector/versions/?stage="
    assert [v["version"] for v in client.get(url + "archived").json()["results"]] == ["1.0.0"]
    assert [v["version"] for v in client.get(url + "staging").json()["results"]] == ["1.2.0"]


def test_versions_list_query_count_is_constant(count_queries, people, model, client_for):
    client = client_for(people.viewer)
    url = "/api/v1/models/fraud_detector/versions/"
    register(actor=people.author, model=model, version="0.0.1")
    one, _ = count_queries(client, url)
    for i in range(49):
        register(actor=people.author, model=model, version=f"1.0.{i}")
    fifty, response = count_queries(client, url)
    assert len(response.json()["results"]) == 50
    assert one == fifty


def test_audit_filters(people, model, client_for, promote):
    promote(model, "1.0.0")
    other = make_model(actor=people.outsider, team=people.other_team, name="pricer")
    client = client_for(people.viewer)

    def events(query):
        body = client.get(f"/api/v1/audit/?{query}").json()
        return body["results"]

    assert {e["model"] for e in events("model=pricer")} == {"pricer"}
    assert {e["actor"] for e in events("actor=release")} == {"release"}
    promoted = events("action=version.promoted")
    assert [(e["model"], e["version"], e["reason"]) for e in promoted] == [
        ("fraud_detector", "1.0.0", "ship it")
    ]
    assert promoted[0]["from_stage"] == "staging" and promoted[0]["to_stage"] == "production"
    future = (timezone.now() + dt.timedelta(days=1)).isoformat()
    assert events(f"since={future.replace('+00:00', 'Z')}") == []
    assert events("until=2000-01-01") == []
    today = timezone.now().date().isoformat()
    assert events(f"since={today}&until={today}") == client.get("/api/v1/audit/").json()["results"]
    assert other.name == "pricer"


def test_history_is_the_model_trail(people, model, client_for, promote):
    promote(model, "1.0.0")
    make_model(actor=people.outsider, team=people.other_team, name="pricer")
    body = client_for(people.viewer).get("/api/v1/models/fraud_detector/history/").json()
    assert body["results"]
    assert {e["model"] for e in body["results"]} == {"fraud_detector"}
    assert body["results"][0]["action"] == "version.promoted"  # newest first


def test_audit_list_query_count_is_constant(count_queries, people, model, client_for):
    client = client_for(people.viewer)
    one, _ = count_queries(client, "/api/v1/audit/")
    for i in range(50):
        services.registered_model_update(actor=people.author, model=model, description=f"d{i}")
    fifty, _ = count_queries(client, "/api/v1/audit/")
    assert one == fifty


@pytest.mark.parametrize("size", ["0", "-1", "abc", "100000"])
def test_odd_page_sizes_never_fail(people, model, client_for, size):
    r = client_for(people.viewer).get(f"/api/v1/models/?page_size={size}")
    assert r.status_code == 200
    assert len(r.json()["results"]) == 1


def test_page_numbers_are_refused(people, model, client_for):
    # A client still counting ?page=N would otherwise get the first page forever.
    r = client_for(people.viewer).get("/api/v1/models/?page=5")
    assert r.status_code == 400
    assert "page" in error_of(r)["details"]
