"""The admin door: user, role (group) and API token pages record every change of rights in
the audit trail, by the signed-in admin, with the request's id; saves that change no right
record nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.contrib.messages import get_messages
from django.urls import reverse
from knox.models import AuthToken

from models_app import accounts
from models_app.enums import Action
from models_app.models import AuditEvent
from tests.factories import make_user

RID = "admin-request-0001"


def admin_url(name: str, *args) -> str:
    return reverse(f"admin:{name}", args=args)


@pytest.fixture
def su(client, people):
    client.force_login(people.admin)
    return client


def user_form(user, **overrides) -> dict:
    """The admin's user change form as the browser posts it, with `overrides`."""
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "groups": [g.pk for g in user.groups.all()],
        "user_permissions": [p.pk for p in user.user_permissions.all()],
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        "last_login_0": "",
        "last_login_1": "",
        "_save": "Save",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def events(action, **filters):
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("id"))


def test_changing_a_users_groups_and_active_flag_is_recorded_by_the_admin(su, people):
    user = make_user("nina", "contributor")
    reviewer, contributor = (
        Group.objects.get(name="reviewer"),
        Group.objects.get(name="contributor"),
    )
    promote = Permission.objects.get(codename="promote_version")
    r = su.post(
        admin_url("auth_user_change", user.pk),
        user_form(
            user,
            groups=[reviewer.pk],
            user_permissions=[promote.pk],
            is_active=None,
            is_staff="on",
        ),
        HTTP_X_REQUEST_ID=RID,
    )
    assert r.status_code == 302, r.content
    [groups] = events(Action.USER_GROUPS_CHANGED, object_id=str(user.pk), request_id=RID)
    assert groups.actor_username == "admin_user"
    assert groups.actor_id == people.admin.pk
    # Django's form sets the groups by removing contributor, then adding reviewer: one event.
    assert groups.changes == {"groups": [["contributor"], ["reviewer"]]}
    assert groups.payload == {"subject": "nina", "added": ["reviewer"], "removed": ["contributor"]}
    [perms] = events(Action.USER_PERMISSIONS_CHANGED, request_id=RID)
    assert perms.changes == {"permissions": [[], ["models_app.promote_version"]]}
    [deactivated] = events(Action.USER_DEACTIVATED, request_id=RID)
    assert deactivated.changes == {"is_active": [True, False]}
    [status] = events(Action.USER_STATUS_CHANGED, request_id=RID)
    assert status.changes == {"is_staff": [False, True]}
    assert {e.actor_username for e in (perms, deactivated, status)} == {"admin_user"}
    assert reviewer in User.objects.get(pk=user.pk).groups.all()
    assert contributor not in User.objects.get(pk=user.pk).groups.all()


def test_reactivating_a_user_in_the_admin_is_recorded(su, people):
    user = make_user("omar")
    user.is_active = False
    user.save()
    r = su.post(admin_url("auth_user_change", user.pk), user_form(user), HTTP_X_REQUEST_ID=RID)
    assert r.status_code == 302, r.content
    [event] = events(Action.USER_REACTIVATED, request_id=RID)
    assert (event.actor_username, event.payload["subject"]) == ("admin_user", "omar")


def test_saving_a_user_unchanged_in_the_admin_records_nothing(su, people):
    user = make_user("pia", "reviewer")
    count = AuditEvent.objects.count()
    r = su.post(admin_url("auth_user_change", user.pk), user_form(user, first_name="Pia"))
    assert r.status_code == 302, r.content
    assert AuditEvent.objects.count() == count


def test_a_refused_user_form_records_nothing(su, people):
    user = make_user("quinn")
    count = AuditEvent.objects.count()
    r = su.post(
        admin_url("auth_user_change", user.pk),
        user_form(user, groups=[Group.objects.get(name="reviewer").pk], date_joined_0="junk"),
    )
    assert r.status_code == 200
    assert AuditEvent.objects.count() == count
    assert not User.objects.get(pk=user.pk).groups.exists()


