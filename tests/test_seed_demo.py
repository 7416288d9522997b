"""`manage.py seed_demo`: the demo state, idempotent, refused without DEBUG."""

from __future__ import annotations

from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import RequestFactory, override_settings

from approvals_app.models import CardRevision, Decision, Review
from approvals_app.selectors import card_for, review_inbox
from models_app import selectors
from models_app.enums import Action, Stage
from models_app.models import (
    AuditEvent,
    HealthSignal,
    ModelVersion,
    PromotionPolicy,
    RegisteredModel,
    Team,
)

DEMO_USERS = ["admin", "ds_fraud", "ds_pricing", "reviewer1", "reviewer2", "release_mgr"]
TRANSITIONS = [
    Action.VERSION_PROMOTED,
    Action.VERSION_ARCHIVED,
    Action.VERSION_ROLLED_BACK,
    Action.VERSION_RESTORED,
    Action.VERSION_DEPRECATED,
]


def seed(**options) -> str:
    out = StringIO()
    with override_settings(DEBUG=True):
        call_command("seed_demo", stdout=out, **options)
    return out.getvalue()


def _request():
    # Password checks need the request: the guessing limit counts per client address.
    return RequestFactory().post("/accounts/login/")


def stages(model_name: str) -> dict[str, str]:
    model = RegisteredModel.objects.get(name=model_name)
    return {v.version: v.stage for v in selectors.version_list(model=model)}


def snapshot() -> dict:
    """Row counts of everything the registry stores, history tables included."""
    history = {
        m._meta.label: m.objects.count()
        for app in ("models_app", "approvals_app")
        for m in apps.get_app_config(app).get_models()
        if m.__name__.startswith("Historical")
    }
    return {
        "users": get_user_model().objects.count(),
        "teams": Team.objects.count(),
        "models": RegisteredModel.objects.count(),
        "versions": ModelVersion.objects.count(),
        "policies": PromotionPolicy.objects.count(),
        "revisions": CardRevision.objects.count(),
        "reviews": Review.objects.count(),
        "audit_events": AuditEvent.objects.count(),
        "signals": HealthSignal.objects.count(),
        "stages": sorted(ModelVersion.objects.values_list("id", "stage")),
        **history,
    }


@pytest.fixture
def seeded(db) -> str:
    return seed()


def test_seed_demo_fraud_detector_has_production_history(seeded):
    assert stages("fraud_detector") == {
        "2.1.0": Stage.STAGING,
        "2.0.1": Stage.PRODUCTION,
        "2.0.0": Stage.ARCHIVED,
        "1.5.0-rc.1": Stage.DEPRECATED,
        "1.0.0": Stage.ARCHIVED,
    }
    model = RegisteredModel.objects.get(name="fraud_detector")
    assert model.team.slug == "fraud"
    archived = ModelVersion.objects.filter(registered_model=model, stage=Stage.ARCHIVED)
    # Both archived versions were in production before, so both are rollback targets.
    assert all(v.promoted_at is not None for v in archived)
    assert selectors.last_known_good(model=model).version == "2.0.0"


def test_seed_demo_fraud_detector_production_has_health_signals(seeded):
    model = RegisteredModel.objects.get(name="fraud_detector")
    production = selectors.production_version(model=model)
    latest = {s.metric: s for s in selectors.signals_latest(version=production)}
    assert sorted(latest) == ["drift_psi", "false_positive_rate", "p99_latency_ms"]
    assert latest["drift_psi"].window_seconds == 3600
    series = selectors.signal_series(version=production)
    assert {metric: len(points) for metric, points in series.items()} == {
        "drift_psi": 24,
        "false_positive_rate": 24,
        "p99_latency_ms": 24,
    }
    assert HealthSignal.objects.exclude(model_version=production).count() == 0


def test_seed_demo_fraud_detector_2_1_0_awaits_review(seeded):
    model = RegisteredModel.objects.get(name="fraud_detector")
    v210 = selectors.version_get(model=model, version="2.1.0")
    card = card_for(v210)
    assert card.review_requested_at is not None
    assert all(card.current_revision.sections().values())
    assert not Review.objects.filter(model_version=v210).exists()
    failed = [r.reason for r in selectors.promotion_checks(version=v210) if not r.passed]
    assert failed == ["0 of 1 required approvals of card revision 2"]


def test_seed_demo_fraud_detector_policy_and_lineage(seeded):
    model = RegisteredModel.objects.get(name="fraud_detector")
    policy = selectors.effective_policy(model=model)
    assert policy.registered_model_id == model.pk
    assert policy.thresholds == [
        {"metric": "accuracy", "min": 0.9},
        {"metric": "latency_ms", "max": 50.0},
    ]
    assert policy.key_metrics == [{"metric": "f1", "direction": "higher", "tolerance": 0.01}]
    site = PromotionPolicy.objects.get(is_site_default=True)
    assert site.required_approvals == 1
    assert site.required_card_sections == PromotionPolicy.DEFAULT_SECTIONS
    v201 = selectors.production_version(model=model)
    assert set(v201.metrics) == {"accuracy", "f1", "auc", "latency_ms"}
    assert v201.data_version == "s3://datasets/fraud/2026-09-01"
    assert len(v201.code_version) == 40
    assert v201.artifact_uri.startswith("s3://")
    assert len(v201.artifact_sha256) == 64
    assert v201.source_run


