"""Fixtures for the dashboard tests: signed-in clients and a model with a history."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.test import Client

from approvals_app import services as approvals
from models_app import services
from tests.factories import FULL_CARD, make_promotable, register


def https_client() -> Client:
    """A client whose requests arrive over HTTPS, as the production settings expect
    (SECURE_SSL_REDIRECT is on whenever DEBUG is off, which includes the tests)."""
    return Client(**{"wsgi.url_scheme": "https"})


@pytest.fixture
def anon():
    return https_client()


@pytest.fixture
def login():
    """login(user) -> a test client signed in as `user`."""

    def _login(user) -> Client:
        client = https_client()
        client.force_login(user)
        return client

    return _login


@pytest.fixture
def scene(people, model, promote):
    """fraud_detector with 1.0.0 archived, 1.1.0 in production and 1.2.0 in staging
    waiting for review (card filled in by the author)."""
    promote(model, "1.0.0", {"accuracy": 0.91, "f1": 0.80})
    production = promote(model, "1.1.0", {"accuracy": 0.93, "f1": 0.82})
    candidate = register(
        actor=people.author,
        model=model,
        version="1.2.0",
        metrics={"accuracy": 0.95, "f1": 0.84},
        data_version="s3://data/fraud/2026-11",
        code_version="abc1234",
        source_run="run-42",
        params={"depth": 6},
    )
    approvals.card_update(actor=people.author, version=candidate, sections=FULL_CARD)
    approvals.review_request(actor=people.author, version=candidate)
    return SimpleNamespace(model=model, production=production, candidate=candidate)


def version_url(mv, suffix: str = "") -> str:
    return f"/models/{mv.registered_model.name}/versions/{mv.version}/{suffix}"


__all__ = ["make_promotable", "services", "version_url"]
