"""Promotion guards on metrics and artifacts, through model_version_promote.

Each case is refused with GuardsFailed naming the failed guard and its reason, lists
every guard (passed or not) in `details`, and passes once fixed. The review and model
card guards are in tests/approvals_app/test_review_guards.py.
"""

from __future__ import annotations

import pytest

from models_app import selectors, services
from models_app.enums import Stage
from models_app.exceptions import GuardsFailed
from models_app.guards import GuardResult, no_regression_results, threshold_results
from models_app.models import AuditEvent, ModelVersion
from tests.factories import make_promotable, register


@pytest.fixture
def candidate(people, model):
    """Register an approved version with the given metrics."""

    def _candidate(version: str, metrics: dict) -> ModelVersion:
        v = register(actor=people.author, model=model, version=version, metrics=metrics)
        return make_promotable(v, author=people.author, reviewer=people.reviewer)

    return _candidate


def _policy(people, model, **fields):
    return services.policy_update(actor=people.admin, model=model, reason="test policy", **fields)


def _refused(people, version) -> GuardsFailed:
    with pytest.raises(GuardsFailed) as excinfo:
        services.model_version_promote(actor=people.release, version=version, reason="go")
    version.refresh_from_db()
    assert version.stage == Stage.STAGING
    assert excinfo.value.status == 409
    return excinfo.value


def _promote(people, version) -> ModelVersion:
    v = services.model_version_promote(actor=people.release, version=version, reason="go")
    assert v.stage == Stage.PRODUCTION
    return v


def _by_guard(exc: GuardsFailed) -> dict[str, dict]:
    return {d["guard"]: d for d in exc.details}


def test_threshold_min_refused_with_reason_then_passes(people, model, candidate):
    _policy(people, model, thresholds=[{"metric": "accuracy", "min": 0.9}])
    low = candidate("1.0.0", {"accuracy": 0.87})
    exc = _refused(people, low)
    guards = _by_guard(exc)
    assert set(guards) == {"threshold:accuracy", "review", "model_card"}
    assert guards["threshold:accuracy"] == {
        "guard": "threshold:accuracy",
        "passed": False,
        "reason": "accuracy 0.87 < required 0.9",
    }
    assert guards["review"]["passed"] and guards["model_card"]["passed"]
    assert "accuracy 0.87 < required 0.9" in exc.message
    [failure] = exc.failures
    assert failure.guard == "threshold:accuracy"

    # Metrics are identity: the fix is a better version.
    _promote(people, candidate("1.0.1", {"accuracy": 0.91}))


def test_threshold_max_refused_with_reason_then_passes(people, model, candidate):
    _policy(people, model, thresholds=[{"metric": "latency_ms", "max": 50}])
    slow = candidate("1.0.0", {"latency_ms": 60})
    guards = _by_guard(_refused(people, slow))
    assert guards["threshold:latency_ms"]["reason"] == "latency_ms 60 > allowed 50"
    # Or the policy is relaxed by an admin: the same version now passes.
    _policy(people, model, thresholds=[{"metric": "latency_ms", "max": 80}])
    _promote(people, slow)


def test_threshold_on_missing_metric_is_refused(people, model, candidate):
    _policy(people, model, thresholds=[{"metric": "auc", "min": 0.8}])
    guards = _by_guard(_refused(people, candidate("1.0.0", {"accuracy": 0.99})))
    assert guards["threshold:auc"]["passed"] is False
    assert "auc is missing" in guards["threshold:auc"]["reason"]


def test_no_regression_higher_is_better_beyond_epsilon_refused(people, model, candidate):
    _policy(people, model, key_metrics=[{"metric": "f1", "direction": "higher", "tolerance": 0.01}])
    _promote(people, candidate("1.0.0", {"f1": 0.90}))
    worse = candidate("1.1.0", {"f1": 0.88})
    guards = _by_guard(_refused(people, worse))
    assert set(guards) == {"no_regression:f1", "review", "model_card"}
    assert guards["no_regression:f1"]["passed"] is False
    assert guards["no_regression:f1"]["reason"] == (
        "regresses: f1 0.88 vs production 1.0.0 0.9 (needs > 0.89, tolerance 0.01)"
    )
    # Within ε of production passes.
    _promote(people, candidate("1.2.0", {"f1": 0.895}))


def test_no_regression_lower_is_better_beyond_epsilon_refused(people, model, candidate):
    _policy(
        people, model, key_metrics=[{"metric": "latency_ms", "direction": "lower", "tolerance": 2}]
    )
    _promote(people, candidate("1.0.0", {"latency_ms": 40}))
    guards = _by_guard(_refused(people, candidate("1.1.0", {"latency_ms": 45})))
    assert guards["no_regression:latency_ms"]["reason"] == (
        "regresses: latency_ms 45 vs production 1.0.0 40 (needs < 42, tolerance 2)"
    )
    _promote(people, candidate("1.2.0", {"latency_ms": 41}))


