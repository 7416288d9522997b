"""One HTTP attempt: check the destination again, sign, POST to the checked address.

The URL is resolved and judged right before sending (webhooks_app.urlcheck), and the
connection goes to that very address, with the original host name in the Host header and,
for https, in SNI and certificate checking. A host name that resolves to a public address
when checked and to 127.0.0.1 a moment later (DNS rebinding) therefore cannot redirect the
request. Redirects are not followed, proxies from the environment are not used.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from .signing import DELIVERY_HEADER, EVENT_HEADER, signature_headers
from .urlcheck import Destination, UrlRefused, check_url

SNIPPET_CHARS = 500
USER_AGENT = "model-registry-webhooks/1"


@dataclass
class AttemptResult:
    succeeded: bool
    status_code: int | None
    error: str
    response_snippet: str
    duration_ms: int
    sent: bool


def body_for(payload: dict) -> str:
    """The exact bytes signed and sent: compact, key-sorted JSON, stable across retries."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class _PinnedAdapter(HTTPAdapter):
    """Checks the TLS certificate against the original host name while connecting to an IP."""

    def __init__(self, hostname: str, **kwargs) -> None:
        self._hostname = hostname
        super().__init__(max_retries=0, **kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["server_hostname"] = self._hostname
        kwargs["assert_hostname"] = self._hostname
        return super().init_poolmanager(*args, **kwargs)


def _pinned_url(dest: Destination, address: str) -> str:
    parts = urlsplit(dest.url)
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{dest.port}"
    return urlunsplit((dest.scheme, netloc, parts.path or "/", parts.query, ""))


def _host_header(dest: Destination) -> str:
    default = 443 if dest.scheme == "https" else 80
    host = f"[{dest.host}]" if ":" in dest.host else dest.host
    return host if dest.port == default else f"{host}:{dest.port}"


def send(
    *,
    url: str,
    secret: str,
    payload: dict,
    event_type: str,
    idempotency_key: str,
    previous_secret: str = "",
) -> AttemptResult:
    """POST one signed delivery; never raises for network or policy problems.

    `previous_secret`, during a rotation's overlap, signs it a second time
    (X-Registry-Signature-Previous)."""
    started = time.monotonic()

    def result(ok, code, error, snippet="", sent=True):
        return AttemptResult(
            succeeded=ok,
            status_code=code,
            error=error,
            response_snippet=snippet,
            duration_ms=int((time.monotonic() - started) * 1000),
            sent=sent,
        )

    try:
        dest = check_url(url)
    except UrlRefused as exc:
        return result(False, None, f"Not sent: {exc}", sent=False)

    body = body_for(payload).encode("utf-8")
    headers = _signed_headers(
        dest,
        secret=secret,
        previous_secret=previous_secret,
        body=body,
        event_type=event_type,
        idempotency_key=idempotency_key,
    )
    timeout = float(getattr(settings, "REGISTRY_WEBHOOK_TIMEOUT", 5))
    session = _pinned_session(dest)
    response, errors = _post_to_first_answering(
        session, dest, body=body, headers=headers, timeout=timeout
    )
    if response is None:
        session.close()
        return result(False, None, "; ".join(errors) or "no address answered")
    try:
        snippet = _read_snippet(response)
    finally:
        response.close()
        session.close()
    code = response.status_code
    if 200 <= code < 300:
        return result(True, code, "", snippet)
    if 300 <= code < 400:
        return result(False, code, f"HTTP {code}: redirects are not followed", snippet)
    return result(False, code, f"HTTP {code}", snippet)


def _signed_headers(
    dest: Destination,
    *,
    secret: str,
    previous_secret: str,
    body: bytes,
    event_type: str,
    idempotency_key: str,
) -> dict[str, str]:
    """The delivery's headers: the original host name, the event, the delivery's key and
    the signature(s) of `body`."""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Host": _host_header(dest),
        EVENT_HEADER: event_type,
        DELIVERY_HEADER: idempotency_key,
        **signature_headers(secret, body, previous_secret=previous_secret),
    }


def _pinned_session(dest: Destination) -> requests.Session:
    """A session that ignores the environment and, for https, checks the certificate
    against the original host name while connecting to a checked address."""
    session = requests.Session()
    session.trust_env = False  # no proxies or .netrc from the environment
    if dest.scheme == "https":
        session.mount("https://", _PinnedAdapter(dest.host))
    return session


def _post_to_first_answering(
    session: requests.Session,
    dest: Destination,
    *,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
) -> tuple[requests.Response | None, list[str]]:
    """POST to each checked address in turn, as a browser would, until one answers;
    returns its response (None when none answered) and what went wrong before."""
    errors = []
    for address in dest.addresses:
        try:
            response = session.post(
                _pinned_url(dest, address),
                data=body,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.Timeout as exc:
            errors.append(f"timed out after {timeout:g} s ({type(exc).__name__})")
            # A timeout may mean the receiver got it; do not send it twice in one attempt.
            break
        except requests.RequestException as exc:
            errors.append(f"{address}: {type(exc).__name__}: {exc}"[:500])
            continue
        return response, errors
    return None, errors


def _read_snippet(response: requests.Response) -> str:
    """The start of the response's body, for the delivery log ("" when it cannot be read)."""
    try:
        raw = response.raw.read(SNIPPET_CHARS * 4, decode_content=True) or b""
        return raw.decode("utf-8", "replace")[:SNIPPET_CHARS]
    except Exception:
        return ""
