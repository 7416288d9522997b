"""Refusals become answers here, once for every door.

`answer_for(exc)` maps each exception a refusal can take to one Answer: the HTTP status, a
stable code, its kind and what to tell the person. The REST API's exception handler, the
dashboard's pages, the admin's forms and actions and the MLflow-compatible API ask it and
render the answer in their own formats; an exception it has no answer for (None) is a bug,
which each door answers as its 500.

The registry's own errors (models_app.exceptions) carry their status, code and kind, so a
new RegistryError subclass needs nothing here. An exception from elsewhere that a person
can cause gets one entry in ANSWERS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist, ValidationError
from django.db import DataError, IntegrityError
from django.http import Http404
from django_fsm import TransitionNotAllowed

from .exceptions import Kind, RegistryError

logger = logging.getLogger(__name__)

# The key under which the REST API's details name the input as a whole (as DRF does).
WHOLE_INPUT = "non_field_errors"
_WHOLE_INPUT_KEYS = frozenset({NON_FIELD_ERRORS, WHOLE_INPUT})


@dataclass(frozen=True)
class Answer:
    """What a door reports for one refusal.

    `messages` are the sentences a person reads, in order. `fields` is set for a
    validation error that names fields: field → its messages (Django's "__all__" for the
    input as a whole). `details` is the machine-readable part of the REST API's answer.
    """

    status: int
    code: str
    kind: Kind
    messages: tuple[str, ...]
    fields: dict[str, list[str]] | None = None
    details: Any = None

    @property
    def text(self) -> str:
        """Every message as one text, for a page or a form that shows fields apart."""
        return " ".join(self.messages)

    def summary(self, names: Mapping[str, str] | None = None) -> str:
        """One line that names each field before its messages ("version: …; tags: …").

        `names` renames fields for a door that knows them by other names.
        """
        if self.fields is None:
            return self.text
        names = names or {}
        return "; ".join(
            " ".join(texts)
            if field in _WHOLE_INPUT_KEYS
            else f"{names.get(field, field)}: {' '.join(texts)}"
            for field, texts in self.fields.items()
        )

    @property
    def message(self) -> str:
        return self.summary()

    def without_field(self, name: str) -> Answer:
        """This answer less one field's messages (for a form that says it its own way)."""
        fields = {field: texts for field, texts in (self.fields or {}).items() if field != name}
        return Answer(
            self.status,
            self.code,
            self.kind,
            tuple(text for texts in fields.values() for text in texts),
            fields=fields,
            details=self.details,
        )


def _registry_error(exc: RegistryError) -> Answer:
    return Answer(exc.status, exc.code, exc.kind, (exc.message,), details=exc.details)


def _validation_error(exc: ValidationError) -> Answer:
    if hasattr(exc, "error_dict"):
        fields = exc.message_dict
        return Answer(
            400,
            "invalid",
            Kind.INVALID,
            tuple(text for texts in fields.values() for text in texts),
            fields=fields,
            details={
                (WHOLE_INPUT if field == NON_FIELD_ERRORS else field): texts
                for field, texts in fields.items()
            },
        )
    return Answer(
        400, "invalid", Kind.INVALID, tuple(exc.messages), details={WHOLE_INPUT: exc.messages}
    )


def _transition_not_allowed(exc: TransitionNotAllowed) -> Answer:
    return Answer(409, "invalid_transition", Kind.CONFLICT, (str(exc),))


def _integrity_error(exc: IntegrityError) -> Answer:
    # The services turn the duplicates they can foresee into Conflict; this is a concurrent
    # writer that won the race between their check and their insert.
    logger.info("IntegrityError answered as 409: %s", exc)
    return Answer(
        409,
        "conflict",
        Kind.CONFLICT,
        ("The change conflicts with stored data (a concurrent duplicate).",),
    )


def _data_error(exc: DataError) -> Answer:
    # A value the database cannot hold (PostgreSQL: NUL in text, out-of-range numbers) that
    # slipped past validation: the client's input, so a 400, not a 500.
    logger.warning("DataError answered as 400: %s", exc)
    return Answer(400, "invalid", Kind.INVALID, ("A value in the request cannot be stored.",))


def _not_found(exc: Exception) -> Answer:
    return Answer(404, "not_found", Kind.NOT_FOUND, (str(exc) or "Not found.",))


# Each exception type a refusal can take, with its answer; the first that matches answers.
ANSWERS: tuple[tuple[type[Exception], Callable[[Any], Answer]], ...] = (
    (RegistryError, _registry_error),
    (ValidationError, _validation_error),
    (TransitionNotAllowed, _transition_not_allowed),
    (IntegrityError, _integrity_error),
    (DataError, _data_error),
    (Http404, _not_found),
    (ObjectDoesNotExist, _not_found),
)

# For `except REFUSALS as exc:` around a service call.
REFUSALS: tuple[type[Exception], ...] = tuple(exception_type for exception_type, _ in ANSWERS)


def answer_for(exc: BaseException) -> Answer | None:
    """The answer to `exc`, or None when it is no refusal (a bug: the door's 500)."""
    for exception_type, answer in ANSWERS:
        if isinstance(exc, exception_type):
            return answer(exc)
    return None
