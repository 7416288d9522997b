"""Keyset pages at the MLflow door: every row exactly once, the same cost at any depth, tokens
bound to their search, and the orderings served by indexes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from knox.models import AuthToken

from mlflow_app import search
from models_app.models import ModelVersion
from tests.factories import make_model, register
from tests.queries import captured_queries

API = "/api/2.0/mlflow"


@pytest.fixture
def rows(people):
    """Three models with five versions each; some versions share their update time, as
    versions registered or changed in one batch do."""
    for name in ("fraud_a", "fraud_b", "other"):
        model = make_model(actor=people.author, team=people.team, name=name)
        for v in range(1, 6):
            register(actor=people.author, model=model, version=f"{v}.0.0", source_run=f"r{v % 2}")
    same = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    ModelVersion.objects.filter(number__in=[2, 3, 4]).update(stage_changed_at=same)
    ModelVersion.objects.filter(number=1).update(created_at=same)


@pytest.fixture
def get(client, people):
    token = AuthToken.objects.create(people.viewer)[1]

    def get(path, query):
        with captured_queries() as ctx:
            response = client.get(f"{API}/{path}", query, HTTP_AUTHORIZATION=f"Bearer {token}")
        return response.status_code, response.json(), len(ctx)

    return get


def _all_pages(get, path, key, query, size):
    seen, token, counts = [], None, set()
    while True:
        status, body, count = get(path, {**query, "max_results": size, "page_token": token or ""})
        assert status == 200, body
        counts.add(count)
        seen += [(row["name"], row.get("version")) for row in body[key]]
        token = body.get("next_page_token")
        if not token:
            return seen, counts


VERSION_SEARCHES = [
    {},
    {"filter": "name = 'fraud_a'"},
    {"filter": "name = 'fraud_a'", "order_by": ["version_number ASC"]},
    {"filter": "name = 'fraud_b'", "order_by": ["creation_timestamp ASC"]},
    {"filter": "name LIKE 'fraud%'", "order_by": ["name DESC", "version_number ASC"]},
    {"filter": "run_id = 'r0'", "order_by": ["last_updated_timestamp ASC"]},
    {"order_by": ["creation_timestamp DESC", "name ASC"]},
]


@pytest.mark.parametrize("query", VERSION_SEARCHES)
@pytest.mark.parametrize("size", [1, 2, 4])
def test_version_pages_return_every_row_once_in_order(rows, get, query, size):
    status, whole, _count = get("model-versions/search", {**query, "max_results": 1000})
    assert status == 200 and "next_page_token" not in whole
    expected = [(row["name"], row["version"]) for row in whole["model_versions"]]
    assert expected
    paged, counts = _all_pages(get, "model-versions/search", "model_versions", query, size)
    assert paged == expected
    assert len(set(paged)) == len(paged)
    # the token with its user, the page's rows, their aliases: at every depth
    assert counts == {3}


@pytest.mark.parametrize(
    "query",
    [{}, {"order_by": ["name DESC"]}, {"order_by": ["last_updated_timestamp DESC"]}],
)
def test_model_pages_return_every_row_once_in_order(rows, get, query):
    status, whole, _count = get("registered-models/search", {**query, "max_results": 1000})
    expected = [row["name"] for row in whole["registered_models"]]
    assert status == 200 and len(expected) == 3
    paged, counts = _all_pages(get, "registered-models/search", "registered_models", query, 1)
    assert [name for name, _v in paged] == expected
    assert len(counts) == 1


def test_rows_added_between_pages_do_not_shift_the_pages(rows, people, get):
    query = {"filter": "name = 'fraud_a'", "order_by": ["version_number ASC"], "max_results": 2}
    status, first, _count = get("model-versions/search", query)
    assert [v["version"] for v in first["model_versions"]] == ["1", "2"]
    model = ModelVersion.objects.get(registered_model__name="fraud_a", number=1).registered_model
    register(actor=people.author, model=model, version="0.1.0")  # number 6
    # An offset would now repeat or skip a row; the key carries on after version 2.
    seen = []
    token = first["next_page_token"]
    while token:
        status, body, _count = get("model-versions/search", {**query, "page_token": token})
        assert status == 200
        seen += [v["version"] for v in body["model_versions"]]
        token = body.get("next_page_token")
    assert seen == ["3", "4", "5", "6"]


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ({"filter": "name = 'fraud_a'"}, {"filter": "name = 'fraud_b'"}),
        ({"filter": "name = 'fraud_a'"}, {"filter": "name = 'fraud_a'", "order_by": ["name"]}),
        ({}, {"order_by": ["version_number DESC"]}),
    ],
)
def test_a_token_from_another_search_is_invalid_parameter_value(rows, get, first, then):
    _status, body, _count = get("model-versions/search", {**first, "max_results": 1})
    token = body["next_page_token"]
    status, refused, _count = get(
        "model-versions/search", {**then, "max_results": 1, "page_token": token}
    )
    assert status == 400
    assert refused["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "another search" in refused["message"]
    # Nor does a versions token page models.
    status, refused, _count = get("registered-models/search", {"page_token": token})
    assert (status, refused["error_code"]) == (400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize(
    "token",
    [
        "eyJvZmZzZXQiOiA0fQ==",  # {"offset": 4}: the old format, not a key
        "bm90IGEgdG9rZW4:AAAA",
        "a:b:c",
        "x" * 5000,
        "\u00e9\u00e9",
    ],
)
def test_forged_or_damaged_tokens_are_invalid_parameter_value(rows, get, token):
    for path in ("model-versions/search", "registered-models/search"):
        status, body, _count = get(path, {"page_token": token})
        assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), body


def _plan(query) -> str:
    """The database's plan for a page query, with sequential scans and sorts made as
    costly as the planner allows, so that a plan without a sort means an index serves the
    order (tables this small would otherwise be read whole)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_sort = off")
        return query.explain()


