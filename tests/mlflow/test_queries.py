"""Search and list answers cost a constant number of queries, however many rows match."""

from __future__ import annotations

import pytest
from knox.models import AuthToken

from mlflow_app import services as door
from models_app.models import ModelVersion
from tests.factories import make_model, register

API = "/api/2.0/mlflow"


@pytest.fixture
def _count(django_assert_max_num_queries):
    # The bound is far above any count here; the tests assert the exact counts.
    def count(client, token, path, query):
        with django_assert_max_num_queries(1000) as ctx:
            response = client.get(f"{API}/{path}", query, HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 200, response.content
        return len(ctx.captured_queries), response.json()

    return count


def _fill(people, models: int, versions: int):
    for m in range(models):
        model = make_model(actor=people.author, team=people.team, name=f"fraud_{m:03d}")
        for v in range(1, versions + 1):
            register(actor=people.author, model=model, version=f"{v}.0.0", artifact_uri="s3://b/x")
        mv = ModelVersion.objects.get(registered_model=model, number=1)
        door.alias_set(actor=people.author, version=mv, alias="shadow")


@pytest.mark.parametrize(
    ("path", "query", "key"),
    [
        ("registered-models/search", {"filter": "name LIKE 'fraud%'"}, "registered_models"),
        ("model-versions/search", {"filter": "name LIKE 'fraud%'"}, "model_versions"),
    ],
)
def test_search_query_count_does_not_grow_with_rows(_count, client, people, path, query, key):
    token = AuthToken.objects.create(people.viewer)[1]
    _fill(people, models=1, versions=1)
    few, small = _count(client, token, path, query)
    for m in range(1, 20):
        model = make_model(actor=people.author, team=people.team, name=f"fraud_more_{m:03d}")
        for v in range(1, 4):
            register(actor=people.author, model=model, version=f"{v}.0.0", artifact_uri="s3://b/y")
        door.alias_set(
            actor=people.author,
            version=ModelVersion.objects.get(registered_model=model, number=1),
            alias="shadow",
        )
    many, large = _count(client, token, path, query)
    assert len(large[key]) > len(small[key])
    # authentication (token and user), the rows, aliases, and for models the latest
    # version per stage (an aggregate and the rows it names): the same for 1 or 58 rows.
    assert many == few


@pytest.mark.parametrize(
    ("path", "text", "pinned"),
    [
        # the token with its user, the page's rows with team, author and the ids of each
        # model's latest version per stage, those versions, the aliases
        ("registered-models/search", "name LIKE 'fraud\\_%' AND name ILIKE '%0_'", 4),
        ("registered-models/search", "", 4),
        # the token with its user, the page's rows with model name and author, their aliases
        ("model-versions/search", "name LIKE 'fraud%' AND source_path ILIKE 'S3://%'", 3),
        ("model-versions/search", "run_id NOT IN ('a', 'b') AND version_number > 0", 3),
    ],
)
def test_search_page_query_count_is_pinned(_count, client, people, path, text, pinned):
    token = AuthToken.objects.create(people.viewer)[1]
    _fill(people, models=5, versions=3)
    count, body = _count(client, token, path, {"filter": text, "max_results": 4})
    assert len(body.get("registered_models", body.get("model_versions", []))) == 4
    assert count == pinned


def test_admin_shows_aliases_read_only(client, people):
    _fill(people, models=1, versions=1)
    client.force_login(people.admin)
    assert client.get("/admin/mlflow_app/modelalias/").status_code == 200
    assert client.get("/admin/mlflow_app/modelalias/add/").status_code == 403
