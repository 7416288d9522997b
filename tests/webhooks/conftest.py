"""Webhook test helpers: a real HTTP receiver on 127.0.0.1 and fast retry settings."""

from __future__ import annotations

import importlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth.models import Group, Permission

from webhooks_app import services as webhooks
from webhooks_app.worker import Worker

FAST = {
    "REGISTRY_WEBHOOK_ALLOW_PRIVATE": True,  # the receiver lives on loopback
    "REGISTRY_WEBHOOK_ALLOWED_HOSTS": [],
    "REGISTRY_WEBHOOK_TIMEOUT": 1.0,
    "REGISTRY_WEBHOOK_BACKOFF_BASE": 0.05,
    "REGISTRY_WEBHOOK_BACKOFF_CAP": 0.2,
    "REGISTRY_WEBHOOK_MAX_ATTEMPTS": 8,
    "REGISTRY_WEBHOOK_LEASE_SECONDS": 30,
}


@pytest.fixture
def _roles(db):
    """Recreate the role groups after a transactional test's flush removed them.

    The groups come from a data migration (approvals_app 0003); a flush keeps the
    permissions (post_migrate recreates them) but not the groups.
    """
    roles = importlib.import_module("approvals_app.migrations.0003_roles").ROLES
    for name, perms in roles.items():
        group, created = Group.objects.get_or_create(name=name)
        if created:
            for dotted in perms:
                app_label, codename = dotted.split(".")
                group.permissions.add(
                    Permission.objects.get(content_type__app_label=app_label, codename=codename)
                )


@pytest.fixture
def people(_roles, people):
    return people


@pytest.fixture
def fast(settings):
    for key, value in FAST.items():
        setattr(settings, key, value)
    return settings


@dataclass
class Received:
    headers: dict
    body: bytes
    at: float

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST.

    `mode`: "ok" answers 204, "error" answers 500, "slow" waits `delay` seconds before
    answering (too late: not counted as acknowledged), "hold" answers 204 once the test
    sets `gate` (a request in flight for as long as the test needs), "hold-first" holds
    the first request that ever arrived that way and answers the others at once.
    `arrived` holds every request that reached it, `acknowledged` the ones it answered
    with a 2xx.

    It stops at once: its loop looks for a stop request every 10 ms (the standard
    library's default is half a second, paid by every test that used a receiver), and it
    does not wait for a slow answer still being held back.
    """

    mode: str = "ok"
    delay: float = 0.0
    port: int = 0
    arrived: list = field(default_factory=list)
    acknowledged: list = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                item = Received(dict(self.headers.items()), self.rfile.read(length), time.time())
                receiver.arrived.append(item)
                mode = receiver.mode
                if mode == "slow":
                    # Answers too late to count: the sender has given up (or died) by then.
                    # This server-side delay is the behaviour under test (a receiver slower
                    # than the sender's timeout), so it really waits.
                    time.sleep(receiver.delay)
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if mode == "hold" or (mode == "hold-first" and item is receiver.arrived[0]):
                    receiver.gate.wait(timeout=60)
                    mode = "ok"
                if mode == "error":
                    self.send_response(500)
                    self.send_header("Content-Length", "6")
                    self.end_headers()
                    self.wfile.write(b"boom!\n")
                    return
                receiver.acknowledged.append(item)
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a "slow" answer still held back is dropped
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/registry"

    def types(self, which: str = "acknowledged") -> list[str]:
        return [r.headers["X-Registry-Event"] for r in getattr(self, which)]


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def subscribe(people, fast):
    """Subscribe a URL as the admin (loopback allowed by `fast`)."""

    def _subscribe(url: str, **kwargs):
        return webhooks.subscription_create(actor=people.admin, url=url, **kwargs)

    return _subscribe


@pytest.fixture
def worker(fast):
    return Worker()


def drive_every_event_type(people, model) -> None:
    """Make one change of each webhook event type through the services, as any door would.

    Emits: policy.changed, version.registered ×2, review.requested ×2, review.submitted ×2,
    version.promoted ×2, version.archived (1.0.0 superseded), version.rolled_back (one event
    for the rollback's two audit rows), version.deprecated, signal.received, signal.resolved.
    """
    from approvals_app import services as approvals
    from models_app import services
    from tests.factories import FULL_CARD, approve, register

    services.policy_update(actor=people.admin, model=model, required_approvals=1, reason="r")
    first = register(actor=people.author, model=model, version="1.0.0")
    approvals.card_update(actor=people.author, version=first, sections=FULL_CARD)
    approvals.review_request(actor=people.author, version=first)
    approve(first, reviewer=people.reviewer)
    services.model_version_promote(actor=people.release, version=first, reason="first release")
    second = register(actor=people.author, model=model, version="1.1.0")
    approvals.card_update(actor=people.author, version=second, sections=FULL_CARD)
    approvals.review_request(actor=people.author, version=second)
    approve(second, reviewer=people.reviewer)
    services.model_version_promote(actor=people.release, version=second, reason="better")
    services.registered_model_rollback(actor=people.release, model=model, reason="latency")
    services.model_version_deprecate(actor=people.release, version=second, reason="retired")
    services.signal_record(
        actor=people.release, version=first, metric="drift_psi", value=0.31, fingerprint="f1"
    )
    services.signal_resolve(actor=people.release, fingerprint="f1")


EXPECTED_TYPES = [
    "policy.changed",
    "version.registered",
    "review.requested",
    "review.submitted",
    "version.promoted",
    "version.registered",
    "review.requested",
    "review.submitted",
    "version.archived",
    "version.promoted",
    "version.rolled_back",
    "version.deprecated",
    "signal.received",
    "signal.resolved",
]
