"""Fixtures for driving the real MLflow client against a live registry server."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth.models import Group, Permission
from knox.models import AuthToken

ROLES = importlib.import_module("approvals_app.migrations.0003_roles").ROLES


@pytest.fixture(autouse=True)
def roles(db):
    """Role groups again: live-server tests flush the database, data migrations included."""
    for name, perms in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        for dotted in perms:
            app_label, codename = dotted.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


@pytest.fixture
def mlflow(live_server, monkeypatch, people):
    """An MlflowClient on the live server, and `as_user(user)` to choose whose token it sends.

    The client reads MLFLOW_TRACKING_TOKEN from the environment on every request, so one
    client serves every user in turn. Retries are off so that a failure shows at once.
    """
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    tokens: dict[int, str] = {}

    class Door:
        client = MlflowClient(tracking_uri=live_server.url, registry_uri=live_server.url)
        url = live_server.url

        @staticmethod
        def as_user(user):
            if user.pk not in tokens:
                tokens[user.pk] = AuthToken.objects.create(user)[1]
            monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", tokens[user.pk])
            return Door.client

        @staticmethod
        def token(user) -> str:
            Door.as_user(user)
            return tokens[user.pk]

    Door.as_user(people.author)
    return Door
