"""The lifecycle through the services: every state × every transition.

Each starting state is built only through the services, as a door would build it. A
transition that the state does not allow is refused with InvalidTransition naming the
state; an allowed one leaves the expected stages on the version and on its neighbours.
"""

from __future__ import annotations

import pytest

from models_app import selectors, services
from models_app.enums import Stage
from models_app.exceptions import InvalidTransition
from models_app.models import ModelVersion
from tests.factories import make_promotable, register

REASON = "matrix test"


def _build(state: str, *, people, model, promote) -> tuple[ModelVersion, ModelVersion | None]:
    """Put version 1.0.0 (`v`) in `state`; `other` is another version, in production
    whenever `v` is not, so that rollback has something to take out of production."""
    if state == Stage.STAGING:
        other = promote(model, "0.1.0")
        v = register(actor=people.author, model=model, version="1.0.0")
        # Approved, so that promotion's only question is the stage.
        make_promotable(v, author=people.author, reviewer=people.reviewer)
    elif state == Stage.PRODUCTION:
        other = None
        v = promote(model, "1.0.0")
    elif state == Stage.ARCHIVED:
        v = promote(model, "1.0.0")
        other = promote(model, "2.0.0")  # supersedes v: archived after production
    elif state == Stage.ROLLED_BACK:
        other = promote(model, "0.1.0")
        v = promote(model, "1.0.0")
        services.registered_model_rollback(actor=people.release, model=model, reason="bad")
    else:
        other = promote(model, "0.1.0")
        v = register(actor=people.author, model=model, version="1.0.0")
        services.model_version_deprecate(actor=people.release, version=v, reason="old")
    v.refresh_from_db()
    assert v.stage == state
    return v, other


def _apply(transition: str, *, v: ModelVersion, people, model) -> ModelVersion:
    if transition == "promote":
        return services.model_version_promote(actor=people.release, version=v, reason=REASON)
    if transition == "archive":
        return services.model_version_archive(actor=people.release, version=v, reason=REASON)
    if transition == "deprecate":
        return services.model_version_deprecate(actor=people.release, version=v, reason=REASON)
    # Rollback is a transition of the model; as a transition *of this version* it means
    # "roll the model back to this version".
    return services.registered_model_rollback(
        actor=people.release, model=model, reason=REASON, to_version=v.version
    )


# (state, transition) → (stage of v afterwards, stage of `other` afterwards)
ALLOWED = {
    (Stage.STAGING, "promote"): (Stage.PRODUCTION, Stage.ARCHIVED),
    (Stage.STAGING, "archive"): (Stage.ARCHIVED, Stage.PRODUCTION),
    (Stage.STAGING, "deprecate"): (Stage.DEPRECATED, Stage.PRODUCTION),
    (Stage.PRODUCTION, "archive"): (Stage.ARCHIVED, None),
    (Stage.ARCHIVED, "rollback"): (Stage.PRODUCTION, Stage.ROLLED_BACK),
    (Stage.ARCHIVED, "deprecate"): (Stage.DEPRECATED, Stage.PRODUCTION),
    (Stage.ROLLED_BACK, "deprecate"): (Stage.DEPRECATED, Stage.PRODUCTION),
}
TRANSITIONS = ["promote", "archive", "rollback", "deprecate"]
MATRIX = [(state, transition) for state in Stage.values for transition in TRANSITIONS]


@pytest.mark.parametrize(("state", "transition"), MATRIX)
def test_transition_matrix_allows_only_spec_transitions(people, model, promote, state, transition):
    v, other = _build(state, people=people, model=model, promote=promote)
    if (state, transition) in ALLOWED:
        expected_v, expected_other = ALLOWED[(state, transition)]
        _apply(transition, v=v, people=people, model=model)
        v.refresh_from_db()
        assert v.stage == expected_v
        if other is not None:
            other.refresh_from_db()
            assert other.stage == expected_other
    else:
        before = dict(ModelVersion.objects.values_list("version", "stage"))
        with pytest.raises(InvalidTransition) as excinfo:
            _apply(transition, v=v, people=people, model=model)
        assert f"'{state}'" in excinfo.value.message
        assert excinfo.value.status == 409
        assert dict(ModelVersion.objects.values_list("version", "stage")) == before
    assert ModelVersion.objects.filter(registered_model=model, stage=Stage.PRODUCTION).count() <= 1


def test_transition_matrix_covers_every_state_and_transition():
    assert len(MATRIX) == len(Stage.values) * 4 == 20
    assert {s for s, _ in ALLOWED} <= set(Stage.values)


def test_deprecated_is_terminal_for_every_service(people, model, promote):
    v, _ = _build(Stage.DEPRECATED, people=people, model=model, promote=promote)
    for transition in TRANSITIONS:
        with pytest.raises(InvalidTransition, match="'deprecated'"):
            _apply(transition, v=v, people=people, model=model)


# --- Rollback --------------------------------------------------------------------------