def test_seed_demo_price_optimizer_was_rolled_back(seeded):
    assert stages("price_optimizer") == {
        "1.2.0": Stage.STAGING,
        "1.1.0": Stage.ROLLED_BACK,
        "1.0.0": Stage.PRODUCTION,
    }
    rollback = AuditEvent.objects.get(
        model_name="price_optimizer", action=Action.VERSION_ROLLED_BACK
    )
    assert rollback.actor_username == "release_mgr"
    assert "weekend" in rollback.reason
    v120 = ModelVersion.objects.get(registered_model__name="price_optimizer", version="1.2.0")
    (objection,) = Review.objects.filter(model_version=v120)
    assert (objection.reviewer_username, objection.decision) == (
        "reviewer2",
        Decision.REQUEST_CHANGES,
    )
    assert objection.comment


def test_seed_demo_churn_forecaster_only_staging(seeded):
    assert set(stages("churn_forecaster").values()) == {Stage.STAGING}


def test_seed_demo_every_transition_has_actor_and_reason(seeded):
    events = AuditEvent.objects.filter(action__in=TRANSITIONS)
    assert events.count() >= 9
    assert all(e.reason.strip() and e.actor_username and e.request_id for e in events)
    superseded = events.get(
        model_name="fraud_detector", version_label="1.0.0", action=Action.VERSION_ARCHIVED
    )
    assert superseded.reason.startswith("superseded by 2.0.0: ")


def test_seed_demo_logins_work_with_demo_passwords(seeded):
    for username in DEMO_USERS:
        user = authenticate(_request(), username=username, password=f"demo-{username}")
        assert user is not None, username
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    ds_fraud = get_user_model().objects.get(username="ds_fraud")
    assert list(ds_fraud.groups.values_list("name", flat=True)) == ["contributor"]
    assert list(ds_fraud.teams.values_list("slug", flat=True)) == ["fraud"]
    assert authenticate(_request(), username="admin", password="admin") is None


def test_seed_demo_reviewer_inboxes(seeded):
    User = get_user_model()
    inbox1 = [str(v) for v in review_inbox(user=User.objects.get(username="reviewer1"))]
    inbox2 = [str(v) for v in review_inbox(user=User.objects.get(username="reviewer2"))]
    assert "fraud_detector 2.1.0" in inbox1
    assert "fraud_detector 2.1.0" in inbox2
    # reviewer2 has already answered 1.2.0's current revision; reviewer1 has not.
    assert "price_optimizer 1.2.0" in inbox1
    assert "price_optimizer 1.2.0" not in inbox2


def test_seed_demo_prints_logins_and_urls(seeded):
    for username in DEMO_USERS:
        assert f"demo-{username}" in seeded
    assert "release manager" in seeded
    assert "http://127.0.0.1:8000/" in seeded
    assert "http://127.0.0.1:8000/admin/" in seeded


def test_seed_demo_second_run_changes_nothing(seeded):
    before = snapshot()
    assert before["audit_events"] > 0
    assert before["models_app.HistoricalModelVersion"] > 0
    output = seed()
    assert snapshot() == before
    assert "nothing changed" in output
    assert "demo-admin" in output


def test_seed_demo_restores_a_changed_demo_password(seeded):
    admin = get_user_model().objects.get(username="admin")
    admin.set_password("something-else")
    admin.save()
    events = AuditEvent.objects.count()
    seed()
    assert authenticate(_request(), username="admin", password="demo-admin") is not None
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_seed_demo_refused_without_debug():
    with override_settings(DEBUG=False), pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", stdout=StringIO())
    assert not get_user_model().objects.filter(username__in=DEMO_USERS).exists()
    assert not RegisteredModel.objects.exists()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_seed_demo_forced_without_debug_seeds():
    with override_settings(DEBUG=False):
        call_command("seed_demo", "--force", stdout=StringIO())
    model = RegisteredModel.objects.get(name="fraud_detector")
    assert selectors.production_version(model=model).version == "2.0.1"


def test_seed_demo_admin_signs_in_and_sees_seeded_models(seeded, client):
    # The front door's promise: admin / demo-admin opens the admin.
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "admin", "password": "demo-admin"},
        secure=True,
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    page = client.get("/admin/models_app/registeredmodel/", secure=True)
    assert page.status_code == 200
    html = page.content.decode()
    for name in ("fraud_detector", "price_optimizer", "churn_forecaster"):
        assert name in html


def test_seed_demo_gives_each_step_a_request_of_its_own(seeded):
    """The audit log groups one request's events: a promotion's archived and promoted,
    a rollback's rolled back and restored; the review before is another entry."""
    rollback = AuditEvent.objects.get(action=Action.VERSION_ROLLED_BACK)
    restored = AuditEvent.objects.get(action=Action.VERSION_RESTORED)
    assert rollback.request_id == restored.request_id
    promoted = AuditEvent.objects.get(
        model_name="fraud_detector", version_label="2.0.1", action=Action.VERSION_PROMOTED
    )
    archived = AuditEvent.objects.get(pk=promoted.pk - 1)
    assert archived.action == Action.VERSION_ARCHIVED
    assert archived.request_id == promoted.request_id
    review = AuditEvent.objects.filter(
        model_name="fraud_detector", version_label="2.0.1", action=Action.REVIEW_SUBMITTED
    ).get()
    assert review.request_id != promoted.request_id
    assert promoted.request_id.startswith("seed-demo-")
