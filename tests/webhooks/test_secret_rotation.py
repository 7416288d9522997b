"""Rotating a subscription's secret: both signatures during the overlap, then the new one.

Every door that can change a secret (the admin's form, the API's rotate-secret and PATCH)
goes through the one service; receivers are checked with the code docs/events.md gives.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from models_app.exceptions import NotAllowed
from models_app.models import AuditEvent
from tests.factories import register
from webhooks_app import services as webhooks
from webhooks_app.models import Subscription
from webhooks_app.signing import verify_headers
from webhooks_app.worker import Worker

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
OVERLAP = 3600
PREVIOUS = "X-Registry-Signature-Previous"


@pytest.fixture
def overlap(fast):
    fast.REGISTRY_WEBHOOK_SECRET_OVERLAP_SECONDS = OVERLAP
    return fast


def _documented_receiver() -> dict:
    """The receiver code of docs/events.md, run as a receiver would run it."""
    docs = (ROOT / "docs" / "events.md").read_text()
    snippet = next(b for b in re.findall(r"```python\n(.*?)```", docs, re.S) if "def verify" in b)
    namespace: dict = {}
    exec(snippet, namespace)  # noqa: S102 - our own documentation
    return namespace


def _one_signature_receiver(secret: str, header: str, body: bytes) -> bool:
    """A receiver written before rotations existed: one header, one `v1=` value."""
    parts = dict(p.strip().split("=", 1) for p in header.split(",") if "=" in p)
    timestamp = int(parts["t"])
    if abs(time.time() - timestamp) > 300:
        return False
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _deliver_one(people, model, receiver, version: str):
    register(actor=people.author, model=model, version=version)
    Worker().drain()
    return receiver.acknowledged[-1]


def _rotate_in_admin(people, sub, **fields) -> Client:
    data = {
        "url": sub.url,
        "description": sub.description,
        "active": "on",
        "new_secret": "",
        **fields,
    }
    client = _client(people.admin)
    response = client.post(f"/admin/webhooks_app/subscription/{sub.pk}/change/", data)
    assert response.status_code == 302, response.content
    return response


def _rotate_with_api_action(people, sub):
    response = _client(people.admin).post(f"/api/v1/webhooks/{sub.pk}/rotate-secret/")
    assert response.status_code == 200, response.content
    return response.json()["secret"]


def _rotate_with_api_patch(people, sub):
    given = "whsec_given-by-the-admin-0123456789"
    response = _client(people.admin).patch(
        f"/api/v1/webhooks/{sub.pk}/", {"secret": given}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["secret"] == given
    return given


def _rotate_in_admin_by_ticking(people, sub):
    response = _rotate_in_admin(people, sub, rotate_secret="on")
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    sub.refresh_from_db()
    assert any(sub.secret in m for m in shown)  # shown once, in a message
    return sub.secret


def _rotate_in_admin_by_typing(people, sub):
    given = "typed-in-the-admin-0123456789"
    _rotate_in_admin(people, sub, new_secret=given)
    return given


DOORS = {
    "api rotate-secret": _rotate_with_api_action,
    "api patch": _rotate_with_api_patch,
    "admin rotate box": _rotate_in_admin_by_ticking,
    "admin new secret": _rotate_in_admin_by_typing,
}


@pytest.mark.parametrize("door", DOORS)
def test_each_door_rotates_with_both_signatures_during_the_overlap_then_one(
    door, people, model, receiver, subscribe, overlap, clock
):
    receive = _documented_receiver()
    sub = subscribe(receiver.url)
    old = sub.secret

    new = DOORS[door](people, sub)

    sub.refresh_from_db()
    assert new == sub.secret != old
    assert sub.previous_secret == old
    request = _deliver_one(people, model, receiver, "1.0.0")
    headers, body = request.headers, request.body
    # A receiver still on the old secret and one already on the new both accept.
    assert receive["verify_delivery"]([old], headers, body)
    assert receive["verify_delivery"]([new], headers, body)
    assert receive["verify_delivery"]([new, old], headers, body)
    assert not receive["verify_delivery"](["whsec_another"], headers, body)
    # The main header is the new secret's, exactly as before rotations existed.
    assert _one_signature_receiver(new, headers["X-Registry-Signature"], body)
    assert receive["verify_signature"](old, headers[PREVIOUS], body)
    assert verify_headers(old, headers, body) and verify_headers(new, headers, body)

    clock.shift(OVERLAP + 1)
    request = _deliver_one(people, model, receiver, "1.1.0")
    headers, body = request.headers, request.body
    assert PREVIOUS not in headers
    assert receive["verify_delivery"]([new], headers, body)
    assert _one_signature_receiver(new, headers["X-Registry-Signature"], body)
    assert not receive["verify_delivery"]([old], headers, body)
    sub.refresh_from_db()
    assert sub.previous_secret == ""  # not kept once it signs nothing


@pytest.mark.parametrize("door", DOORS)
def test_rotation_is_audited_without_any_secret(door, people, receiver, subscribe, overlap):
    sub = subscribe(receiver.url)
    old = sub.secret
    before = timezone.now()

    new = DOORS[door](people, sub)

    event = AuditEvent.objects.get(action="webhook.secret_rotated")
    assert event.actor_username == people.admin.username
    assert event.object_id == str(sub.pk)
    recorded = json.dumps([event.changes, event.payload, event.reason], default=str)
    assert old not in recorded and new not in recorded
    until = datetime.fromisoformat(event.payload["previous_secret_expires_at"])
    assert (
        before + timedelta(seconds=OVERLAP) <= until <= timezone.now() + timedelta(seconds=OVERLAP)
    )
    for row in sub.history.all():
        assert old not in json.dumps(
            {f.attname: getattr(row, f.attname) for f in row._meta.fields}, default=str
        )


def test_the_old_secret_is_never_shown_again(people, receiver, subscribe, overlap):
    sub = subscribe(receiver.url)
    old = sub.secret
    client = _client(people.admin)
    rotated = client.post(f"/api/v1/webhooks/{sub.pk}/rotate-secret/").json()
    assert old not in json.dumps(rotated)
    assert rotated["previous_secret_expires_at"] is not None

    for url in (
        f"/api/v1/webhooks/{sub.pk}/",
        "/api/v1/webhooks/",
        f"/admin/webhooks_app/subscription/{sub.pk}/change/",
        f"/admin/webhooks_app/subscription/{sub.pk}/history/",
        f"/webhooks/{sub.pk}/",
        "/webhooks/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert old.encode() not in response.content, url
        assert rotated["secret"].encode() not in response.content, url
    shown = client.get(f"/api/v1/webhooks/{sub.pk}/").json()
    assert shown["previous_secret_expires_at"] == rotated["previous_secret_expires_at"]
    page = client.get(f"/webhooks/{sub.pk}/").content.decode()
    assert "X-Registry-Signature-Previous" in page  # until when, on the dashboard too


def test_api_shows_no_overlap_once_it_is_over(people, receiver, subscribe, overlap, clock):
    sub = subscribe(receiver.url)
    client = _client(people.admin)
    client.post(f"/api/v1/webhooks/{sub.pk}/rotate-secret/")
    clock.shift(OVERLAP + 1)
    assert client.get(f"/api/v1/webhooks/{sub.pk}/").json()["previous_secret_expires_at"] is None


def test_a_second_rotation_keeps_only_the_secret_it_replaced(
    people, model, receiver, subscribe, overlap
):
    receive = _documented_receiver()
    sub = subscribe(receiver.url)
    first = sub.secret
    second = _rotate_with_api_action(people, sub)
    third = _rotate_with_api_action(people, sub)

    request = _deliver_one(people, model, receiver, "1.0.0")
    assert receive["verify_delivery"]([third], request.headers, request.body)
    assert receive["verify_delivery"]([second], request.headers, request.body)
    assert not receive["verify_delivery"]([first], request.headers, request.body)


def test_without_an_overlap_only_the_new_secret_signs(people, model, receiver, subscribe, overlap):
    overlap.REGISTRY_WEBHOOK_SECRET_OVERLAP_SECONDS = 0
    receive = _documented_receiver()
    sub = subscribe(receiver.url)
    old = sub.secret
    new = _rotate_with_api_action(people, sub)

    request = _deliver_one(people, model, receiver, "1.0.0")
    assert PREVIOUS not in request.headers
    assert receive["verify_delivery"]([new], request.headers, request.body)
    assert not receive["verify_delivery"]([old], request.headers, request.body)
    sub.refresh_from_db()
    assert sub.previous_secret == ""


def test_a_non_admin_cannot_rotate_at_any_door(people, receiver, subscribe, overlap):
    sub = subscribe(receiver.url)
    old = sub.secret
    client = _client(people.release)

    assert client.post(f"/api/v1/webhooks/{sub.pk}/rotate-secret/").status_code == 403
    patched = client.patch(
        f"/api/v1/webhooks/{sub.pk}/",
        {"secret": "whsec_not-theirs-to-set-0123456789"},
        content_type="application/json",
    )
    assert patched.status_code == 403
    admin_post = client.post(
        f"/admin/webhooks_app/subscription/{sub.pk}/change/",
        {"url": sub.url, "active": "on", "rotate_secret": "on"},
    )
    assert admin_post.status_code in (302, 403)  # to the admin's sign-in, or refused
    with pytest.raises(NotAllowed):
        webhooks.subscription_update(actor=people.release, subscription=sub, rotate_secret=True)

    sub.refresh_from_db()
    assert (sub.secret, sub.previous_secret) == (old, "")
    assert not AuditEvent.objects.filter(action="webhook.secret_rotated").exists()
    assert Subscription.objects.count() == 1


@pytest.mark.slow  # settings read in a subprocess
@pytest.mark.parametrize("value, expected", [(None, 86400), ("0", 0), ("600", 600)])
def test_overlap_comes_from_the_environment(value, expected):
    result = _settings_in_fresh_process(value)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == expected


@pytest.mark.slow  # settings read in a subprocess
@pytest.mark.parametrize("value", ["-1", "a day", "1.5"])
def test_a_bad_overlap_stops_the_process(value):
    result = _settings_in_fresh_process(value)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "REGISTRY_WEBHOOK_SECRET_OVERLAP_SECONDS" in result.stderr


def _settings_in_fresh_process(value: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env["DEBUG"] = "1"
    if value is not None:
        env["REGISTRY_WEBHOOK_SECRET_OVERLAP_SECONDS"] = value
    code = (
        "from registry_site import settings as s; print(s.REGISTRY_WEBHOOK_SECRET_OVERLAP_SECONDS)"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
