"""Refusals become answers in one place (models_app.errors), which every door renders."""

from __future__ import annotations

import json
import logging

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError
from django.http import Http404
from django_fsm import TransitionNotAllowed

from mlflow_app.views import MLFLOW_CODES, refusal_response
from models_app.admin import ServiceModelForm
from models_app.api.common import api_exception_handler
from models_app.errors import ANSWERS, REFUSALS, answer_for
from models_app.exceptions import (
    Conflict,
    GuardsFailed,
    InvalidTransition,
    Kind,
    NotAllowed,
    NotFound,
    RegistryError,
)
from models_app.guards import GuardResult
from models_app.models import Team
from models_app.views import refusal_status, refusal_text


def _summary(answer) -> tuple:
    return (answer.status, answer.code, answer.kind, answer.message, answer.details)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (RegistryError("Bad."), (400, "invalid", Kind.INVALID)),
        (NotAllowed("No."), (403, "permission_denied", Kind.PERMISSION_DENIED)),
        (NotFound("Gone."), (404, "not_found", Kind.NOT_FOUND)),
        (Conflict("Taken."), (409, "conflict", Kind.CONFLICT)),
        (InvalidTransition("Not now."), (409, "invalid_transition", Kind.CONFLICT)),
    ],
)
def test_a_registry_error_answers_with_its_own_status_code_and_kind(exc, expected):
    answer = answer_for(exc)
    assert (answer.status, answer.code, answer.kind) == expected
    assert (answer.message, answer.text, answer.messages) == (
        exc.message,
        exc.message,
        (exc.message,),
    )
    assert answer.fields is None


def test_guards_failed_keeps_every_guard_result_as_details():
    failed = GuardResult("review", False, "0 of 1 required approvals")
    passed = GuardResult("threshold", True, "accuracy 0.95 >= 0.9")
    answer = answer_for(GuardsFailed([failed], results=[passed, failed]))
    assert _summary(answer) == (
        409,
        "guards_failed",
        Kind.CONFLICT,
        "Promotion refused: 0 of 1 required approvals",
        [passed.as_dict(), failed.as_dict()],
    )


def test_a_validation_error_that_names_fields():
    exc = ValidationError(
        {"version": ["Not SemVer.", "Too long."], "__all__": ["Nothing was saved."]}
    )
    answer = answer_for(exc)
    assert (answer.status, answer.code, answer.kind) == (400, "invalid", Kind.INVALID)
    assert answer.fields == {
        "version": ["Not SemVer.", "Too long."],
        "__all__": ["Nothing was saved."],
    }
    # The API's details name the input as a whole as DRF does.
    assert answer.details == {
        "version": ["Not SemVer.", "Too long."],
        "non_field_errors": ["Nothing was saved."],
    }
    assert answer.message == "version: Not SemVer. Too long.; Nothing was saved."
    assert answer.summary({"version": "semver tag"}) == (
        "semver tag: Not SemVer. Too long.; Nothing was saved."
    )
    assert answer.text == "Not SemVer. Too long. Nothing was saved."
    rest = answer.without_field("version")
    assert (rest.fields, rest.text) == ({"__all__": ["Nothing was saved."]}, "Nothing was saved.")


def test_a_validation_error_of_the_whole_input():
    answer = answer_for(ValidationError(["First.", "Second."]))
    assert _summary(answer) == (
        400,
        "invalid",
        Kind.INVALID,
        "First. Second.",
        {"non_field_errors": ["First.", "Second."]},
    )
    assert answer.fields is None


def test_errors_from_outside_the_registry(caplog):
    with caplog.at_level(logging.INFO, logger="models_app.errors"):
        answers = [
            answer_for(TransitionNotAllowed("Can't switch from state 'staging'")),
            answer_for(IntegrityError("UNIQUE constraint failed")),
            answer_for(DataError("value too long")),
            answer_for(Team.DoesNotExist("Team matching query does not exist.")),
            answer_for(Http404()),
        ]
    assert [(a.status, a.code, a.kind, a.message) for a in answers] == [
        (409, "invalid_transition", Kind.CONFLICT, "Can't switch from state 'staging'"),
        (
            409,
            "conflict",
            Kind.CONFLICT,
            "The change conflicts with stored data (a concurrent duplicate).",
        ),
        (400, "invalid", Kind.INVALID, "A value in the request cannot be stored."),
        (404, "not_found", Kind.NOT_FOUND, "Team matching query does not exist."),
        (404, "not_found", Kind.NOT_FOUND, "Not found."),
    ]
    # The database's own words are logged, never shown.
    assert [r.getMessage() for r in caplog.records] == [
        "IntegrityError answered as 409: UNIQUE constraint failed",
        "DataError answered as 400: value too long",
    ]


def test_anything_else_is_no_refusal():
    for exc in (ValueError("bug"), KeyError("x"), RuntimeError()):
        assert answer_for(exc) is None
        assert not isinstance(exc, REFUSALS)
    assert tuple(t for t, _ in ANSWERS) == REFUSALS


def test_the_mlflow_door_has_a_code_for_every_kind():
    assert set(MLFLOW_CODES) == set(Kind)


def test_the_mlflow_door_names_fields_its_own_way_and_the_whole_input_plainly():
    response = refusal_response(ValidationError({"version": ["Bad."], "__all__": ["Also."]}))
    assert response.status_code == 400
    assert json.loads(response.content) == {
        "error_code": "INVALID_PARAMETER_VALUE",
        "message": "semver tag: Bad.; Also.",
    }
    assert refusal_response(ValueError("bug")) is None


class Gone(NotFound):
    """A refusal added later: one class, and every door answers it."""

    status = 410
    code = "gone"


class _RefusingForm(ServiceModelForm):
    class Meta:
        model = Team
        fields = ()

    def apply(self, data):
        raise Gone("That version was purged.")


def test_a_new_registry_error_is_answered_by_every_door_without_other_change(db):
    exc = Gone("That version was purged.")

    api = api_exception_handler(exc, {})
    assert (api.status_code, api.data) == (
        410,
        {"error": {"code": "gone", "message": "That version was purged.", "details": None}},
    )

    mlflow = refusal_response(exc)
    assert (mlflow.status_code, json.loads(mlflow.content)) == (
        410,
        {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "That version was purged."},
    )

    assert (refusal_status(exc), refusal_text(exc)) == (410, "That version was purged.")

    form = _RefusingForm(data={})
    assert not form.is_valid()
    assert form.non_field_errors() == ["That version was purged."]


class _ValidatingForm(ServiceModelForm):
    name = forms.CharField(required=False)

    class Meta:
        model = Team
        fields = ("name",)

    def apply(self, data):
        raise ValidationError({"name": ["Taken."], "__all__": ["Nothing saved."], "slug": ["Bad."]})


def test_the_admin_files_field_errors_under_their_fields_and_the_rest_on_the_form(db):
    form = _ValidatingForm(data={"name": "x"})
    assert not form.is_valid()
    assert form.errors["name"] == ["Taken."]
    # The input as a whole reads plainly; a field the form does not show is named.
    assert form.non_field_errors() == ["Nothing saved.", "slug: Bad."]
