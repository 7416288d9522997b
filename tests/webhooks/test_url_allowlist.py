"""Outbound addresses: refused when a URL is saved and again right before delivery."""

from __future__ import annotations

import socket

import pytest
from django.core.exceptions import ValidationError

from tests.factories import register
from webhooks_app import services as webhooks
from webhooks_app.models import Delivery, DeliveryAttempt, DeliveryStatus, Subscription
from webhooks_app.urlcheck import UrlRefused, check_url
from webhooks_app.worker import Worker

REFUSED = [
    "http://10.0.0.1/hook",
    "http://192.168.1.1/hook",
    "http://172.16.5.4/hook",
    "http://127.0.0.1:8000/hook",
    "http://127.1/hook",  # short form of 127.0.0.1
    "http://2130706433/hook",  # decimal 127.0.0.1
    "http://0x7f000001/hook",  # hexadecimal 127.0.0.1
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
    "http://[::ffff:10.0.0.1]/hook",
    "http://[fe80::1]/hook",
    "http://169.254.10.10/hook",  # link-local
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://0.0.0.0/hook",
    "http://[::]/hook",
    "http://224.0.0.1/hook",  # multicast
    "http://100.64.0.1/hook",  # carrier-grade NAT
    "http://[fc00::1]/hook",  # unique local
    "ftp://example.com/hook",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "http:///no-host",
    "http://exa mple.com/",
]


@pytest.fixture
def strict(settings):
    settings.REGISTRY_WEBHOOK_ALLOW_PRIVATE = False
    settings.REGISTRY_WEBHOOK_ALLOWED_HOSTS = []
    return settings


@pytest.mark.parametrize("url", REFUSED)
def test_check_url_refuses_private_and_metadata(strict, url):
    with pytest.raises(UrlRefused):
        check_url(url)


@pytest.mark.parametrize("url", REFUSED)
def test_subscription_create_refuses_private_and_metadata(strict, people, url):
    with pytest.raises(ValidationError) as exc:
        webhooks.subscription_create(actor=people.admin, url=url)
    assert "url" in exc.value.message_dict
    assert not Subscription.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/",
        "http://0.0.0.0/",
    ],
)
def test_metadata_refused_even_when_private_allowed(settings, url):
    settings.REGISTRY_WEBHOOK_ALLOW_PRIVATE = True
    with pytest.raises(UrlRefused):
        check_url(url)


def test_loopback_allowed_only_by_the_setting(settings):
    settings.REGISTRY_WEBHOOK_ALLOW_PRIVATE = True
    assert check_url("http://127.0.0.1:9/x").addresses == ("127.0.0.1",)
    settings.REGISTRY_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(UrlRefused, match="loopback"):
        check_url("http://127.0.0.1:9/x")


def test_allowed_hosts_network_entry_admits_private_range(strict):
    strict.REGISTRY_WEBHOOK_ALLOWED_HOSTS = ["10.20.0.0/16"]
    assert check_url("http://10.20.3.4/hook").addresses == ("10.20.3.4",)
    with pytest.raises(UrlRefused):
        check_url("http://10.30.0.1/hook")


def _fake_dns(monkeypatch, answers: dict[str, list[str]]):
    """Stand in for the DNS server (outside the process): name → addresses."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            family = socket.AF_INET6 if ":" in answers[host][0] else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (a, port or 0)) for a in answers[host]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_allowed_hosts_name_list_refuses_other_hosts(strict, monkeypatch):
    _fake_dns(monkeypatch, {"hooks.example.com": ["93.184.216.34"], "evil.test": ["1.1.1.1"]})
    strict.REGISTRY_WEBHOOK_ALLOWED_HOSTS = [".example.com"]
    assert check_url("https://hooks.example.com/x").host == "hooks.example.com"
    with pytest.raises(UrlRefused, match="not in REGISTRY_WEBHOOK_ALLOWED_HOSTS"):
        check_url("https://evil.test/x")


def test_host_resolving_to_any_private_address_is_refused(strict, monkeypatch):
    _fake_dns(monkeypatch, {"mixed.example": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(UrlRefused, match=r"10\.0\.0\.7"):
        check_url("https://mixed.example/x")


def test_refused_again_at_delivery_time_without_sending(
    people, model, receiver, subscribe, settings
):
    sub = subscribe(receiver.url)  # saved while loopback was allowed
    settings.REGISTRY_WEBHOOK_ALLOW_PRIVATE = False
    register(actor=people.author, model=model, version="1.0.0")

    Worker().run_once()

    assert receiver.arrived == []
    d = Delivery.objects.get(subscription=sub)
    assert d.status == DeliveryStatus.FAILED_RETRYING
    assert "Not sent" in d.last_error and "loopback" in d.last_error
    attempt = DeliveryAttempt.objects.get(delivery=d)
    assert (attempt.status_code, attempt.succeeded) == (None, False)


def test_dns_rebinding_to_loopback_is_refused_at_delivery(
    people, model, receiver, settings, monkeypatch
):
    settings.REGISTRY_WEBHOOK_ALLOW_PRIVATE = False
    _fake_dns(monkeypatch, {"rebind.example": ["93.184.216.34"]})
    sub = webhooks.subscription_create(
        actor=people.admin, url=f"http://rebind.example:{receiver.port}/hook"
    )
    _fake_dns(monkeypatch, {"rebind.example": ["127.0.0.1"]})  # the attacker's DNS flips
    register(actor=people.author, model=model, version="1.0.0")

    Worker().run_once()

    assert receiver.arrived == []
    assert "127.0.0.1 is a loopback address" in Delivery.objects.get(subscription=sub).last_error


def test_delivery_connects_to_the_checked_address(people, model, receiver, settings, monkeypatch):
    """The request goes to the address that was checked, even if DNS answers differently
    a moment later; the Host header keeps the name."""
    settings.REGISTRY_WEBHOOK_ALLOW_PRIVATE = True
    answers = iter([["127.0.0.1"], ["127.0.0.1"], ["10.255.255.1"]])
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "hooks.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in next(answers)]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    webhooks.subscription_create(actor=people.admin, url=f"http://hooks.test:{receiver.port}/h")
    register(actor=people.author, model=model, version="1.0.0")

    Worker().run_once()

    assert len(receiver.acknowledged) == 1
    assert receiver.acknowledged[0].headers["Host"] == f"hooks.test:{receiver.port}"
