"""The exit codes `modelreg` promises to scripts (docs/cli.md lists the same table).

A pipeline branches on these: 6 means "the registry refused on purpose" (failed guards or
a transition the version's stage does not allow), which is a normal outcome of `checks`
and `promote`, unlike 9 (the registry could not be reached or failed).
"""

from __future__ import annotations

OK = 0
USAGE = 2
AUTHENTICATION = 3
PERMISSION = 4
NOT_FOUND = 5
REFUSED = 6
CONFLICT = 7
VALIDATION = 8
SERVER = 9
CHECKSUM = 10

DESCRIPTIONS = {
    OK: "success",
    USAGE: "usage error: bad arguments, missing configuration or an unreadable local file",
    AUTHENTICATION: "authentication failed: no token, or an invalid or expired one (HTTP 401)",
    PERMISSION: "permission denied: the token's user may not do this (HTTP 403)",
    NOT_FOUND: "not found: no such model, version, artifact or production version (HTTP 404)",
    REFUSED: "refused: promotion guards failed or the transition is not allowed (HTTP 409)",
    CONFLICT: "conflict: e.g. the version already exists or the artifact is write-once (HTTP 409)",
    VALIDATION: "invalid input: the registry refused the data (HTTP 400, 413, 415)",
    SERVER: "server or network error: unreachable, timed out, rate limited or HTTP 5xx",
    CHECKSUM: "checksum mismatch: the artifact's bytes differ from its recorded sha256",
}

# 409 answers whose error code means "refused by the rules" rather than "duplicate".
REFUSAL_CODES = frozenset({"guards_failed", "invalid_transition"})


def for_response(status: int, error_code: str | None = None) -> int:
    """The exit code for an HTTP error answer (status ≥ 400) from the registry."""
    if error_code == "checksum_mismatch":  # an upload whose bytes differ from its checksum
        return CHECKSUM
    if status == 401:
        return AUTHENTICATION
    if status == 403:
        return PERMISSION
    if status == 404:
        return NOT_FOUND
    if status == 409:
        return REFUSED if error_code in REFUSAL_CODES else CONFLICT
    if status in (400, 411, 413, 415, 422):
        return VALIDATION
    # 429 (rate limited), 5xx and anything unexpected: retrying later may help.
    return SERVER
