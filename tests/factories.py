"""Test data built through the services, as any door would build it."""

from __future__ import annotations

import itertools

import factory
from django.contrib.auth.models import Group, User

from approvals_app import services as approvals
from approvals_app.cards import SECTION_TITLES
from approvals_app.selectors import card_for
from models_app import roles, services
from models_app.enums import Role

_seq = itertools.count(1)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw")


def ensure_roles() -> None:
    """The role groups, in case a test removed them (the product restores them after
    every migrate and flush through models_app.roles)."""
    if Group.objects.filter(name__in=Role.values).count() != len(Role.values):
        roles.ensure_roles()


def make_user(username: str, *roles: str, superuser: bool = False) -> User:
    if roles:
        ensure_roles()
    user = UserFactory(username=username, is_superuser=superuser, is_staff=superuser)
    for role in roles:
        user.groups.add(Group.objects.get(name=Role(role).value))
    return User.objects.get(pk=user.pk)  # fresh: no cached permissions


FULL_CARD = {key: f"{title} text." for key, title in SECTION_TITLES.items()}


def make_model(*, actor, team, name: str | None = None, **kwargs):
    return services.registered_model_create(
        actor=actor, team=team, name=name or f"model_{next(_seq)}", **kwargs
    )


def register(*, actor, model, version: str = "1.0.0", metrics: dict | None = None, **kwargs):
    return services.model_version_register(
        actor=actor,
        model=model,
        version=version,
        metrics={"accuracy": 0.95} if metrics is None else metrics,
        **kwargs,
    )


def current_sha256(version) -> str:
    """The sha256 of the version's current card revision, as a reviewer reads it."""
    return card_for(version).current_revision.sha256


def approve(version, *, reviewer, comment: str = ""):
    """Approve the card revision that is current now, as a reviewer who just read it."""
    return approvals.review_submit(
        actor=reviewer,
        version=version,
        decision="approve",
        comment=comment,
        revision_sha256=current_sha256(version),
    )


def make_promotable(version, *, author, reviewer):
    """Fill the card and approve it, so that the default policy passes."""
    approvals.card_update(actor=author, version=version, sections=FULL_CARD)
    approvals.review_request(actor=author, version=version)
    approve(version, reviewer=reviewer)
    return version
