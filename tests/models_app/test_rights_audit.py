"""Every change of rights leaves an audit event, whichever door makes it; here the doors
without a request (the shell, management commands: Django's signals) and the services.

The admin, dashboard and REST doors are tested with their other tests
(tests/test_admin_rights.py, tests/dashboard/test_rights_audit.py,
tests/api/test_token_audit.py).
"""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken

from models_app import accounts, services
from models_app.context import reset_request_id, set_request_id
from models_app.enums import Action
from models_app.exceptions import NotAllowed, NotFound
from models_app.models import AuditEvent
from models_app.permissions import can
from tests.factories import make_promotable, make_user, register

RIGHTS = [a for a in Action.values if a.startswith(("user.", "group.", "token."))]


def rights_events(**filters):
    return list(AuditEvent.objects.filter(action__in=RIGHTS, **filters).order_by("id"))


@pytest.fixture
def request_id():
    token = set_request_id("shell-0001")
    yield "shell-0001"
    reset_request_id(token)


@pytest.fixture
def reviewer_role(db):
    return Group.objects.get(name="reviewer")


# --- Users ----------------------------------------------------------------------------------


def test_creating_a_user_in_the_shell_is_recorded_without_actor(db, request_id):
    user = User.objects.create_user("carol", password="pw", is_staff=True)
    [event] = rights_events(object_id=str(user.pk))
    assert event.action == Action.USER_CREATED
    assert (event.actor_id, event.actor_username) == (None, "")
    assert event.request_id == "shell-0001"
    assert (event.object_type, event.payload["subject"]) == ("user", "carol")
    assert event.changes == {
        "is_active": [None, True],
        "is_staff": [None, True],
        "is_superuser": [None, False],
    }


def test_createsuperuser_is_recorded(db):
    call_command(
        "createsuperuser",
        username="root",
        email="root@example.com",
        interactive=False,
        stdout=StringIO(),
    )
    [event] = rights_events(action=Action.USER_CREATED)
    assert event.payload["subject"] == "root"
    assert event.changes["is_superuser"] == [None, True]


def test_deactivating_and_reactivating_are_recorded(db, request_id):
    user = make_user("dave")
    user.is_active = False
    user.save()
    user.is_active = True
    user.save(update_fields=["is_active"])
    events = rights_events(object_id=str(user.pk)).__iter__()
    assert next(events).action == Action.USER_CREATED
    deactivated, reactivated = next(events), next(events)
    assert deactivated.action == Action.USER_DEACTIVATED
    assert deactivated.changes == {"is_active": [True, False]}
    assert reactivated.action == Action.USER_REACTIVATED
    assert reactivated.changes == {"is_active": [False, True]}
    assert reactivated.request_id == "shell-0001"


def test_staff_and_superuser_status_changes_are_recorded(db):
    user = make_user("erin")
    user.is_superuser = True
    user.is_staff = True
    user.save()
    [event] = rights_events(action=Action.USER_STATUS_CHANGED)
    assert event.changes == {"is_staff": [False, True], "is_superuser": [False, True]}
    assert event.payload["subject"] == "erin"


def test_saves_that_change_no_right_record_nothing(db, client):
    user = make_user("frank", "reviewer")
    before = AuditEvent.objects.count()
    user.first_name = "Frank"
    user.save()
    user.set_password("new-password")
    user.save()
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    signed_in = client.post(  # a real sign-in, which updates last_login
        "/accounts/login/", {"username": "frank", "password": "new-password"}
    )
    assert signed_in.status_code == 302
    user.groups.add(Group.objects.get(name="reviewer"))  # already a member
    user.groups.remove(Group.objects.get(name="viewer"))  # never was
    User.objects.get(pk=user.pk).save()
    assert AuditEvent.objects.count() == before


# --- Groups and permissions -------------------------------------------------------------------


def test_adding_and_removing_groups_is_recorded_with_both_lists(db, request_id, reviewer_role):
    user = make_user("gina", "contributor")
    user.groups.add(reviewer_role)
    user.groups.remove(Group.objects.get(name="contributor"))
    added, removed = rights_events(action=Action.USER_GROUPS_CHANGED)[-2:]
    assert added.changes == {"groups": [["contributor"], ["contributor", "reviewer"]]}
    assert (added.payload["added"], added.payload["removed"]) == (["reviewer"], [])
    assert removed.changes == {"groups": [["contributor", "reviewer"], ["reviewer"]]}
    assert (removed.payload["added"], removed.payload["removed"]) == ([], ["contributor"])
    assert removed.request_id == "shell-0001"
    assert removed.object_id == str(user.pk)


