"""Who is calling: the MLflow client's bearer token or basic credentials, never a session.

MLFLOW_TRACKING_TOKEN arrives as `Authorization: Bearer <token>` and is checked as one of
our API tokens (hashed, expiring, revocable: django-rest-knox). MLFLOW_TRACKING_USERNAME /
MLFLOW_TRACKING_PASSWORD arrive as basic auth and are checked by Django's authentication
backends. Session cookies are ignored, which is why these views can be CSRF-exempt.
"""

from __future__ import annotations

import base64
import binascii

from django.contrib.auth import authenticate
from rest_framework.exceptions import AuthenticationFailed

from models_app.api.common import TokenAuthentication


class Unauthenticated(Exception):
    """No or bad credentials (401 UNAUTHENTICATED)."""


def authenticate_request(request):
    """The user the request's credentials name; raises Unauthenticated otherwise."""
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    scheme = scheme.lower()
    if not header:
        raise Unauthenticated(
            "Authentication required: set MLFLOW_TRACKING_TOKEN to a registry API token, or "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD."
        )
    if scheme in ("bearer", "token") and credentials and " " not in credentials:
        try:
            user, _token = TokenAuthentication().authenticate_credentials(credentials.encode())
        except (AuthenticationFailed, UnicodeError) as exc:
            raise Unauthenticated("Invalid, expired or revoked token.") from exc
        return user
    if scheme == "basic" and credentials:
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeError) as exc:
            raise Unauthenticated("Malformed basic authentication header.") from exc
        username, sep, password = decoded.partition(":")
        if not sep:
            raise Unauthenticated("Malformed basic authentication header.")
        if "\x00" in username:
            # No username holds NUL (and PostgreSQL cannot compare one): nothing to check.
            raise Unauthenticated("Invalid username or password.")
        user = authenticate(request, username=username, password=password)
        if user is None or not user.is_active:
            raise Unauthenticated("Invalid username or password.")
        return user
    raise Unauthenticated("Unsupported Authorization header: use Bearer <token> or Basic.")
