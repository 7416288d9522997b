"""Search filters through the real HTTP door: hostile filters are refused or answered with a
bounded number of SQL statements, and LIKE / ILIKE select the right rows on every database.

Every request goes through Django's test client under both URL prefixes, as an MLflow
client (or a browser using MLflow's UI paths) would send it.
"""

from __future__ import annotations

import pytest
from knox.models import AuthToken

from mlflow_app import search
from tests.factories import make_model, register

PREFIXES = ["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"]
MODELS, VERSIONS = "registered-models/search", "model-versions/search"
# A refused search reads the caller's token (with its user), nothing else.
REFUSED_MAX_QUERIES = 1
# An answered search: the token, the page's ids, its rows, their aliases, and for models
# the latest version per stage (two): the same however long the filter is (see
# test_queries.py, which pins the counts).
ANSWERED_MAX_QUERIES = 6


@pytest.fixture
def search_door(client, people):
    """get(prefix, endpoint, filter) → (status, JSON body), as the viewer."""
    token = AuthToken.objects.create(people.viewer)[1]

    def _get(prefix, endpoint, text, **query):
        response = client.get(
            f"{prefix}/{endpoint}",
            {"filter": text, **query},
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        assert response["Content-Type"] == "application/json"
        return response.status_code, response.json()

    return _get


@pytest.fixture
def catalogue(people):
    """Models and versions whose names, tags, runs and sources tell LIKE from ILIKE,
    wildcards from escaped literals, and GLOB's specials from plain characters."""
    team, author = people.team, people.author
    fraud_a = make_model(
        actor=author, team=team, name="fraud_a", tags={"owner": "Ann", "note": "100% sure"}
    )
    make_model(actor=author, team=team, name="Fraud_B", tags={"owner": "ann", "note": "a[b]*?"})
    make_model(
        actor=author,
        team=team,
        name="fraudXa",
        tags={"owner": "bob_smith", "note": "abxy", "who": "Émile"},
    )
    make_model(
        actor=author, team=team, name="pricing_fraud", tags={"note": "50_50", "path": "C:\\tmp"}
    )
    register(
        actor=author,
        model=fraud_a,
        version="1.0.0",
        source_run="Run-AB_1",
        artifact_uri="s3://bucket/Models/a_1",
        tags={"stage": "QA_done"},
    )
    register(
        actor=author,
        model=fraud_a,
        version="2.0.0",
        source_run="run-abX1",
        artifact_uri="s3://bucket/models/ax1",
        tags={"stage": "qa-done"},
    )


def _names(body, endpoint):
    if endpoint == MODELS:
        return sorted(m["name"] for m in body.get("registered_models", []))
    return sorted(f"{v['name']}/{v['version']}" for v in body.get("model_versions", []))


@pytest.mark.parametrize(
    ("endpoint", "text", "expected"),
    [
        # Case: LIKE tells case apart on every database, ILIKE does not.
        (MODELS, "name LIKE 'fraud%'", ["fraudXa", "fraud_a"]),
        (MODELS, "name ILIKE 'fraud%'", ["Fraud_B", "fraudXa", "fraud_a"]),
        (MODELS, "name LIKE 'FRAUD%'", []),
        (MODELS, "name ILIKE 'FRAUD%'", ["Fraud_B", "fraudXa", "fraud_a"]),
        (MODELS, "name LIKE 'fraud_b'", []),
        (MODELS, "name ILIKE 'fraud_b'", ["Fraud_B"]),
        # `_` is exactly one character; `\_` is an underscore.
        (MODELS, "name LIKE 'fraud_a'", ["fraudXa", "fraud_a"]),
        (MODELS, "name LIKE 'fraud\\_a'", ["fraud_a"]),
        (MODELS, "name LIKE 'fraud\\_%'", ["fraud_a"]),
        (MODELS, "name LIKE 'fraud__'", ["fraudXa", "fraud_a"]),
        (MODELS, "name LIKE 'frau_'", []),
        # Prefix, suffix and infix.
        (MODELS, "name LIKE '%fraud'", ["pricing_fraud"]),
        (MODELS, "name LIKE '%ud_%'", ["Fraud_B", "fraudXa", "fraud_a"]),
        (MODELS, "name LIKE '%AUD%'", []),
        (MODELS, "name ILIKE '%AUD%'", ["Fraud_B", "fraudXa", "fraud_a", "pricing_fraud"]),
        (MODELS, "name LIKE '%ing\\_f%'", ["pricing_fraud"]),
        (MODELS, "name LIKE '%'", ["Fraud_B", "fraudXa", "fraud_a", "pricing_fraud"]),
        # Tags: escaped % and _, GLOB's * ? [ taken literally, a literal backslash.
        (MODELS, "tags.note LIKE '100\\% %'", ["fraud_a"]),
        (MODELS, "tags.note LIKE '%\\%%'", ["fraud_a"]),
        (MODELS, "tags.note LIKE '%\\_%'", ["pricing_fraud"]),
        (MODELS, "tags.note LIKE '%_%'", ["Fraud_B", "fraudXa", "fraud_a", "pricing_fraud"]),
        (MODELS, "tags.note LIKE '50_50'", ["pricing_fraud"]),
        (MODELS, "tags.note LIKE 'a[b]*?'", ["Fraud_B"]),
        (MODELS, "tags.note LIKE 'a[b]%'", ["Fraud_B"]),
        (MODELS, "tags.note LIKE 'a%'", ["Fraud_B", "fraudXa"]),
        (MODELS, "tags.path LIKE 'C:\\\\%'", ["pricing_fraud"]),
        (MODELS, "tags.path LIKE 'C:\\%'", []),
        (MODELS, "tags.owner LIKE 'ann'", ["Fraud_B"]),
        (MODELS, "tags.owner ILIKE 'ann'", ["Fraud_B", "fraud_a"]),
        (MODELS, "tags.`owner` LIKE 'bob\\_%'", ["fraudXa"]),
        (MODELS, "tags.owner ILIKE 'BOB_SMITH' AND name LIKE 'fraud%'", ["fraudXa"]),
        # Non-ASCII: `_` is one character, LIKE never folds case, ILIKE folds ASCII
        # letters everywhere (how other letters fold depends on the database).
        (MODELS, "tags.who LIKE '_mile'", ["fraudXa"]),
        (MODELS, "tags.who LIKE 'Émile'", ["fraudXa"]),
        (MODELS, "tags.who LIKE 'émile'", []),
        (MODELS, "tags.who ILIKE 'ÉMILE'", ["fraudXa"]),
        (MODELS, "tags.who LIKE 'ÉMILE'", []),
        # Versions: run ids, sources, tags and model names.
        (VERSIONS, "run_id LIKE 'Run-%'", ["fraud_a/1"]),
        (VERSIONS, "run_id ILIKE 'run-%'", ["fraud_a/1", "fraud_a/2"]),
        (VERSIONS, "run_id LIKE '%\\_1'", ["fraud_a/1"]),
        (VERSIONS, "run_id ILIKE '%ab_1'", ["fraud_a/1", "fraud_a/2"]),
        (VERSIONS, "source_path LIKE 's3://bucket/models/%'", ["fraud_a/2"]),
        (VERSIONS, "source_path ILIKE 's3://bucket/models/%'", ["fraud_a/1", "fraud_a/2"]),
        (VERSIONS, "source_path LIKE '%/a\\_1'", ["fraud_a/1"]),
        (VERSIONS, "source_path LIKE '%a_1'", ["fraud_a/1", "fraud_a/2"]),
        (VERSIONS, "tags.stage LIKE 'qa%'", ["fraud_a/2"]),
        (VERSIONS, "tags.stage ILIKE 'qa\\_%'", ["fraud_a/1"]),
        (VERSIONS, "name LIKE 'fraud\\_a' AND run_id LIKE 'run%'", ["fraud_a/2"]),
        (VERSIONS, "name LIKE 'Fraud%'", []),
    ],
)
def test_like_and_ilike_select_the_right_rows(
    search_door, catalogue, django_assert_max_num_queries, endpoint, text, expected
):
    for prefix in PREFIXES:
        with django_assert_max_num_queries(ANSWERED_MAX_QUERIES):
            status, body = search_door(prefix, endpoint, text)
        assert status == 200, body
        assert _names(body, endpoint) == expected


def _clauses(count: int) -> str:
    return " AND ".join(["name LIKE '%a%'"] * count)


LONG = search.MAX_FILTER_LENGTH
PATTERN = search.MAX_PATTERN_LENGTH
WILDCARDS = search.MAX_PATTERN_WILDCARDS

# (filter, answered?): every kind of hostile filter, at and just over each cap.
HOSTILE = [
    # Many %: each run is one wildcard, so this costs what '%#' costs.
    ("name LIKE '" + "%" * WILDCARDS + "#'", True),
    ("name LIKE '" + "%" * (WILDCARDS + 1) + "#'", False),
    ("name LIKE '" + "%" * (PATTERN + 1) + "'", False),
    # Many _.
    ("name LIKE '" + "_" * WILDCARDS + "'", True),
    ("name LIKE '" + "_" * (WILDCARDS + 1) + "'", False),
    # Alternating % and _.
    ("name LIKE '" + "%_" * (WILDCARDS // 2) + "#'", True),
    ("name LIKE '" + "%_" * (WILDCARDS // 2 + 1) + "#'", False),
    ("name ILIKE '" + "%a" * WILDCARDS + "%'", False),
    # Long literal.
    ("name LIKE '" + "a" * PATTERN + "'", True),
    ("name LIKE '" + "a" * (PATTERN + 1) + "'", False),
    ("tags.note ILIKE '%" + "ab" * 100 + "%'", True),
    # Escape-heavy: escaped wildcards are literals and do not count as wildcards.
    ("name LIKE '" + "\\%" * (PATTERN // 2) + "'", True),
    ("name LIKE '" + "\\_" * (PATTERN // 2) + "'", True),
    ("name LIKE '" + "\\\\" * (PATTERN // 2) + "'", True),
    ("name LIKE '" + "\\" * (PATTERN + 1) + "'", False),
    ("name LIKE 'fraud\\'", False),  # ends with a lone escape
    # Huge whitespace.
    (" " * 16_000, False),
    (" " * (LONG - 20) + "name LIKE 'a%'", True),
    ("name" + " " * 4000 + "LIKE" + " " * 4000 + "'a%'", True),
    ("\t\n " * 30_000 + "name = 'a'", False),
    # Deeply repeated AND clauses.
    (_clauses(search.MAX_CLAUSES), True),
    (_clauses(search.MAX_CLAUSES + 1), False),
    (_clauses(2_000), False),
    ("name = 'a' AND " * 10_000 + "name = 'a'", False),
    # Very long quoted strings.
    ("name = '" + "x" * (LONG - 20) + "'", True),
    ("name != '" + "''" * (LONG // 2 - 20) + "'", True),
    ("tags.`" + "k" * (LONG - 40) + "` = 'v'", True),
    ("name = '" + "x" * 100_000 + "'", False),
    # Unterminated quotes.
    ("name = '" + "x" * (LONG - 20), False),
    ('name = "' + "x" * (LONG - 20), False),
    ("tags.`" + "k" * (LONG - 20) + " = 'v'", False),
    ("name = '" + "''" * (LONG // 2 - 20), False),
    ("name LIKE '" + "%" * (LONG - 20), False),
    ("'" * (LONG - 1), False),
    ("name IN ('a', 'b'", False),
    # Numbers with thousands of digits, NUL characters, many OR.
    ("creation_timestamp > " + "9" * 5_000, False),
    ("name = 'a\x00'", False),
    ("name = 'a' OR " * 500 + "name = 'a'", False),
]


@pytest.mark.parametrize(
    ("text", "answered"), HOSTILE, ids=[f"hostile-{i}" for i in range(len(HOSTILE))]
)
def test_hostile_filters_are_refused_or_answered_in_bounded_queries(
    search_door, catalogue, django_assert_max_num_queries, text, answered
):
    limit = ANSWERED_MAX_QUERIES if answered else REFUSED_MAX_QUERIES
    for prefix in PREFIXES:
        for endpoint in (MODELS, VERSIONS):
            with django_assert_max_num_queries(limit):
                status, body = search_door(prefix, endpoint, text)
            if answered:
                assert status == 200, body
            else:
                assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), body
                assert len(body["message"]) < 500  # the message does not echo a huge filter


@pytest.mark.parametrize("prefix", PREFIXES)
def test_version_number_and_long_in_lists(
    search_door, catalogue, django_assert_max_num_queries, prefix
):
    with django_assert_max_num_queries(REFUSED_MAX_QUERIES):
        status, body = search_door(prefix, VERSIONS, "version_number >= " + "1" * 5_000)
    assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
    # An IN list of a thousand values is one condition, not a thousand nested ORs.
    runs = ", ".join(f"'r{i}'" for i in range(1_000))
    with django_assert_max_num_queries(ANSWERED_MAX_QUERIES):
        status, body = search_door(prefix, VERSIONS, f"run_id IN ({runs}, 'Run-AB_1')")
    assert status == 200, body
    assert _names(body, VERSIONS) == ["fraud_a/1"]
    with django_assert_max_num_queries(ANSWERED_MAX_QUERIES):
        status, body = search_door(prefix, VERSIONS, f"run_id NOT IN ({runs}, 'Run-AB_1')")
    assert _names(body, VERSIONS) == ["fraud_a/2"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_refusals_explain_the_cap(search_door, catalogue, prefix):
    cases = [
        ("name LIKE '" + "%a" * 20 + "'", "at most 16 are accepted"),
        ("name LIKE '" + "a" * 300 + "'", "at most 256 are accepted"),
        ("name LIKE 'x\\'", "ends with the escape character"),
        (" " * 9000, "at most 8192 are accepted"),
        (_clauses(60), "at most 50 clauses"),
        ("name = 'x", "unterminated quote"),
        ("name = 'a' OR name = 'b'", "OR is not supported"),
    ]
    for text, needle in cases:
        status, body = search_door(prefix, MODELS, text)
        assert (status, body["error_code"]) == (400, "INVALID_PARAMETER_VALUE")
        assert needle in body["message"]
