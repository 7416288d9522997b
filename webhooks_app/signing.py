"""Signing deliveries and checking signatures, the way a receiver should.

Header: `X-Registry-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
The timestamp is inside the signed text so that a captured request cannot be replayed
later than the receiver's tolerance. docs/events.md has the same check as a snippet.

After a secret is rotated, X-Registry-Signature is made with the new secret, exactly as
before, so a receiver that checks one signature accepts as soon as it has the new secret.
While the overlap lasts, `X-Registry-Signature-Previous` carries the same kind of value
made with the replaced secret (same timestamp), so a receiver still holding the old
secret accepts too. A receiver verifies against either header.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "X-Registry-Signature"
PREVIOUS_SIGNATURE_HEADER = "X-Registry-Signature-Previous"
EVENT_HEADER = "X-Registry-Event"
DELIVERY_HEADER = "X-Registry-Delivery"


def new_secret() -> str:
    """A fresh signing secret: 32 random bytes, URL-safe, prefixed so it is recognisable."""
    return "whsec_" + secrets.token_urlsafe(32)


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def compute(secret: str, timestamp: int, body: str | bytes) -> str:
    """Hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the secret."""
    message = str(int(timestamp)).encode("ascii") + b"." + _as_bytes(body)
    return hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()


def sign(secret: str, body: str | bytes, timestamp: int | None = None) -> str:
    """The X-Registry-Signature header value for `body`."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={compute(secret, t, body)}"


def signature_headers(
    secret: str, body: str | bytes, *, previous_secret: str = "", timestamp: int | None = None
) -> dict[str, str]:
    """The signature headers of a delivery: the current secret's, and the replaced
    secret's while its overlap lasts (`previous_secret` empty: none)."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    headers = {SIGNATURE_HEADER: sign(secret, body, t)}
    if previous_secret:
        headers[PREVIOUS_SIGNATURE_HEADER] = sign(previous_secret, body, t)
    return headers


def verify_headers(secret: str, headers, body: str | bytes, tolerance: int = 300) -> bool:
    """True when either signature header of a delivery (a mapping of its headers) is a
    valid signature of `body` with `secret`: what a receiver checks during a rotation."""
    return any(
        verify_signature(secret, headers.get(name), body, tolerance)
        for name in (SIGNATURE_HEADER, PREVIOUS_SIGNATURE_HEADER)
    )


def verify_signature(
    secret: str, header: str | None, body: str | bytes, tolerance: int = 300
) -> bool:
    """True when `header` is a valid signature of `body` made within `tolerance` seconds.

    `body` must be the raw request body, byte for byte, not re-serialised JSON. Several
    `v1=` values are accepted (one matching is enough) so that a secret can be rotated.
    """
    if not header or not isinstance(header, str):
        return False
    timestamp = None
    signatures = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    if tolerance is not None and abs(time.time() - timestamp) > tolerance:
        return False
    expected = compute(secret, timestamp, body)
    return any(hmac.compare_digest(expected.encode(), s.encode()) for s in signatures)
