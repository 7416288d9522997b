"""Errors a user can cause, each with the HTTP status and code every door reports.

The API's exception handler, the dashboard, the admin actions and the CLI translate these;
nothing here knows about HTTP beyond the number.
"""

from __future__ import annotations

from typing import Any


class RegistryError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotAllowed(RegistryError):
    """The actor lacks the role or team membership for this action (403)."""

    status = 403
    code = "permission_denied"


class NotFound(RegistryError):
    status = 404
    code = "not_found"


class Conflict(RegistryError):
    """The request clashes with what is stored, e.g. a duplicate version (409)."""

    status = 409
    code = "conflict"


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