def test_clearing_groups_and_adding_from_the_group_side_are_recorded(db, reviewer_role):
    one, two = make_user("hal", "viewer"), make_user("ivy")
    reviewer_role.user_set.add(one, two)
    by_subject = {e.payload["subject"]: e for e in rights_events(action=Action.USER_GROUPS_CHANGED)}
    assert by_subject["hal"].changes == {"groups": [["viewer"], ["reviewer", "viewer"]]}
    assert by_subject["ivy"].changes == {"groups": [[], ["reviewer"]]}
    one.groups.clear()
    last = rights_events(action=Action.USER_GROUPS_CHANGED)[-1]
    assert last.payload == {"subject": "hal", "added": [], "removed": ["reviewer", "viewer"]}
    reviewer_role.user_set.clear()
    last = rights_events(action=Action.USER_GROUPS_CHANGED)[-1]
    assert last.payload == {"subject": "ivy", "added": [], "removed": ["reviewer"]}


def test_direct_user_permissions_are_recorded(db):
    user = make_user("jack")
    user.user_permissions.add(Permission.objects.get(codename="promote_version"))
    [event] = rights_events(action=Action.USER_PERMISSIONS_CHANGED)
    assert event.changes == {"permissions": [[], ["models_app.promote_version"]]}
    assert event.payload["added"] == ["models_app.promote_version"]


def test_role_permission_changes_are_recorded(db, reviewer_role):
    promote = Permission.objects.get(codename="promote_version")
    reviewer_role.permissions.add(promote)
    reviewer_role.permissions.add(promote)  # again: nothing changes, nothing is recorded
    reviewer_role.permissions.remove(promote)
    added, removed = rights_events(action=Action.GROUP_PERMISSIONS_CHANGED)
    assert (added.object_type, added.object_id) == ("group", str(reviewer_role.pk))
    assert added.payload["subject"] == "reviewer"
    assert added.payload["added"] == ["models_app.promote_version"]
    assert removed.payload["removed"] == ["models_app.promote_version"]


def test_deleting_a_role_records_its_permissions_and_members(db):
    role = Group.objects.create(name="auditors")
    role.permissions.add(Permission.objects.get(codename="view_auditevent"))
    make_user("kim").groups.add(role)
    role.delete()
    [event] = rights_events(action=Action.GROUP_DELETED)
    assert event.changes == {
        "permissions": [["models_app.view_auditevent"], []],
        "members": [["kim"], []],
    }


def test_changes_recorded_together_make_one_event_per_subject_and_kind(db, reviewer_role):
    user = make_user("lee", "contributor")
    count = AuditEvent.objects.count()
    with transaction.atomic(), accounts.recorded_together():
        user.groups.set([reviewer_role])  # removes contributor, then adds reviewer
        user.is_active = False
        user.save()
    events = rights_events(id__gt=0)[-2:]
    assert AuditEvent.objects.count() == count + 2
    groups = next(e for e in events if e.action == Action.USER_GROUPS_CHANGED)
    assert groups.changes == {"groups": [["contributor"], ["reviewer"]]}
    assert (groups.payload["added"], groups.payload["removed"]) == (["reviewer"], ["contributor"])
    assert {e.action for e in events} == {Action.USER_GROUPS_CHANGED, Action.USER_DEACTIVATED}


def test_changes_undone_within_recorded_together_record_nothing(db, reviewer_role):
    user = make_user("mia")
    count = AuditEvent.objects.count()
    with transaction.atomic(), accounts.recorded_together():
        user.groups.add(reviewer_role)
        user.groups.remove(reviewer_role)
    assert AuditEvent.objects.count() == count


def test_seed_demo_records_the_demo_users_and_their_roles(db, settings):
    settings.DEBUG = True
    call_command("seed_demo", stdout=StringIO())
    created = {e.payload["subject"] for e in rights_events(action=Action.USER_CREATED)}
    assert {"admin", "reviewer1", "release_mgr"} <= created
    [roles] = rights_events(action=Action.USER_GROUPS_CHANGED, payload__subject="release_mgr")
    assert roles.payload["added"] == ["release_manager"]
    assert roles.request_id.startswith("seed-demo-")


# --- API tokens: the services and the shell ---------------------------------------------------