def _outer(plan: str) -> str:
    """The plan of the query itself, without its subqueries (a page of models carries a
    few per row, each an index probe whose handful of rows may be sorted)."""
    lines = plan.splitlines()
    if connection.vendor != "postgresql":
        # SQLite's rows are "id parent notused detail": the query's own have parent 0.
        return "\n".join(line for line in lines if line.split(" ", 2)[1:2] == ["0"])
    kept, inside = [], None
    for line in lines:
        indent = len(line) - len(line.lstrip())
        if inside is not None and indent > inside:
            continue
        inside = None
        if line.lstrip().startswith(("SubPlan", "InitPlan")):
            inside = indent
            continue
        kept.append(line)
    return "\n".join(kept)


def _sorts(plan: str) -> bool:
    plan = _outer(plan)
    if connection.vendor == "postgresql":
        return "Sort" in plan
    return "TEMP B-TREE FOR ORDER BY" in plan


@pytest.mark.parametrize(
    ("text", "order_by", "index"),
    [
        ("name = 'fraud_a'", [], "modelversion_model_changed"),
        # the unique (model, number) constraint's index (SQLite names it itself)
        ("name = 'fraud_a'", ["version_number DESC"], None),
        ("name = 'fraud_a'", ["version_number ASC"], None),
    ],
)
def test_a_models_versions_are_paged_from_its_index(rows, text, order_by, index):
    first = search.version_page(text, order_by, None, 2)
    _rows, token = first.read()
    for page in (first, search.version_page(text, order_by, token, 2)):
        plan = _plan(page.query)
        assert index is None or index in plan, plan
        assert "registered_model_id" in plan, plan  # entered at the model, not scanned
        assert not _sorts(plan), plan


def test_models_are_paged_from_the_name_index(rows):
    _rows, token = search.model_page(None, [], None, 1).read()
    plan = _plan(search.model_page(None, [], token, 1).query)
    assert not _sorts(plan), plan


def test_versions_of_every_model_are_paged_from_the_update_time_index(rows):
    """MLflow's default order across models starts with the update time: on PostgreSQL the
    page is read from that index backwards (name and number then order ties among the few
    rows read). Not-deleted is an anti-join, so the planner sees how many rows remain.
    SQLite plans these small tables its own way; there the page must simply be right."""
    found, token = search.version_page(None, [], None, 2).read()
    expected = list(
        ModelVersion.objects.order_by(*search.version_ordering([])).values_list("pk", flat=True)
    )
    assert [row["pk"] for row in found] == expected[:2]
    found, _token = search.version_page(None, [], token, 2).read()
    assert [row["pk"] for row in found] == expected[2:4]
    if connection.vendor == "postgresql":
        for page in (
            search.version_page(None, [], None, 2),
            search.version_page(None, [], token, 2),
        ):
            plan = _plan(page.query)
            assert "Index Scan Backward using modelversion_changed" in plan, plan
            assert "Anti Join" in plan, plan