def test_adding_a_user_in_the_admin_is_recorded(su, people):
    r = su.post(
        admin_url("auth_user_add"),
        {
            "username": "rosa",
            "usable_password": "true",
            "password1": "a-long-passphrase-42",
            "password2": "a-long-passphrase-42",
            "_save": "Save",
        },
        HTTP_X_REQUEST_ID=RID,
    )
    assert r.status_code == 302, r.content
    [event] = events(Action.USER_CREATED, request_id=RID)
    assert (event.actor_username, event.payload["subject"]) == ("admin_user", "rosa")
    assert event.changes["is_active"] == [None, True]


def test_changing_a_roles_permissions_in_the_admin_is_recorded(su, people):
    role = Group.objects.get(name="viewer")
    kept = list(role.permissions.values_list("pk", flat=True))
    promote = Permission.objects.get(codename="promote_version")
    r = su.post(
        admin_url("auth_group_change", role.pk),
        {"name": "viewer", "permissions": [*kept, promote.pk], "_save": "Save"},
        HTTP_X_REQUEST_ID=RID,
    )
    assert r.status_code == 302, r.content
    [event] = events(Action.GROUP_PERMISSIONS_CHANGED, request_id=RID)
    assert event.actor_username == "admin_user"
    assert (event.object_type, event.payload["subject"]) == ("group", "viewer")
    assert event.payload["added"] == ["models_app.promote_version"]
    assert event.payload["removed"] == []


def test_a_token_made_and_deleted_in_the_admin_is_recorded_without_its_secret(su, people):
    r = su.post(
        admin_url("knox_authtoken_add"),
        {"user": people.viewer.pk, "expiry_0": "", "expiry_1": "", "_save": "Save"},
        HTTP_X_REQUEST_ID=RID,
    )
    assert r.status_code == 302, r.content
    token = AuthToken.objects.get(user=people.viewer)
    [created] = events(Action.TOKEN_CREATED, request_id=RID)
    assert (created.actor_username, created.payload["subject"]) == ("admin_user", "viewer")
    assert created.payload["token_key"] == token.token_key
    # The secret is shown once, in a message.
    [shown] = [str(m) for m in get_messages(r.wsgi_request) if str(m).startswith("Token ")]
    secret = shown.split()[1]
    assert secret.startswith(token.token_key)
    assert secret not in str(created.changes) + str(created.payload)

    r = su.post(
        admin_url("knox_authtoken_delete", token.pk), {"post": "yes"}, HTTP_X_REQUEST_ID="rid-2-del"
    )
    assert r.status_code == 302, r.content
    assert not AuthToken.objects.exists()
    [revoked] = events(Action.TOKEN_REVOKED, request_id="rid-2-del")
    assert (revoked.actor_username, revoked.payload["token_key"]) == ("admin_user", token.token_key)


def test_tokens_deleted_in_bulk_in_the_admin_are_each_recorded(su, people):
    one, _ = accounts.api_token_create(actor=people.viewer, user=people.viewer)
    two, _ = accounts.api_token_create(actor=people.author, user=people.author)
    r = su.post(
        admin_url("knox_authtoken_changelist"),
        {"action": "delete_selected", "_selected_action": [one.pk, two.pk], "post": "yes"},
        HTTP_X_REQUEST_ID=RID,
    )
    assert r.status_code == 302, r.content
    assert not AuthToken.objects.exists()
    revoked = events(Action.TOKEN_REVOKED, request_id=RID)
    assert {e.payload["subject"] for e in revoked} == {"viewer", "author"}


def test_a_token_for_a_deactivated_user_is_refused_in_the_admin(su, people):
    people.viewer.is_active = False
    people.viewer.save()
    count = AuditEvent.objects.count()
    r = su.post(
        admin_url("knox_authtoken_add"),
        {"user": people.viewer.pk, "expiry_0": "", "expiry_1": "", "_save": "Save"},
    )
    assert r.status_code == 200
    assert b"deactivated" in r.content
    assert not AuthToken.objects.exists()
    assert AuditEvent.objects.count() == count
