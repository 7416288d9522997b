"""MLflow's filter syntax as the door reads it, and the rows it selects on the database."""

from __future__ import annotations

import pytest

from mlflow_app import search, wire
from models_app import services
from models_app.models import RegisteredModel
from tests.factories import make_model, register


def test_parse_filter_reads_the_clients_rewritten_filter():
    clauses = search.parse_filter("name LIKE 'fraud%' AND tag.`mlflow.prompt.is_prompt` != 'true'")
    assert clauses == [
        {"type": "attribute", "key": "name", "op": "LIKE", "value": "fraud%"},
        {"type": "tag", "key": "mlflow.prompt.is_prompt", "op": "!=", "value": "true"},
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = 'a'", {"type": "attribute", "key": "name", "op": "=", "value": "a"}),
        ('name ilike "A%"', {"type": "attribute", "key": "name", "op": "ILIKE", "value": "A%"}),
        ("tags.k = 'it''s'", {"type": "tag", "key": "k", "op": "=", "value": "it's"}),
        ("tags.\"a b\" != 'x'", {"type": "tag", "key": "a b", "op": "!=", "value": "x"}),
        (
            "version_number >= 3",
            {"type": "attribute", "key": "version_number", "op": ">=", "value": 3},
        ),
        (
            "run_id IN ('r1', 'r2')",
            {"type": "attribute", "key": "run_id", "op": "IN", "value": ["r1", "r2"]},
        ),
        ("attribute.name = 'n'", {"type": "attribute", "key": "name", "op": "=", "value": "n"}),
        ("name = 'x AND y'", {"type": "attribute", "key": "name", "op": "=", "value": "x AND y"}),
    ],
)
def test_parse_filter_clauses(text, expected):
    assert search.parse_filter(text) == [expected]


@pytest.mark.parametrize(
    "text", ["name = 'a' OR name = 'b'", "name = a", "name LIKE 'x", "= 'x'", "run_id IN 'r1'"]
)
def test_parse_filter_refuses_what_it_cannot_read(text):
    with pytest.raises(search.SearchError):
        search.parse_filter(text)


@pytest.mark.parametrize(
    ("pattern", "sql", "glob"),
    [
        ("a.b%c_", "a.b%c_", "a.b*c?"),
        ("%%%%x%%", "%x%", "*x*"),  # a run of % is one wildcard
        (r"50\%\_off\\", r"50\%\_off\\", "50%_off\\"),  # escaped literals
        (r"\a*?[]", "a*?[]", "a[*][?][[]]"),  # GLOB's specials are literal in LIKE
    ],
)
def test_like_patterns_for_sql_like_and_sqlite_glob(pattern, sql, glob):
    assert search.like_sql_pattern(pattern) == sql
    assert search.like_glob_pattern(pattern) == glob


@pytest.mark.parametrize(
    "pattern",
    ["x" * (search.MAX_PATTERN_LENGTH + 1), "%_" * 9, "_" * 17, "ends with \\"],
)
def test_like_patterns_over_the_caps_or_ending_in_an_escape_are_refused(pattern):
    with pytest.raises(search.SearchError):
        search.like_parts(pattern)


def test_page_tokens_round_trip_and_refuse_forgeries():
    from datetime import UTC, datetime

    from models_app.models import ModelVersion

    ordering = search.version_ordering([])
    when = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    token = search.make_page_token("versions", ordering, "name LIKE 'a%'", [when, "m", 7])

    def read(token, text="name LIKE 'a%'", kind="versions", ordering=ordering):
        return search.read_page_token(
            token, kind=kind, model=ModelVersion, ordering=ordering, text=text
        )

    assert read(token) == [when, "m", 7]
    assert read(None) is None and read("") is None
    payload, _sep, signature = token.rpartition(":")
    forged = search.make_page_token("versions", ordering, "name LIKE 'a%'", [when, "m", 8])
    for bad in (
        "???",
        "eyJvZmZzZXQiOiAtMX0=",  # an offset token of MLflow's own format
        payload + ":" + signature[::-1],  # the key kept, the signature damaged
        forged.rpartition(":")[0] + ":" + signature,  # another key under this signature
        "x" * (search.MAX_TOKEN_LENGTH + 1),
    ):
        with pytest.raises(search.SearchError, match="not made by this server"):
            read(bad)
    # A token is bound to its search: another filter, ordering or kind of rows refuses it.
    for other in (
        {"text": "name LIKE 'b%'"},
        {"ordering": search.version_ordering(["version_number ASC"])},
        {"kind": "models"},
    ):
        with pytest.raises(search.SearchError, match="another search"):
            read(token, **other)


@pytest.mark.parametrize(
    "key",
    [
        ["2024-05-01T12:00:00+00:00", "m"],  # too few values
        [7, "m", 7],  # a number where a time belongs
        ["2024-05-01T12:00:00", "m", 7],  # a time without its zone
        ["not a time", "m", 7],
        ["2024-05-01T12:00:00+00:00", "m", True],  # a boolean is not a number
        ["2024-05-01T12:00:00+00:00", "m\x00", 7],
    ],
)
def test_signed_tokens_with_values_of_the_wrong_type_are_refused(key):
    from models_app.models import ModelVersion

    ordering = search.version_ordering([])
    token = search.make_page_token("versions", ordering, None, key)
    with pytest.raises(search.SearchError, match="not made by this server"):
        search.read_page_token(
            token, kind="versions", model=ModelVersion, ordering=ordering, text=None
        )


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("name LIKE 'fraud%'", ["fraud.v1", "fraud_a"]),
        ("name LIKE 'fraud_a'", ["fraud_a"]),
        ("name ILIKE 'FRAUD%'", ["fraud.v1", "fraud_a"]),
        ("name LIKE 'fraud.%'", ["fraud.v1"]),
        ("name != 'fraud_a'", ["fraud.v1", "other"]),
        ("tags.`team.lead` = 'ann'", ["fraud_a"]),
        ("tags.`team.lead` != 'ann'", ["other"]),
        ("tags.`team.lead` LIKE 'b%'", ["other"]),
        ("tag.`mlflow.prompt.is_prompt` != 'true'", ["fraud.v1", "fraud_a", "other"]),
        ("name IN ('other', 'fraud_a')", ["fraud_a", "other"]),
    ],
)
def test_model_filter_selects_rows_on_the_database(people, text, names):
    make_model(actor=people.author, team=people.team, name="fraud_a", tags={"team.lead": "ann"})
    make_model(actor=people.author, team=people.team, name="fraud.v1")
    make_model(actor=people.author, team=people.team, name="other", tags={"team.lead": "bob"})
    selected = RegisteredModel.objects.filter(search.model_filter(text)).order_by("name")
    assert [m.name for m in selected] == names


