"""Each origin accepts pushes from one service user: the first to push it, or whom an
admin re-bound it to (through the admin, the API or manage.py federation_rebind_origin)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from federation_app import services as federation
from federation_app.models import OriginRegistry, SyncState
from federation_app.sync import pending_items
from models_app.enums import Action
from models_app.exceptions import NotAllowed
from models_app.models import AuditEvent, RegisteredModel
from tests.factories import make_user, register

PUSH = "/api/v1/federation/push/"


def service_user(username: str):
    user = make_user(username)
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="federation_app", codename="push_catalog")
    )
    return type(user).objects.get(pk=user.pk)  # fresh: no cached permissions


@pytest.fixture
def sync_users(db):
    return service_user("sync_a"), service_user("sync_b")


@pytest.fixture
def items(model, promote):
    promote(model, "1.0.0")
    return pending_items(SyncState.objects.create(central_url="here", registry_id="team-x"))


def push(user, items, origin="team-x"):
    client = APIClient()
    client.force_authenticate(user)
    return client.post(PUSH, {"origin": origin, "items": items}, format="json")


def test_the_first_push_binds_the_origin_to_its_user(sync_users, items):
    first, _second = sync_users
    assert push(first, items).status_code == 200
    registry = OriginRegistry.objects.get(name="team-x")
    assert registry.bound_user == first
    assert registry.bound_at is not None
    assert push(first, items).status_code == 200  # the same user again: accepted


def test_another_users_push_for_a_bound_origin_is_refused_and_changes_nothing(
    people, sync_users, items, model
):
    first, second = sync_users
    push(first, items)
    register(actor=people.author, model=model, version="1.1.0")
    more = pending_items(SyncState.objects.get(registry_id="team-x"))
    before = (
        OriginRegistry.objects.values().get(name="team-x"),
        AuditEvent.objects.count(),
        RegisteredModel.objects.filter(origin="team-x").count(),
    )

    response = push(second, more)

    assert response.status_code == 403
    message = response.json()["error"]["message"]
    assert "team-x" in message and "bound to another account" in message
    assert "sync_a" not in response.content.decode()
    after = (
        OriginRegistry.objects.values().get(name="team-x"),
        AuditEvent.objects.count(),
        RegisteredModel.objects.filter(origin="team-x").count(),
    )
    assert after == before
    assert not RegisteredModel.objects.get(name="team-x.fraud_detector").versions.filter(
        version="1.1.0"
    )
    # A superuser is no exception: the origin belongs to its service user.
    with pytest.raises(NotAllowed, match="bound to another account"):
        federation.catalog_ingest(actor=people.admin, origin="team-x", items=more)
    # Another origin is free for the second user.
    assert push(second, more, origin="team-y").status_code == 200


def test_an_origin_pushed_before_binding_binds_on_its_next_push(sync_users, items):
    first, second = sync_users
    push(first, items)
    OriginRegistry.objects.filter(name="team-x").update(bound_user=None, bound_at=None)
    assert push(second, items).status_code == 200
    assert OriginRegistry.objects.get(name="team-x").bound_user == second
    assert push(first, items).status_code == 403


def rebound_events():
    return list(AuditEvent.objects.filter(action=Action.ORIGIN_REBOUND))


def test_the_admin_rebinds_with_a_reason_and_it_is_audited(client, people, sync_users, items):
    first, second = sync_users
    push(first, items)
    registry = OriginRegistry.objects.get(name="team-x")
    page = reverse("admin:federation_app_originregistry_change", args=[registry.pk])
    client.force_login(people.admin)
    assert client.get(page).status_code == 200

    no_reason = client.post(page, {"bound_user": second.pk, "reason": "  "})
    assert no_reason.status_code == 200
    assert "This field is required" in no_reason.content.decode()
    no_permission = client.post(page, {"bound_user": people.viewer.pk, "reason": "x"})
    assert "may not push catalogs" in no_permission.content.decode()
    same = client.post(page, {"bound_user": first.pk, "reason": "x"})
    assert "already bound to sync_a" in same.content.decode()
    assert not rebound_events()
    assert OriginRegistry.objects.get(pk=registry.pk).bound_user == first

    saved = client.post(page, {"bound_user": second.pk, "reason": "new credentials"})
    assert saved.status_code == 302

    [event] = rebound_events()
    assert (event.actor_username, event.reason) == ("admin_user", "new credentials")
    assert event.changes == {"bound_user": ["sync_a", "sync_b"]}
    assert event.payload == {"origin": "team-x", "old_user": "sync_a", "new_user": "sync_b"}
    assert push(first, items).status_code == 403
    assert push(second, items).status_code == 200


def test_only_who_may_change_origin_registries_may_rebind_in_the_admin(
    client, people, sync_users, items
):
    first, second = sync_users
    push(first, items)
    registry = OriginRegistry.objects.get(name="team-x")
    page = reverse("admin:federation_app_originregistry_change", args=[registry.pk])
    people.release.is_staff = True
    people.release.save()
    client.force_login(people.release)
    client.post(page, {"bound_user": second.pk, "reason": "mine now"})
    assert OriginRegistry.objects.get(pk=registry.pk).bound_user == first
    assert not rebound_events()
    assert client.get(reverse("admin:federation_app_originregistry_add")).status_code == 403


def rebind(user, origin, body):
    client = APIClient()
    client.force_authenticate(user)
    return client.post(f"/api/v1/federation/registries/{origin}/rebind/", body, format="json")


def test_the_api_rebinds_and_answers_bad_input_with_4xx(people, sync_users, items):
    first, second = sync_users
    push(first, items)
    body = {"username": "sync_b", "reason": "rotated"}
    assert rebind(second, "team-x", body).status_code == 403
    assert rebind(people.admin, "team-nobody", body).status_code == 404
    assert rebind(people.admin, "team-x", {"username": "nobody", "reason": "r"}).status_code == 400
    assert rebind(people.admin, "team-x", {"username": "sync_b"}).status_code == 400
    assert rebind(people.admin, "team-x", {"username": "viewer", "reason": "r"}).status_code == 400
    assert not rebound_events()

    response = rebind(people.admin, "team-x", body)

    assert response.status_code == 200, response.content
    assert response.json() == {"origin": "team-x", "bound_user": "sync_b"}
    [event] = rebound_events()
    assert event.changes == {"bound_user": ["sync_a", "sync_b"]}
    assert push(second, items).status_code == 200
    assert push(first, items).status_code == 403


def test_the_command_rebinds_and_refuses_unknown_names(sync_users, items):
    first, second = sync_users
    push(first, items)
    with pytest.raises(CommandError, match="No user named"):
        call_command("federation_rebind_origin", "team-x", "nobody", reason="r")
    with pytest.raises(CommandError, match="team-nobody"):
        call_command("federation_rebind_origin", "team-nobody", "sync_b", reason="r")
    err = StringIO()
    call_command("federation_rebind_origin", "team-x", "sync_b", reason="rotated", stderr=err)
    assert "team-x is now bound to sync_b" in err.getvalue()
    [event] = rebound_events()
    assert (event.actor_username, event.reason) == ("", "rotated")
    assert event.payload["old_user"] == "sync_a"
    assert push(second, items).status_code == 200


def test_a_view_only_admin_sees_the_binding_without_the_form(client, sync_users, items):
    first, _second = sync_users
    push(first, items)
    registry = OriginRegistry.objects.get(name="team-x")
    staffer = make_user("staffer")
    staffer.is_staff = True
    staffer.save()
    staffer.user_permissions.add(Permission.objects.get(codename="view_originregistry"))
    client.force_login(staffer)
    page = client.get(reverse("admin:federation_app_originregistry_change", args=[registry.pk]))
    assert page.status_code == 200
    assert "sync_a" in page.content.decode()
    assert 'name="reason"' not in page.content.decode()
    listing = client.get(reverse("admin:federation_app_originregistry_changelist"))
    assert "sync_a" in listing.content.decode()
