"""Shared fixtures: one user per role, a team, a model and helpers."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from models_app import services
from tests.factories import make_model, make_promotable, make_user, register

# Fixtures that start a server: pytest-django's live server (a thread serving the real
# site), the webhook tests' HTTP receiver, the federation tests' central registry (a
# runserver subprocess) and headless Chromium. A test that uses any of them, directly or
# through another fixture, is marked `slow`; a test that starts a subprocess itself
# carries the mark in its module. `pytest -m "not slow"` runs the rest.
SERVER_FIXTURES = frozenset({"live_server", "receiver", "central", "browser"})


def pytest_collection_modifyitems(items):
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def people(db):
    admin = make_user("admin_user", superuser=True)
    team = services.team_create(actor=admin, name="Fraud", slug="fraud")
    other_team = services.team_create(actor=admin, name="Pricing", slug="pricing")
    author = make_user("author", "contributor")
    outsider = make_user("outsider", "contributor")
    services.team_member_add(actor=admin, team=team, user=author)
    services.team_member_add(actor=admin, team=other_team, user=outsider)
    return SimpleNamespace(
        admin=admin,
        team=team,
        other_team=other_team,
        author=make_user("author"),
        outsider=make_user("outsider"),
        reviewer=make_user("reviewer", "reviewer"),
        reviewer2=make_user("reviewer2", "reviewer"),
        release=make_user("release", "release_manager"),
        viewer=make_user("viewer", "viewer"),
    )


@pytest.fixture
def model(people):
    return make_model(actor=people.author, team=people.team, name="fraud_detector")


@pytest.fixture
def clock(time_machine):
    """The clock of this process, under the test's control (time-machine).

    It starts at the real time and runs at real speed; `clock.shift(seconds)` jumps it
    forward, so a back-off, a lease or a deadline passes at once instead of being slept
    through. It moves time.time(), datetime.now() and so timezone.now(); not
    time.monotonic(), real sleeps and socket timeouts, and not other processes' clocks.
    """
    time_machine.move_to(datetime.now(tz=UTC), tick=True)
    return time_machine


@pytest.fixture
def promote(people):
    """Register, approve and promote a version in one call; returns the version."""

    def _promote(model, version: str, metrics: dict | None = None):
        mv = register(actor=people.author, model=model, version=version, metrics=metrics)
        make_promotable(mv, author=people.author, reviewer=people.reviewer)
        return services.model_version_promote(actor=people.release, version=mv, reason="ship it")

    return _promote


@pytest.fixture(autouse=True)
def _empty_registry_cache():
    """Each test starts with an empty "registry" cache when it is the per-process one. A
    shared Redis is left alone (clearing it would flush the whole database); there every
    test's changes drop the answers of the models it touches."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    cache = caches["registry"]
    if isinstance(cache, LocMemCache):
        cache.clear()
    yield
    if isinstance(cache, LocMemCache):
        cache.clear()