TAG_KEYS = ["a__b", "0", 'it\'s "quoted"', "ключ", "a.b[0]", "$.a"]


@pytest.mark.parametrize("key", TAG_KEYS)
def test_a_tag_key_is_one_key_whatever_it_looks_like(people, key):
    # "a__b" is not key "b" inside "a", "0" is not an array index, "." and "[" are not paths.
    make_model(actor=people.author, team=people.team, name="tagged", tags={key: "yes", "a": "b"})
    make_model(actor=people.author, team=people.team, name="other", tags={"a": "yes", "b": "yes"})

    def names(text):
        selected = RegisteredModel.objects.filter(search.model_filter(text)).order_by("name")
        return [m.name for m in selected]

    assert names(f"tags.`{key}` = 'yes'") == ["tagged"]
    assert names(f"tags.`{key}` LIKE 'y%'") == ["tagged"]
    assert names(f"tags.`{key}` != 'yes'") == []
    found, _next = search.find_models(f"tags.`{key}` = 'yes'", [], None, 10)
    assert [row["name"] for row in found] == ["tagged"]


def test_model_ordering_by_update_time(people):
    first = make_model(actor=people.author, team=people.team, name="b_model")
    make_model(actor=people.author, team=people.team, name="a_model")
    services.registered_model_update(actor=people.author, model=first, description="newer")
    ordered = RegisteredModel.objects.order_by(
        *search.model_ordering(["last_updated_timestamp DESC"])
    )
    assert [m.name for m in ordered] == ["b_model", "a_model"]
    with pytest.raises(search.SearchError):
        search.model_ordering(["name ASC", "name DESC"])


@pytest.mark.parametrize(
    "text",
    [
        "name LIKE 'fraud%'",
        "name ILIKE 'FRAUD%'",
        "name != 'fraud_a'",
        "tags.`team.lead` = 'ann'",
        "tags.`team.lead` LIKE 'b%'",
        "tag.`mlflow.prompt.is_prompt` != 'true'",
        "tag.`mlflow.prompt.is_prompt` = 'true'",
        "name IN ('other', 'fraud_a')",
        "name NOT IN ('other')",
        "creation_timestamp > 0 AND name LIKE '%a%'",
        None,
    ],
)
def test_prepared_model_search_selects_what_the_filter_selects(people, text):
    make_model(actor=people.author, team=people.team, name="fraud_a", tags={"team.lead": "ann"})
    make_model(actor=people.author, team=people.team, name="fraud.v1")
    make_model(actor=people.author, team=people.team, name="other", tags={"team.lead": "bob"})
    expected = list(
        RegisteredModel.objects.filter(search.model_filter(text))
        .order_by("name", "pk")
        .values_list("name", flat=True)
    )

    def names(rows):
        return [row["name"] for row in rows]

    found, token = search.find_models(text, [], None, 100)
    assert (names(found), token) == (expected, None)
    first, token = search.find_models(text, [], None, 1)
    assert names(first) == expected[:1]
    assert bool(token) == (len(expected) > 1)
    if token:
        assert names(search.find_models(text, [], token, 1)[0]) == expected[1:2]


def test_a_search_page_is_one_query_whatever_the_filter(people, model, django_assert_num_queries):
    for version in ("1.0.0", "2.0.0", "3.0.0"):
        register(actor=people.author, model=model, version=version, source_run=f"run-{version}")
    with django_assert_num_queries(1):  # the page's rows, with model name and author
        found, _token = search.find_versions("run_id = 'run-3.0.0'", [], None, 10)
    assert [row["version"] for row in found] == ["3.0.0"]
    assert found[0]["registered_model__name"] == "fraud_detector"
    assert found[0][wire.author_field()] == "author"
    with django_assert_num_queries(1):
        found, token = search.find_versions(
            "name = 'fraud_detector'", ["version_number ASC"], None, 2
        )
    assert [row["number"] for row in found] == [1, 2]
    with django_assert_num_queries(1):  # a deeper page costs the same
        found, token = search.find_versions(
            "name = 'fraud_detector'", ["version_number ASC"], token, 2
        )
    assert [row["number"] for row in found] == [3] and token is None
    with django_assert_num_queries(1):
        found, token = search.find_versions(
            "run_id LIKE 'run-_.0.0' AND name ILIKE 'FRAUD%'", [], None, 1
        )
    assert len(found) == 1 and token


@pytest.mark.parametrize(
    "text", ["version_number > 99999999999999999999", "creation_timestamp > 10000000000000000"]
)
def test_numbers_out_of_range_are_refused(people, text):
    with pytest.raises(search.SearchError, match="out of range"):
        search.find_versions(text, [], None, 10)
