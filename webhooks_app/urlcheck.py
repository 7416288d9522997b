"""Which outbound addresses a webhook may reach (server-side request forgery defence).

A subscription's URL is checked when it is saved and again right before every delivery,
after resolving its host name: a name may resolve elsewhere by then (DNS rebinding), so
the worker connects to the very address this module approved (webhooks_app.delivery).

Rules, in order:

- only http and https; a host is required;
- cloud metadata endpoints (169.254.169.254, fd00:ec2::254, metadata.google.internal …)
  are always refused, whatever the settings say;
- multicast and unspecified addresses (0.0.0.0, ::) are always refused;
- private, loopback, link-local, shared (100.64/10) and reserved addresses are refused
  unless REGISTRY_WEBHOOK_ALLOW_PRIVATE is on or the address lies in a network listed in
  REGISTRY_WEBHOOK_ALLOWED_HOSTS;
- when REGISTRY_WEBHOOK_ALLOWED_HOSTS is not empty, the destination must match one of
  its entries: a host name (`hooks.example.com`), a domain suffix (`.example.com`) or an
  address or network (`10.20.0.0/16`);
- IPv4 addresses embedded in IPv6 ones (::ffff:127.0.0.1, 6to4, Teredo, NAT64) are
  judged as the IPv4 address they carry.

Every resolved address must pass: one bad address refuses the URL.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean …
        "169.254.170.2",  # AWS ECS task metadata
        "169.254.169.253",  # AWS DNS
        "fd00:ec2::254",  # AWS IPv6
        "fd00:ec2::23",
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure wire server
    )
)
METADATA_HOSTNAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.internal",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UrlRefused(ValueError):
    """The URL may not be used as a webhook destination; the message says why."""


@dataclass(frozen=True)
class Destination:
    """A checked URL: where to connect (`addresses`) and what to call the host."""

    url: str
    scheme: str
    host: str
    port: int
    addresses: tuple[str, ...]


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if address.version != 6:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    # IPv4-compatible addresses (::a.b.c.d), deprecated but still routed by some stacks.
    if int(address) >> 32 == 0 and int(address) > 1:
        return ipaddress.IPv4Address(int(address))
    return None


def _allowed_entries() -> tuple[list[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    names, networks = [], []
    for entry in getattr(settings, "REGISTRY_WEBHOOK_ALLOWED_HOSTS", []) or []:
        entry = entry.strip().lower()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            names.append(entry.rstrip("."))
    return names, networks


def _name_matches(host: str, names: list[str]) -> bool:
    return any(host == n or (n.startswith(".") and host.endswith(n)) for n in names)


def address_problem(address: IPAddress, networks=()) -> str | None:
    """Why `address` may not be contacted, or None when it may."""
    candidates = [address]
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        candidates.append(embedded)
    for a in candidates:
        if a in METADATA_ADDRESSES:
            return f"{address} is a cloud metadata address"
        if a.is_multicast:
            return f"{address} is a multicast address"
        if a.is_unspecified:
            return f"{address} is an unspecified address"
    allow_private = bool(getattr(settings, "REGISTRY_WEBHOOK_ALLOW_PRIVATE", False))
    if allow_private or any(address in n or (embedded and embedded in n) for n in networks):
        return None
    for a in candidates:
        for flag, label in (
            ("is_loopback", "loopback"),
            ("is_link_local", "link-local"),
            ("is_private", "private"),
            ("is_reserved", "reserved"),
            ("is_site_local", "site-local"),
        ):
            if getattr(a, flag, False):
                return f"{address} is a {label} address"
        if a.version == 4 and a in SHARED_ADDRESS_SPACE:
            return f"{address} is a shared (carrier-grade NAT) address"
        if not a.is_global:
            return f"{address} is not a public address"
    return None


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise UrlRefused(f"The host '{host}' could not be resolved ({exc}).") from exc
    seen: list[str] = []
    for info in infos:
        addr = info[4][0].split("%", 1)[0]  # drop an IPv6 zone index
        if addr not in seen:
            seen.append(addr)
    if not seen:
        raise UrlRefused(f"The host '{host}' resolved to no address.")
    return seen


def check_url(url: str) -> Destination:
    """Parse, resolve and judge `url`; return where to connect or raise UrlRefused."""
    if not isinstance(url, str) or not url.strip():
        raise UrlRefused("A URL is required.")
    if any(ord(ch) < 0x21 or ch == "\x7f" for ch in url):
        raise UrlRefused("The URL contains spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"The URL is not valid ({exc}).") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UrlRefused("Only http and https URLs can receive webhooks.")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UrlRefused("The URL has no host.")
    if port is None:
        port = 443 if scheme == "https" else 80
    if host in METADATA_HOSTNAMES or host.endswith(".metadata.google.internal"):
        raise UrlRefused(f"The host '{host}' is a cloud metadata service.")
    names, networks = _allowed_entries()

    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    addresses = [str(literal)] if literal is not None else _resolve(host, port)
    parsed = [ipaddress.ip_address(a) for a in addresses]
    for address in parsed:
        problem = address_problem(address, networks)
        if problem:
            raise UrlRefused(f"Refused destination '{host}': {problem}.")
    if names or networks:
        in_networks = all(any(a in n for n in networks) for a in parsed)
        if not (_name_matches(host, names) or in_networks):
            raise UrlRefused(f"The host '{host}' is not in REGISTRY_WEBHOOK_ALLOWED_HOSTS.")
    return Destination(url=url, scheme=scheme, host=host, port=port, addresses=tuple(addresses))