def test_token_services_record_key_and_expiry_never_the_secret(people, request_id):
    token, secret = accounts.api_token_create(
        actor=people.author, user=people.author, expiry=dt.timedelta(days=7)
    )
    accounts.api_token_revoke(actor=people.author, token=token, reason="laptop lost")
    created, revoked = rights_events(action__startswith="token.")
    assert created.action == Action.TOKEN_CREATED
    assert (created.actor_username, created.payload["subject"]) == ("author", "author")
    assert created.payload["token_key"] == token.token_key
    assert created.payload["expiry"] == token.expiry.isoformat()
    assert created.request_id == "shell-0001"
    assert revoked.action == Action.TOKEN_REVOKED
    assert revoked.reason == "laptop lost"
    assert revoked.changes["token_key"] == [token.token_key, None]
    for event in (created, revoked):
        text = str(event.changes) + str(event.payload)
        assert secret not in text and token.digest not in text
    assert not AuthToken.objects.exists()


def test_an_admin_may_make_and_revoke_anyones_token(people):
    token, _secret = accounts.api_token_create(actor=people.admin, user=people.viewer)
    accounts.api_token_revoke(actor=people.admin, token=token)
    created, revoked = rights_events(action__startswith="token.")
    assert (created.actor_username, created.payload["subject"]) == ("admin_user", "viewer")
    assert (revoked.actor_username, revoked.payload["subject"]) == ("admin_user", "viewer")


def test_nobody_else_may_make_or_revoke_a_users_tokens(people):
    token, _secret = accounts.api_token_create(actor=people.viewer, user=people.viewer)
    count = AuditEvent.objects.count()
    with pytest.raises(NotAllowed):
        accounts.api_token_create(actor=people.release, user=people.viewer)
    with pytest.raises(NotAllowed):
        accounts.api_token_revoke(actor=people.release, token=token)
    assert AuthToken.objects.filter(pk=token.pk).exists()
    assert AuthToken.objects.count() == 1
    assert AuditEvent.objects.count() == count


def test_revoking_a_revoked_token_is_not_found_and_records_nothing(people):
    token, _secret = accounts.api_token_create(actor=people.viewer, user=people.viewer)
    accounts.api_token_revoke(actor=people.viewer, token=token)
    count = AuditEvent.objects.count()
    with pytest.raises(NotFound):
        accounts.api_token_revoke(actor=people.viewer, token=token)
    assert AuditEvent.objects.count() == count


def test_tokens_made_and_deleted_in_the_shell_are_recorded(people):
    token, secret = AuthToken.objects.create(user=people.author)
    token.delete()
    created, revoked = rights_events(action__startswith="token.")
    assert (created.action, created.actor_username) == (Action.TOKEN_CREATED, "")
    assert (revoked.action, revoked.payload["token_key"]) == (Action.TOKEN_REVOKED, token.token_key)
    assert secret not in str(created.payload)


def test_removing_an_expired_token_records_nothing(people):
    token, _secret = AuthToken.objects.create(user=people.author, expiry=dt.timedelta(seconds=-1))
    count = AuditEvent.objects.count()
    token.delete()
    assert AuditEvent.objects.count() == count


# --- Permission checks through Django's has_perm ------------------------------------------------


def test_a_permission_granted_by_another_authentication_backend_counts(people, model, settings):
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "tests.auth_backends.DirectoryBackend",
    ]
    directory_user = make_user("directory_release")  # no group, no permission of Django's
    mv = make_promotable(
        register(actor=people.author, model=model), author=people.author, reviewer=people.reviewer
    )
    assert can(directory_user, "version.promote", mv)
    assert not can(directory_user, "version.archive", mv)
    services.model_version_promote(actor=directory_user, version=mv, reason="directory says so")
    event = AuditEvent.objects.get(action=Action.VERSION_PROMOTED, model_version=mv)
    assert event.actor_username == "directory_release"


def test_without_that_backend_the_same_user_is_refused(people, model):
    directory_user = make_user("directory_release")
    mv = make_promotable(
        register(actor=people.author, model=model), author=people.author, reviewer=people.reviewer
    )
    with pytest.raises(NotAllowed):
        services.model_version_promote(actor=directory_user, version=mv, reason="no")


def test_an_inactive_user_has_no_permission_from_any_backend(people, model, settings):
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "tests.auth_backends.DirectoryBackend",
    ]
    directory_user = make_user("directory_release")
    directory_user.is_active = False
    assert not can(directory_user, "version.promote", model)
    people.release.is_active = False
    assert not can(people.release, "version.promote", model)