def test_no_regression_missing_key_metric_refused(people, model, candidate):
    _policy(people, model, key_metrics=[{"metric": "f1", "direction": "higher", "tolerance": 0}])
    _promote(people, candidate("1.0.0", {"f1": 0.8}))
    guards = _by_guard(_refused(people, candidate("1.1.0", {"accuracy": 0.99})))
    assert guards["no_regression:f1"] == {
        "guard": "no_regression:f1",
        "passed": False,
        "reason": "key metric f1 is missing",
    }
    _promote(people, candidate("1.2.0", {"f1": 0.81}))


def test_no_regression_without_production_version_passes(people, model, candidate):
    _policy(people, model, key_metrics=[{"metric": "f1", "direction": "higher", "tolerance": 0}])
    v = candidate("1.0.0", {"f1": 0.1})
    checks = {r.guard: r for r in selectors.promotion_checks(version=v)}
    assert checks["no_regression:f1"].passed
    assert "no version in production" in checks["no_regression:f1"].reason
    _promote(people, v)


def test_checksum_guard_refused_then_passes_once_recorded(people, model, candidate):
    _policy(people, model, require_checksum=True)
    v = candidate("1.0.0", {"accuracy": 0.95})
    guards = _by_guard(_refused(people, v))
    assert guards["checksum"] == {
        "guard": "checksum",
        "passed": False,
        "reason": "artifact checksum not recorded",
    }
    services.model_version_attach_artifact(
        actor=people.author, version=v, uri="registry://fraud/1.0.0", sha256="e" * 64, size=3
    )
    _promote(people, v)


def test_every_failed_guard_is_reported_together(people, model):
    _policy(
        people,
        model,
        thresholds=[{"metric": "accuracy", "min": 0.9}, {"metric": "latency_ms", "max": 50}],
        key_metrics=[{"metric": "f1", "direction": "higher", "tolerance": 0}],
        require_checksum=True,
    )
    v = register(
        actor=people.author, model=model, version="1.0.0", metrics={"accuracy": 0.5, "f1": 0.7}
    )
    exc = _refused(people, v)
    guards = _by_guard(exc)
    assert set(guards) == {
        "threshold:accuracy",
        "threshold:latency_ms",
        "no_regression:f1",
        "review",
        "model_card",
        "checksum",
    }
    failed = {g for g, d in guards.items() if not d["passed"]}
    assert failed == set(guards) - {"no_regression:f1"}
    assert [f.guard for f in exc.failures] == [g for g in guards if g in failed]


def test_dry_run_changes_nothing_and_matches_promotion(people, model, candidate):
    _policy(people, model, thresholds=[{"metric": "accuracy", "min": 0.9}])
    v = candidate("1.0.0", {"accuracy": 0.87})
    counts = (
        AuditEvent.objects.count(),
        ModelVersion.history.count(),
        ModelVersion.objects.get(pk=v.pk).stage_changed_at,
    )
    checks = selectors.promotion_checks(version=v)
    assert all(isinstance(r, GuardResult) for r in checks)
    assert counts == (
        AuditEvent.objects.count(),
        ModelVersion.history.count(),
        ModelVersion.objects.get(pk=v.pk).stage_changed_at,
    )
    exc = _refused(people, v)
    assert exc.details == [r.as_dict() for r in checks]


def test_policy_falls_back_to_site_default(people, model, candidate):
    services.policy_update(
        actor=people.admin, model=None, thresholds=[{"metric": "accuracy", "min": 0.99}]
    )
    v = candidate("1.0.0", {"accuracy": 0.95})
    assert selectors.effective_policy(model=model).is_site_default
    assert "accuracy 0.95 < required 0.99" in _refused(people, v).message
    _policy(people, model, thresholds=[])
    _promote(people, v)


# --- The guard functions themselves: pure, so boundaries are exact -----------------------


def test_threshold_boundaries_are_inclusive():
    rules = [{"metric": "a", "min": 0.5}, {"metric": "b", "max": 0.25}]
    results = threshold_results({"a": 0.5, "b": 0.25}, rules)
    assert [r.passed for r in results] == [True, True]
    results = threshold_results({"a": 0.4999, "b": 0.2501}, rules)
    assert [r.passed for r in results] == [False, False]


@pytest.mark.parametrize(
    ("direction", "new", "passed"),
    [
        ("higher", 0.5, False),  # new > old − ε is strict: exactly old − ε fails
        ("higher", 0.5001, True),
        ("lower", 1.0, False),  # new < old + ε is strict
        ("lower", 0.9999, True),
    ],
)
def test_no_regression_boundaries_are_strict(direction, new, passed):
    old = 0.75
    rule = [{"metric": "m", "direction": direction, "tolerance": 0.25}]
    [result] = no_regression_results({"m": new}, {"m": old}, "1.0.0", rule)
    assert result.passed is passed
    assert result.reason.startswith("regresses: ") is (not passed)
