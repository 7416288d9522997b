"""Random JSON at every write endpoint and random query strings at every list: whatever
arrives, the answer is never a 500, and every error has the one shape."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import make_promotable, register

BASE = "/api/v1/models/fraud_detector"
V = f"{BASE}/versions/1.0.0"

FIELDS = [
    "name", "team", "description", "tags", "version", "metrics", "params", "artifact_uri",
    "artifact_sha256", "artifact_size", "data_version", "code_version", "source_run", "reason",
    "to_version", "sections", "markdown", "decision", "comment", "revision_sha256",
    "thresholds", "key_metrics", "required_approvals", "required_card_sections",
    "require_checksum", "stage", "username", "password", "intended_use", "metric", "min",
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["1.0.0", "fraud", "approve", "accuracy", "production", "..", "s3://b/k"])
)
keys = st.sampled_from(FIELDS) | st.text(max_size=10)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=20,
)
bodies = st.dictionaries(keys, json_values, max_size=6) | json_values

WRITES = [
    ("post", "/api/v1/models/"),
    ("patch", f"{BASE}/"),
    ("post", f"{BASE}/versions/"),
    ("patch", f"{V}/"),
    ("post", f"{V}/promote/"),
    ("post", f"{V}/archive/"),
    ("post", f"{V}/deprecate/"),
    ("post", f"{BASE}/rollback/"),
    ("put", f"{V}/card/"),
    ("post", f"{V}/reviews/"),
    ("post", f"{V}/request-review/"),
    ("put", f"{BASE}/policy/"),
    ("post", "/api/v1/auth/token/"),
]
READS = [
    "/api/v1/models/",
    f"{BASE}/versions/",
    f"{BASE}/history/",
    "/api/v1/audit/",
]
PARAMS = ["search", "team", "tag", "stage", "page", "page_size", "model", "actor", "action",
          "since", "until"]  # fmt: skip


def check(response):
    assert response.status_code < 500, response.content
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}
        assert set(body["error"]) == {"code", "message", "details"}


@pytest.fixture
def world(people, model):
    mv = register(actor=people.author, model=model, version="1.0.0")
    make_promotable(mv, author=people.author, reviewer=people.reviewer)
    return people


@pytest.mark.parametrize(("method", "url"), WRITES, ids=[f"{m} {u}" for m, u in WRITES])
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies)
def test_random_json_never_gives_a_500(world, client_for, method, url, body):
    for user in (world.admin, world.author):
        client = client_for(user)
        response = client.generic(
            method.upper(), url, json.dumps(body), content_type="application/json"
        )
        check(response)


@pytest.mark.parametrize("url", READS)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(params=st.lists(st.tuples(st.sampled_from(PARAMS), st.text(max_size=25)), max_size=4))
def test_random_query_strings_never_give_a_500(world, client_for, url, params):
    response = client_for(world.viewer).get(url, params)
    check(response)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=st.text(min_size=1, max_size=20).filter(lambda s: "/" not in s),
    version=st.text(min_size=1, max_size=20).filter(lambda s: "/" not in s),
)
def test_random_path_segments_never_give_a_500(world, client_for, name, version):
    from urllib.parse import quote

    client = client_for(world.viewer)
    n, v = quote(name, safe=""), quote(version, safe="")
    for url in (
        f"/api/v1/models/{n}/",
        f"/api/v1/models/{n}/production/",
        f"{BASE}/versions/{v}/",
        f"{BASE}/versions/{v}/checks/",
        f"{BASE}/versions/{v}/artifact/",
    ):
        check(client.get(url))
