"""Limits on password guessing, for every door that checks a password.

django-axes counts failed password checks and refuses further checks once a limit is
reached (docs/deployment.md, "Password guessing"). Its authentication backend runs before
Django's own on every `authenticate()` call, so the dashboard's and the admin's sign-in
forms, POST /api/v1/auth/token/ and MLflow basic authentication are all counted and
refused the same way; knox tokens are not passwords and are never counted.

Counters are kept per (username, client address) pair, so nobody can lock a person out
from another address. This module holds the three hooks the axes settings name:

- `client_ip`: the client address (REMOTE_ADDR, or the forwarded address when the
  request came through a trusted proxy);
- `attempted_username`: the username the client sent, made storable;
- `lockout_response`: the 429 answer in each door's own format.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from models_app.api.common import error_body

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# The MLflow door's paths (mlflow_app/urls.py); its clients read MLflow's error format.
MLFLOW_PATH = re.compile(r"^/(?:api|ajax-api)/2\.0/mlflow/")
# An IPv6 client usually holds a whole /64 and can pick any address in it: counting per
# address would give it 2^64 fresh counters, so IPv6 addresses are counted per /64.
IPV6_PREFIX = 64
# The length of axes' username column.
USERNAME_LENGTH = 255


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def _counted_as(address: Address) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False)
        return str(network.network_address)
    return str(address)


def client_address(request: HttpRequest) -> Address | None:
    """The address the request came from.

    REMOTE_ADDR, unless it is one of REGISTRY_TRUSTED_PROXIES: then X-Forwarded-For is
    read from the right (each proxy appends the address it saw), past every trusted
    proxy, and the first address that is not a trusted proxy is the client's. Entries
    to its left were written by the client and are never believed.
    """
    address = _address(request.META.get("REMOTE_ADDR") or "")
    if address is None:
        return None
    networks = _networks(tuple(getattr(settings, "REGISTRY_TRUSTED_PROXIES", ())))
    if not networks or not _trusted(address, networks):
        return address
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for entry in reversed(forwarded.split(",")):
        hop = _address(entry)
        if hop is None:
            # Not written by a trusted proxy: stop at the last address one vouched for.
            break
        address = hop
        if not _trusted(hop, networks):
            break
    return address


def client_ip(request: HttpRequest) -> str | None:
    """The client address as axes counts it (AXES_CLIENT_IP_CALLABLE)."""
    address = client_address(request)
    return None if address is None else _counted_as(address)


def attempted_username(request: HttpRequest, credentials: dict | None) -> str:
    """The username a password was tried for (AXES_USERNAME_CALLABLE).

    Taken from the credentials given to `authenticate()`. NUL characters are dropped
    and the length is capped so that any value a client sends can be stored (no real
    username is that long or contains NUL).
    """
    value = (credentials or {}).get("username")
    if value is None:
        value = request.POST.get("username", "")
    if not isinstance(value, str):
        value = str(value)
    return value.replace("\x00", "")[:USERNAME_LENGTH]


def lockout_minutes() -> int:
    return max(1, round(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def lockout_message() -> str:
    minutes = lockout_minutes()
    return (
        f"Too many failed sign-ins for this username from your address: password checks "
        f"are refused for up to {minutes} minute{'s' if minutes != 1 else ''} after the "
        "last failed attempt, even with the right password. Try again later, or ask an "
        "administrator to unlock the account."
    )


def lockout_response(request: HttpRequest, credentials: dict | None = None) -> HttpResponse:
    """429 in the format of the door that was used (AXES_LOCKOUT_CALLABLE)."""
    retry_after = int(settings.AXES_COOLOFF_TIME.total_seconds())
    message = lockout_message()
    path = request.path_info
    if MLFLOW_PATH.match(path):
        response = JsonResponse(
            {"error_code": "RESOURCE_EXHAUSTED", "message": message}, status=429
        )
    elif path.startswith("/api/"):
        details = {"retry_after": retry_after, "failure_limit": settings.AXES_FAILURE_LIMIT}
        response = JsonResponse(error_body("locked_out", message, details), status=429)
    else:
        admin = path.startswith("/admin/")
        context = {
            "username": attempted_username(request, credentials),
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "lockout_minutes": lockout_minutes(),
            "admin": admin,
        }
        response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(retry_after)
    return response