def test_rollback_default_target_is_last_known_good(people, model, promote):
    first = promote(model, "1.0.0")
    second = promote(model, "1.1.0")
    third = promote(model, "1.2.0")
    assert selectors.last_known_good(model=model).pk == second.pk
    restored = services.registered_model_rollback(actor=people.release, model=model, reason="bad")
    assert restored.pk == second.pk
    stages = dict(ModelVersion.objects.values_list("pk", "stage"))
    assert stages == {
        first.pk: Stage.ARCHIVED,
        second.pk: Stage.PRODUCTION,
        third.pk: Stage.ROLLED_BACK,
    }


def test_rollback_named_target_restores_that_version(people, model, promote):
    first = promote(model, "1.0.0")
    promote(model, "1.1.0")
    third = promote(model, "1.2.0")
    restored = services.registered_model_rollback(
        actor=people.release, model=model, reason="back to 1.0.0", to_version="1.0.0"
    )
    assert restored.pk == first.pk
    third.refresh_from_db()
    assert (restored.stage, third.stage) == (Stage.PRODUCTION, Stage.ROLLED_BACK)


def test_rollback_twice_walks_back_through_archived_versions(people, model, promote):
    first = promote(model, "1.0.0")
    promote(model, "1.1.0")
    promote(model, "1.2.0")
    services.registered_model_rollback(actor=people.release, model=model, reason="bad 1.2.0")
    restored = services.registered_model_rollback(
        actor=people.release, model=model, reason="bad 1.1.0"
    )
    assert restored.pk == first.pk
    assert sorted(ModelVersion.objects.values_list("stage", flat=True)) == [
        Stage.PRODUCTION,
        Stage.ROLLED_BACK,
        Stage.ROLLED_BACK,
    ]


def test_rollback_refuses_target_never_in_production(people, model, promote):
    never = register(actor=people.author, model=model, version="0.9.0")
    services.model_version_archive(actor=people.release, version=never, reason="skip")
    promote(model, "1.0.0")
    with pytest.raises(InvalidTransition, match="never in production"):
        services.registered_model_rollback(
            actor=people.release, model=model, reason="x", to_version="0.9.0"
        )
    # …and the default target skips it: there is no last known good version.
    with pytest.raises(InvalidTransition, match="no earlier production version"):
        services.registered_model_rollback(actor=people.release, model=model, reason="x")


def test_rollback_refuses_rolled_back_target(people, model, promote):
    promote(model, "1.0.0")
    promote(model, "1.1.0")
    promote(model, "1.2.0")
    services.registered_model_rollback(actor=people.release, model=model, reason="bad 1.2.0")
    with pytest.raises(InvalidTransition, match="'rolled_back'"):
        services.registered_model_rollback(
            actor=people.release, model=model, reason="x", to_version="1.2.0"
        )


def test_rollback_refuses_deprecated_target(people, model, promote):
    old = promote(model, "1.0.0")
    promote(model, "1.1.0")
    services.model_version_deprecate(actor=people.release, version=old, reason="retired")
    with pytest.raises(InvalidTransition, match="'deprecated'"):
        services.registered_model_rollback(
            actor=people.release, model=model, reason="x", to_version="1.0.0"
        )
    with pytest.raises(InvalidTransition, match="no earlier production version"):
        services.registered_model_rollback(actor=people.release, model=model, reason="x")


def test_rollback_refused_without_production_version(people, model, promote):
    promote(model, "1.0.0")
    current = promote(model, "1.1.0")
    services.model_version_archive(actor=people.release, version=current, reason="pulled")
    with pytest.raises(InvalidTransition, match="no version is in production"):
        services.registered_model_rollback(actor=people.release, model=model, reason="x")


def test_rollback_refused_without_earlier_production_version(people, model, promote):
    promote(model, "1.0.0")
    with pytest.raises(InvalidTransition, match="no earlier production version"):
        services.registered_model_rollback(actor=people.release, model=model, reason="x")
    assert selectors.production_version(model=model).version == "1.0.0"


def test_rollback_to_unknown_version_is_not_found(people, model, promote):
    from models_app.exceptions import NotFound

    promote(model, "1.0.0")
    with pytest.raises(NotFound):
        services.registered_model_rollback(
            actor=people.release, model=model, reason="x", to_version="9.9.9"
        )


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_transitions_require_a_reason(people, model, promote, reason):
    from django.core.exceptions import ValidationError

    v = register(actor=people.author, model=model, version="1.0.0")
    for call in (
        services.model_version_promote,
        services.model_version_archive,
        services.model_version_deprecate,
    ):
        with pytest.raises(ValidationError) as excinfo:
            call(actor=people.release, version=v, reason=reason)
        assert "reason" in excinfo.value.message_dict
    with pytest.raises(ValidationError):
        services.registered_model_rollback(actor=people.release, model=model, reason=reason)
    v.refresh_from_db()
    assert v.stage == Stage.STAGING
