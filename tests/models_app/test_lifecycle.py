"""The lifecycle graph has one source, the state machine on ModelVersion.stage: every table
derived from it (models_app.lifecycle, the services' refusals, the MLflow door's stage
names, federation's walks) says what the @transition declarations and can_proceed say."""

from __future__ import annotations

import datetime as dt
import re
from itertools import product

import pytest
from django_fsm import can_proceed

from mlflow_app import wire
from models_app import lifecycle, services
from models_app.enums import Action, Stage
from models_app.exceptions import InvalidTransition
from models_app.models import ModelVersion
from tests.factories import register

ONCE = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def probe(stage: str, *, promoted: bool = False) -> ModelVersion:
    """An unsaved version in `stage`, in production before or not."""
    return ModelVersion(stage=stage, promoted_at=ONCE if promoted else None)


def declared() -> list:
    return list(ModelVersion().get_all_stage_transitions())


def test_the_steps_are_the_declared_transitions():
    assert sorted(lifecycle.steps()) == sorted(
        (t.name, t.source, t.target, t.custom["audit_action"]) for t in declared()
    )
    assert lifecycle.names() == sorted({t.name for t in declared()})
    # The services call these transitions by name.
    assert set(lifecycle.names()) == {"promote", "archive", "roll_back", "restore", "deprecate"}


@pytest.mark.parametrize("name", ["promote", "archive", "roll_back", "restore", "deprecate"])
def test_sources_are_the_stages_the_state_machine_lets_the_transition_run_from(name):
    runs_from = [
        stage
        for stage in Stage.values
        if can_proceed(getattr(probe(stage), name), check_conditions=False)
    ]
    assert list(lifecycle.sources(name)) == runs_from
    for stage in Stage.values:
        assert lifecycle.allows(stage, name) is (stage in runs_from)


@pytest.mark.parametrize("name", ["promote", "archive", "roll_back", "restore", "deprecate"])
def test_targets_and_audit_actions_are_the_transitions_own(name):
    for stage in lifecycle.sources(name):
        version = probe(stage, promoted=True)
        getattr(version, name)()
        assert lifecycle.targets(name) == (version.stage,)
    assert lifecycle.audit_action(name) in Action.values


@pytest.mark.parametrize("name", ["promote", "archive", "roll_back", "restore", "deprecate"])
def test_allowed_from_lists_exactly_the_sources(name):
    text = lifecycle.allowed_from(name)
    assert tuple(re.split(r", | or ", text)) == lifecycle.sources(name)


def test_the_allowed_from_wording_is_unchanged():
    assert lifecycle.allowed_from("promote") == "staging"
    assert lifecycle.allowed_from("archive") == "staging or production"
    assert lifecycle.allowed_from("deprecate") == "staging, archived or rolled_back"


def test_a_stage_left_by_no_transition_is_final():
    for stage in Stage.values:
        leaving = [t for t in declared() if t.source == stage]
        assert lifecycle.leaves(stage) is bool(leaving)
    assert not lifecycle.leaves(Stage.DEPRECATED)


def test_new_versions_start_in_the_initial_stage(people, model):
    assert register(actor=people.author, model=model).stage == lifecycle.initial_stage()


@pytest.mark.parametrize(
    ("verb", "call"),
    [
        ("promote", services.model_version_promote),
        ("archive", services.model_version_archive),
        ("deprecate", services.model_version_deprecate),
    ],
)
def test_refusals_name_the_stages_the_graph_allows(people, model, promote, verb, call):
    version = promote(model, "1.0.0")
    services.model_version_archive(actor=people.release, version=version, reason="r")
    services.model_version_deprecate(actor=people.release, version=version, reason="r")
    with pytest.raises(InvalidTransition) as refused:
        call(actor=people.admin, version=version, reason="r")
    assert refused.value.message == (
        f"Cannot {verb} fraud_detector 1.0.0: it is in stage 'deprecated'; "
        f"{verb} is allowed from {lifecycle.allowed_from(verb)}."
    )


def test_mlflow_stage_names_follow_the_graph():
    assert wire.STAGE_TO_MLFLOW == {
        Stage.STAGING: "Staging",
        Stage.PRODUCTION: "Production",
        Stage.ARCHIVED: "Archived",
        Stage.ROLLED_BACK: "Archived",
        Stage.DEPRECATED: "Archived",
    }
    assert wire.STAGE_TO_MLFLOW[lifecycle.initial_stage()] == "Staging"
    assert {wire.STAGE_TO_MLFLOW[s] for s in lifecycle.targets("promote")} == {"Production"}


def reachable(stage: str, promoted: bool) -> set[tuple[str, bool]]:
    """Every (stage, was in production) a version can get to, found by running every
    transition can_proceed allows on probes, however long the way."""
    seen = {(stage, promoted)}
    todo = [(stage, promoted)]
    while todo:
        here, was = todo.pop()
        for name in lifecycle.names():
            version = probe(here, promoted=was)
            method = getattr(version, name)
            if can_proceed(method):
                method()
                state = (version.stage, version.promoted_at is not None)
                if state not in seen:
                    seen.add(state)
                    todo.append(state)
    return seen


@pytest.mark.parametrize("promoted", [False, True])
@pytest.mark.parametrize("stage", Stage.values)
def test_a_walk_exists_exactly_when_the_state_machine_gets_there(stage, promoted):
    for target, want_promoted in product(Stage.values, [False, True]):
        walk = lifecycle.path(stage, promoted, target, want_promoted)
        goal_reached = any(
            here == target and (was or not want_promoted or not lifecycle.leaves(target))
            for here, was in reachable(stage, promoted)
        )
        assert (walk is not None) is goal_reached, (target, want_promoted)
        version = probe(stage, promoted=promoted)
        for step in walk or []:
            assert version.stage == step.source
            method = getattr(version, step.name)
            assert can_proceed(method)
            method()
            assert version.stage == step.target
        if walk is not None:
            assert version.stage == target
            assert (
                version.promoted_at is not None
                or not want_promoted
                or not (lifecycle.leaves(target))
            )


@pytest.mark.parametrize(
    ("stage", "promoted", "target", "want_promoted"),
    [
        # Nothing leaves a deprecated version.
        (Stage.DEPRECATED, False, Stage.PRODUCTION, True),
        (Stage.DEPRECATED, True, Stage.ARCHIVED, False),
        # A rolled-back version is only deprecated.
        (Stage.ROLLED_BACK, True, Stage.PRODUCTION, True),
        # Never in production: not restored.
        (Stage.ARCHIVED, False, Stage.PRODUCTION, False),
        # No way back to staging.
        (Stage.PRODUCTION, True, Stage.STAGING, False),
    ],
)
def test_walks_the_state_machine_does_not_allow_are_none(stage, promoted, target, want_promoted):
    assert lifecycle.path(stage, promoted, target, want_promoted) is None
