"""The scale benchmark's loader writes what registrations would: the registry reads it,
and goes on from it, as if every version had been registered through the services."""

import importlib.util
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from approvals_app.models import ModelCard, Review
from models_app import selectors, services
from models_app.enums import Stage
from models_app.models import AuditEvent, ModelVersion, RegisteredModel
from models_app.validators import SemVer

# The benchmarks run as scripts from bench/, which they import their helpers from.
BENCH = Path(__file__).resolve().parent.parent / "bench"
if str(BENCH) not in sys.path:
    sys.path.append(str(BENCH))
_spec = importlib.util.spec_from_file_location("bench_scale", BENCH / "scale.py")
scale = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scale)


def load(models: int, versions: int, big: int) -> None:
    # copy=False: the rows go through Django's connection, inside the test's transaction.
    scale.Loader(database_url="", models=models, versions=versions, big=big, copy=False).run()


def test_labels_sort_in_number_order_and_one_version_is_in_production():
    keys = [SemVer.parse(scale.label(n)).sort_key for n in range(1, 1001)]
    assert keys == sorted(keys)
    assert len(set(keys)) == 1000
    stages = [scale.stage_of(n, scale.production_number(1000))[0] for n in range(1, 1001)]
    assert stages.count("production") == 1
    assert set(stages) == set(Stage.values)


@pytest.mark.django_db
def test_loaded_data_passes_the_invariant_checks():
    load(models=2, versions=30, big=120)
    assert scale.validate(2 * 30 + 120, 3) == []
    big = RegisteredModel.objects.get(name=scale.BIG)
    assert big.last_number == 120
    production = selectors.production_version(model=big)
    assert production.number == 118
    assert production.promoted_at == production.stage_changed_at
    # The production version went through review and promotion, with its events.
    assert Review.objects.filter(model_version=production, decision="approve").count() == 1
    actions = list(
        AuditEvent.objects.filter(model_version=production)
        .order_by("created_at")
        .values_list("action", flat=True)
    )
    assert actions == [
        "version.registered",
        "review.requested",
        "review.submitted",
        "version.promoted",
    ]
    history = list(production.history.order_by("history_id").values_list("history_type", "stage"))
    assert history == [("+", "staging"), ("~", "production")]
    card = ModelCard.objects.get(model_version=production)
    assert card.current_revision.number == 1
    assert [h.history_type for h in card.history.order_by("history_id")] == ["+", "~"]


@pytest.mark.django_db
def test_the_registry_reads_the_loaded_data_and_goes_on_from_it(client):
    load(models=1, versions=30, big=0)
    model = RegisteredModel.objects.get(name="scale_0000")
    ds = User.objects.get(username="scale_ds")
    # The next registration takes the next number, and new ids after the loaded ones.
    mv = services.model_version_register(actor=ds, model=model, version="9.9.9")
    assert mv.number == 31
    assert mv.pk == ModelVersion.objects.order_by("-pk").values_list("pk", flat=True)[0]
    assert mv.card.current_revision.number == 1
    event = AuditEvent.objects.get(model_version=mv, action="version.registered")
    assert event.pk == AuditEvent.objects.order_by("-pk").values_list("pk", flat=True)[0]
    # A rollback restores the newest archived version that was in production: number 20
    # (28 is in production; 10 and 20 were promoted and superseded, 25 rolled back).
    release = User.objects.get(username="scale_release")
    restored = services.registered_model_rollback(actor=release, model=model, reason="bench")
    assert restored.number == 20
    assert selectors.production_version(model=model) == restored
    client.force_login(User.objects.get(username="scale_viewer"))
    page = client.get("/models/scale_0000/")
    assert page.status_code == 200
    assert "9.9.9" in page.content.decode()
    answer = client.get("/api/v1/models/scale_0000/production/")
    assert answer.status_code == 200
    assert answer.json()["version"] == restored.version


def test_only_picks_the_calls_named_and_refuses_a_name_that_matches_none():
    plan = [
        ("MLflow registered-models/search", "/api/2.0/mlflow/registered-models/search", False),
        ("MLflow model-versions/search (scale_big), page 1", "/api/2.0/mlflow/m", False),
        ("dashboard models list", "/", True),
    ]
    assert scale.select(plan, None) == plan
    assert scale.select(plan, ["mlflow"]) == plan[:2]
    assert scale.select(plan, ["MODEL-VERSIONS", "dashboard"]) == plan[1:]
    with pytest.raises(SystemExit, match="matches none of the calls"):
        scale.select(plan, ["no such call"])
