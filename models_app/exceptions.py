"""Errors a user can cause, each with the HTTP status, code and kind every door reports.

models_app.errors turns these (and the other exceptions a refusal can take: Django's
ValidationError, a concurrent duplicate…) into one answer that the API's exception handler,
the dashboard, the admin and the MLflow-compatible API render in their own formats; nothing
here knows about HTTP beyond the number. A new kind of refusal is a subclass here, with its
status, code and kind; every door then answers it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """What sort of refusal an error is, for doors with their own vocabulary of codes
    (the MLflow-compatible API names each kind its own way)."""

    INVALID = "invalid"
    PERMISSION_DENIED = "permission_denied"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"


class RegistryError(Exception):
    status = 400
    code = "invalid"
    kind = Kind.INVALID

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotAllowed(RegistryError):
    """The actor lacks the role or team membership for this action (403)."""

    status = 403
    code = "permission_denied"
    kind = Kind.PERMISSION_DENIED


class NotFound(RegistryError):
    status = 404
    code = "not_found"
    kind = Kind.NOT_FOUND


class Conflict(RegistryError):
    """The request clashes with what is stored, e.g. a duplicate version (409)."""

    status = 409
    code = "conflict"
    kind = Kind.CONFLICT


class NotOwnedHere(Conflict):
    """The entry (or the name) belongs to a model mirrored from a team registry, which is
    the only place it may change; the message names that registry first (409)."""


class InvalidTransition(Conflict):
    """The version's stage does not allow this transition (409)."""

    code = "invalid_transition"


class GuardsFailed(Conflict):
    """One or more promotion guards failed; `details` lists every guard result (409)."""

    code = "guards_failed"

    def __init__(self, failures: list, *, results: list | None = None) -> None:
        reasons = "; ".join(f.reason for f in failures)
        super().__init__(
            f"Promotion refused: {reasons}",
            details=[r.as_dict() for r in (results if results is not None else failures)],
        )
        self.failures = failures
