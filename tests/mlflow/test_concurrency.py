"""Eight MLflow clients registering versions of one model at once, over real HTTP threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import requests
from knox.models import AuthToken

from models_app.models import AuditEvent, ModelVersion
from tests.factories import make_model


def test_concurrent_creates_get_distinct_numbers_and_matching_labels(live_server, people):
    make_model(actor=people.author, team=people.team, name="fraud_scorer")
    token = AuthToken.objects.create(people.author)[1]

    def create(i: int) -> tuple[int, str]:
        response = requests.post(
            f"{live_server.url}/api/2.0/mlflow/model-versions/create",
            json={"name": "fraud_scorer", "source": f"s3://bucket/{i}"},
            headers={"Authorization": f"Bearer {token}", "Connection": "close"},
            timeout=60,
        )
        return response.status_code, response.text

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(create, range(8)))

    assert [status for status, _ in answers] == [200] * 8, answers
    versions = ModelVersion.objects.filter(registered_model__name="fraud_scorer")
    assert sorted(versions.values_list("number", flat=True)) == list(range(1, 9))
    assert all(mv.version == f"{mv.number}.0.0" for mv in versions)
    assert AuditEvent.objects.filter(action="version.registered").count() == 8
