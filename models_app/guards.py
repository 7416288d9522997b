"""Promotion guards: pure functions from data to pass/fail with a human reason.

The dry run, the 409 answer of a refused promotion and the dashboard's checklist all
show these same results. Apps that add guards (approvals_app adds the review and model
card guards) register a provider with `register_guard_provider`; models_app never imports
them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class GuardResult:
    guard: str
    passed: bool
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


def fmt(number: float) -> str:
    """A metric value as people write it: 0.87, 50, 1.2e-05."""
    return f"{number:.6g}"


def threshold_results(metrics: dict[str, float], thresholds: Iterable[dict]) -> list[GuardResult]:
    results = []
    for rule in thresholds:
        name = rule["metric"]
        value = metrics.get(name)
        if "min" in rule:
            bound, op, word = float(rule["min"]), "≥", "required"
        else:
            bound, op, word = float(rule["max"]), "≤", "allowed"
        guard = f"threshold:{name}"
        if value is None:
            results.append(
                GuardResult(guard, False, f"{name} is missing ({word} {op} {fmt(bound)})")
            )
        elif "min" in rule and value < bound:
            results.append(
                GuardResult(guard, False, f"{name} {fmt(value)} < required {fmt(bound)}")
            )
        elif "max" in rule and value > bound:
            results.append(GuardResult(guard, False, f"{name} {fmt(value)} > allowed {fmt(bound)}"))
        else:
            results.append(GuardResult(guard, True, f"{name} {fmt(value)} {op} {fmt(bound)}"))
    return results


def no_regression_results(
    metrics: dict[str, float],
    production_metrics: dict[str, float] | None,
    production_label: str,
    key_metrics: Iterable[dict],
) -> list[GuardResult]:
    """Each key metric against the production version, within its tolerance ε.

    Higher-is-better passes when new > old − ε; lower-is-better when new < old + ε. A key
    metric the candidate lacks fails; with no production version every metric passes.
    """
    results = []
    for rule in key_metrics:
        name, direction = rule["metric"], rule.get("direction", "higher")
        eps = float(rule.get("tolerance", 0.0))
        guard = f"no_regression:{name}"
        value = metrics.get(name)
        if value is None:
            results.append(GuardResult(guard, False, f"key metric {name} is missing"))
            continue
        if production_metrics is None:
            results.append(
                GuardResult(guard, True, f"{name}: no version in production to compare with")
            )
            continue
        old = production_metrics.get(name)
        if old is None:
            results.append(
                GuardResult(guard, True, f"{name}: production {production_label} has no value")
            )
            continue
        if direction == "lower":
            ok, limit, op = value < old + eps, old + eps, "<"
        else:
            ok, limit, op = value > old - eps, old - eps, ">"
        verdict = "" if ok else "regresses: "
        results.append(
            GuardResult(
                guard,
                ok,
                f"{verdict}{name} {fmt(value)} vs production {production_label} {fmt(old)} "
                f"(needs {op} {fmt(limit)}, tolerance {fmt(eps)})",
            )
        )
    return results


def metric_directions(
    *, key_metrics: Iterable[dict], declared: dict[str, str], thresholds: Iterable[dict]
) -> dict[str, str]:
    """Metric name → "higher" or "lower": which way each metric improves, for everything
    that calls a change better or worse (the dashboard's tables, compare page and chart).

    A key metric's own direction comes first (the no-regression guard judges by it), then
    a direction the policy declares for the metric, then a threshold's bound (a `max`
    means lower is better, a `min` higher). A metric none of them names has no direction:
    its changes are neither better nor worse.
    """
    found: dict[str, str] = {}
    for rule in key_metrics or []:
        found.setdefault(rule["metric"], rule.get("direction", "higher"))
    for name, direction in (declared or {}).items():
        found.setdefault(name, direction)
    for rule in thresholds or []:
        found.setdefault(rule["metric"], "lower" if "max" in rule else "higher")
    return found


def checksum_result(sha256: str, required: bool) -> list[GuardResult]:
    if not required:
        return []
    if sha256:
        return [GuardResult("checksum", True, "artifact checksum recorded")]
    return [GuardResult("checksum", False, "artifact checksum not recorded")]


# Providers: callables (version, policy) -> list[GuardResult], added by other apps.
GuardProvider = Callable[..., list[GuardResult]]
_providers: list[GuardProvider] = []


def register_guard_provider(provider: GuardProvider) -> None:
    if provider not in _providers:
        _providers.append(provider)


def guard_providers() -> list[GuardProvider]:
    return list(_providers)


# --- Many versions at once -------------------------------------------------------------------
#
# The dashboard's lists show, for each staging version on the page, how many of its guards
# pass and where its review stands. Asking each provider once per version would cost a few
# queries per row; a provider registered with `many` answers for a whole page at once.


@dataclass(frozen=True)
class GuardReport:
    """One provider's answer for one version: its guards' results, and facts the lists
    show beside them (the provider that owns reviews adds `review_state`)."""

    results: list[GuardResult]
    facts: dict


# (pairs of (version, policy)) -> {version pk: GuardReport}, in a bounded number of queries
# whatever the number of pairs; its results are those the provider gives for each version.
BulkGuardProvider = Callable[[list[tuple]], dict[int, GuardReport]]
_bulk: dict[GuardProvider, BulkGuardProvider] = {}


def register_bulk_guard_provider(provider: GuardProvider, many: BulkGuardProvider) -> None:
    """Let the lists ask `many` instead of calling `provider` once per version."""
    register_guard_provider(provider)
    _bulk[provider] = many


def bulk_guard_providers() -> list[BulkGuardProvider]:
    """Each provider's bulk reader; a provider without one is called once per version."""

    def one_by_one(provider: GuardProvider) -> BulkGuardProvider:
        def many(pairs: list[tuple]) -> dict[int, GuardReport]:
            return {v.pk: GuardReport(provider(version=v, policy=p), {}) for v, p in pairs}

        return many

    return [_bulk.get(provider) or one_by_one(provider) for provider in _providers]


# Where a version's review stands, as the lists show it.
REVIEW_STATES = {
    "not_requested": "review not requested",
    "awaiting": "awaiting review",
    "approved": "approved",
    "changes_requested": "changes requested",
    "rejected": "rejected",
}


@dataclass(frozen=True)
class Readiness:
    """Every guard's result for one version, with the facts the providers add: what the
    lists show as "N of M guards pass" and the review's state."""

    results: list[GuardResult]
    facts: dict

    @property
    def passing(self) -> int:
        return sum(1 for r in self.results if r.passed)

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def all_pass(self) -> bool:
        return self.passing == self.total

    @property
    def review_state(self) -> str:
        return self.facts.get("review_state", "")

    @property
    def review_label(self) -> str:
        return REVIEW_STATES.get(self.review_state, "")
