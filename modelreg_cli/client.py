"""A thin client for the registry's REST API v1: URLs, the token header and error mapping.

Every non-2xx answer becomes a CliError carrying the API's error body
({"error": {"code", "message", "details"}}) and the exit code of modelreg_cli.exit_codes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import requests

from . import __version__, exit_codes
from .errors import CliError

API_PREFIX = "/api/v1"


def seg(value: str) -> str:
    """One path segment, percent-encoded (SemVer build metadata has '+')."""
    return quote(str(value), safe="")


def version_path(model: str, version: str, *rest: str) -> str:
    return "/".join(["models", seg(model), "versions", seg(version), *rest]) + "/"


def model_path(model: str, *rest: str) -> str:
    return "/".join(["models", seg(model), *rest]) + "/"


class Client:
    def __init__(self, base_url: str, token: str | None, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"modelreg/{__version__}"
        self.session.headers["Accept"] = "application/json"
        if token:
            self.session.headers["Authorization"] = f"Token {token}"

    def url(self, path: str) -> str:
        return f"{self.base_url}{API_PREFIX}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request; raise CliError unless the answer is 2xx or listed in `ok`."""
        kwargs.setdefault("timeout", self.timeout)
        # Never follow redirects: a redirect would resend the body, and a cross-host one
        # could carry the token somewhere else.
        kwargs.setdefault("allow_redirects", False)
        url = self.url(path)
        try:
            response = self.session.request(method, url, **kwargs)
        except requests.Timeout as exc:
            raise CliError(
                f"The registry at {self.base_url} did not answer in time ({exc}).",
                exit_code=exit_codes.SERVER,
                code="timeout",
            ) from exc
        except requests.RequestException as exc:
            raise CliError(
                f"Cannot reach the registry at {self.base_url}: {exc}",
                exit_code=exit_codes.SERVER,
                code="network_error",
            ) from exc
        if response.status_code < 300 or response.status_code in ok:
            return response
        raise error_from(response)

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return decode(self.request("GET", path, **kwargs))

    def send_json(self, method: str, path: str, body: Any, **kwargs: Any) -> Any:
        return decode(self.request(method, path, json=body, **kwargs))

    def paginate(self, path: str, params: dict | None = None) -> Iterator[dict]:
        """Yield the items of a list endpoint page by page, following each `next` cursor link
        ({next, previous, results}) until it is null.

        Only the query string of each `next` link is used, against our own base URL: the
        token is never sent to a host taken from an answer, and a proxy that rewrites the
        scheme or host cannot send us elsewhere.
        """
        params = dict(params or {})
        while True:
            page = self.get_json(path, params=params)
            if isinstance(page, list):  # an unpaginated list
                yield from page
                return
            yield from page.get("results", [])
            following = page.get("next")
            if not following:
                return
            params = dict(parse_qsl(urlsplit(following).query, keep_blank_values=True))


def decode(response: requests.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise CliError(
            f"The registry answered HTTP {response.status_code} with something that is not "
            f"JSON ({response.headers.get('Content-Type', 'no content type')}).",
            exit_code=exit_codes.SERVER,
            status=response.status_code,
        ) from exc


def error_from(response: requests.Response) -> CliError:
    """Turn an error answer into a CliError, keeping the API's code, message and details."""
    status = response.status_code
    code, message, details = "", "", None
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        code = str(error.get("code") or "")
        message = str(error.get("message") or "")
        details = error.get("details")
    elif isinstance(body, dict) and "detail" in body:  # DRF's default shape, just in case
        message = str(body["detail"])
    if not message:
        reason = response.reason or "error"
        message = f"HTTP {status} {reason} from {response.request.method} {response.url}"
        if 300 <= status < 400:
            message += f" (redirect to {response.headers.get('Location', '?')}; check the URL)"
    return CliError(
        message,
        exit_code=exit_codes.for_response(status, code),
        code=code,
        details=details,
        status=status,
    )
