"""The one exception the commands raise; main() turns it into a message and an exit code."""

from __future__ import annotations

from typing import Any

from . import exit_codes


class CliError(Exception):
    """A failure to report: a human message, an exit code and, from the API, its error body."""

    def __init__(
        self,
        message: str,
        *,
        exit_code: int,
        code: str = "",
        details: Any = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.code = code
        self.details = details
        self.status = status

    def as_dict(self) -> dict:
        body: dict[str, Any] = {
            "code": self.code or _DEFAULT_CODES.get(self.exit_code, "error"),
            "message": self.message,
            "details": self.details,
        }
        if self.status is not None:
            body["status"] = self.status
        return {"error": body, "exit_code": self.exit_code}


_DEFAULT_CODES = {
    exit_codes.USAGE: "usage",
    exit_codes.SERVER: "server_error",
    exit_codes.CHECKSUM: "checksum_mismatch",
    exit_codes.VALIDATION: "invalid",
}


def usage(message: str) -> CliError:
    return CliError(message, exit_code=exit_codes.USAGE)
