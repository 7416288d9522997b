"""Who holds which rights, and the audit trail of every change to them.

API tokens are made and revoked by the two services below, which every door calls (the
dashboard's token page, the REST API, the admin). Users' and roles' rights (active flag,
staff and superuser status, groups, permissions) are recorded from Django's own model
signals, so a change made by any door, a management command (`createsuperuser`,
`seed_demo`) or the shell is recorded too. The actor is the signed-in user of the request
being answered; without one (the shell, a command) the event has no actor ("system").
Saves that change no right (a password, the last login) record nothing.

Events are written inside the transaction of the change. `recorded_together()` groups the
changes of one form save (the admin's user and group pages) into one event per subject and
kind, e.g. one "groups changed" event when a user's groups go from A to B.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save
from django.utils import timezone
from knox.models import AuthToken

from .audit import record_event
from .cache import cache_invalidate_tokens
from .context import current_actor
from .enums import Action
from .exceptions import NotAllowed, NotFound

User = get_user_model()

FLAGS = ("is_active", "is_staff", "is_superuser")

# The changes collected by recorded_together(), or None when each change is written at once.
_batch: ContextVar[dict | None] = ContextVar("rights_batch", default=None)
# True while a token service creates or deletes a token: the service writes the event.
_token_service: ContextVar[bool] = ContextVar("token_service", default=False)


# --- Writing the events ----------------------------------------------------------------------


def _subject_name(subject) -> str:
    return subject.get_username() if isinstance(subject, User) else str(subject)


def _payload(subject, changes: dict) -> dict:
    """The subject's name, and for a list (groups, permissions) what was added and removed."""
    payload = {"subject": _subject_name(subject)}
    for before, after in changes.values():
        if isinstance(after, list) and isinstance(before, list):
            payload["added"] = sorted(set(after) - set(before))
            payload["removed"] = sorted(set(before) - set(after))
    return payload


def _write(action: str, actor, subject, changes: dict, *, reason: str = "", payload=None) -> None:
    changes = {field: pair for field, pair in changes.items() if pair[0] != pair[1]}
    record_event(
        action=action,
        actor=actor,
        obj=subject,
        reason=reason,
        changes=changes,
        payload=payload if payload is not None else _payload(subject, changes),
    )


def _record(action: str, subject, changes: dict) -> None:
    """Record a rights change seen by a signal: now, or at the end of recorded_together()."""
    changes = {field: pair for field, pair in changes.items() if pair[0] != pair[1]}
    if not changes:
        return
    batch = _batch.get()
    if batch is None:
        _write(action, current_actor(), subject, changes)
        return
    key = (action, subject._meta.label, subject.pk)
    if key not in batch:
        batch[key] = (subject, {})
    merged = batch[key][1]
    for field, (before, after) in changes.items():
        merged[field] = [merged[field][0] if field in merged else before, after]


@contextmanager
def recorded_together() -> Iterator[None]:
    """Record the rights changes made inside as one event per subject and kind.

    Use it inside the transaction of the changes: the events are written on leaving the
    block without an error, before the transaction commits.
    """
    if _batch.get() is not None:
        yield
        return
    pending: dict = {}
    token = _batch.set(pending)
    try:
        yield
    finally:
        _batch.reset(token)
    actor = current_actor()
    for (action, _label, _pk), (subject, changes) in pending.items():
        net = {field: pair for field, pair in changes.items() if pair[0] != pair[1]}
        if net:
            _write(action, actor, subject, net)


# --- Users: created, active flag, staff and superuser status -----------------------------------


def _user_pre_save(sender, instance, using, update_fields=None, **kwargs) -> None:
    instance._rights_before = None
    if instance.pk is None or (update_fields is not None and not set(FLAGS) & set(update_fields)):
        return  # a new user, or a save of other fields only (e.g. last_login at sign-in)
    instance._rights_before = (
        sender._default_manager.using(using).filter(pk=instance.pk).values(*FLAGS).first()
    )


def _user_post_save(sender, instance, created, **kwargs) -> None:
    before = getattr(instance, "_rights_before", None)
    instance._rights_before = None
    now = {flag: getattr(instance, flag) for flag in FLAGS}
    if created:
        _record(Action.USER_CREATED, instance, {flag: [None, now[flag]] for flag in FLAGS})
        return
    if before is None:
        return
    if before["is_active"] != now["is_active"]:
        action = Action.USER_REACTIVATED if now["is_active"] else Action.USER_DEACTIVATED
        _record(action, instance, {"is_active": [before["is_active"], now["is_active"]]})
    _record(
        Action.USER_STATUS_CHANGED,
        instance,
        {flag: [before[flag], now[flag]] for flag in ("is_staff", "is_superuser")},
    )


# --- Groups and permissions (many-to-many) ------------------------------------------------------


@dataclass(frozen=True)
class _Relation:
    subject_field: str  # the through model's field naming the subject ("user", "group")
    target_field: str  # ... and the one naming what it holds ("group", "permission")
    label: str  # the name of the change in the event ("groups", "permissions")
    action: str


def _relations() -> dict:
    user_field = User._meta.model_name
    return {
        User.groups.through: _Relation(user_field, "group", "groups", Action.USER_GROUPS_CHANGED),
        User.user_permissions.through: _Relation(
            user_field, "permission", "permissions", Action.USER_PERMISSIONS_CHANGED
        ),
        Group.permissions.through: _Relation(
            "group", "permission", "permissions", Action.GROUP_PERMISSIONS_CHANGED
        ),
    }


def _held(through, rel: _Relation, subject_ids: Iterable, using: str) -> dict[int, list[str]]:
    """{subject id: sorted names of the groups or permissions it holds} in one query."""
    subject_id = f"{rel.subject_field}_id"
    rows = through._default_manager.using(using).filter(**{f"{subject_id}__in": list(subject_ids)})
    if rel.target_field == "permission":
        pairs = (
            (sid, f"{app}.{codename}")
            for sid, app, codename in rows.values_list(
                subject_id, "permission__content_type__app_label", "permission__codename"
            )
        )
    else:
        pairs = rows.values_list(subject_id, f"{rel.target_field}__name")
    held: dict[int, list[str]] = {pk: [] for pk in subject_ids}
    for sid, name in pairs:
        held[sid].append(name)
    return {pk: sorted(names) for pk, names in held.items()}


def _m2m_changed(sender, instance, action, reverse, model, pk_set, using, **kwargs) -> None:
    rel = _relations().get(sender)
    if rel is None:
        return
    if action in ("pre_add", "pre_remove", "pre_clear"):
        instance._rights_pending = None
        if action != "pre_clear" and not pk_set:
            return  # adding what is already there, or removing nothing: no change
        if not reverse:
            subject_ids = [instance.pk]
        elif pk_set is not None:
            subject_ids = sorted(pk_set)
        else:  # clearing from the other side: every subject that holds `instance`
            subject_ids = list(
                sender._default_manager.using(using)
                .filter(**{f"{rel.target_field}_id": instance.pk})
                .values_list(f"{rel.subject_field}_id", flat=True)
            )
        if subject_ids:
            instance._rights_pending = (subject_ids, _held(sender, rel, subject_ids, using))
        return
    pending = getattr(instance, "_rights_pending", None)
    instance._rights_pending = None
    if pending is None:
        return
    subject_ids, before = pending
    after = _held(sender, rel, subject_ids, using)
    changed = [pk for pk in subject_ids if before[pk] != after[pk]]
    if not changed:
        return
    if reverse:
        subjects = model._default_manager.using(using).in_bulk(changed)
    else:
        subjects = {instance.pk: instance}
    for pk in changed:
        _record(rel.action, subjects[pk], {rel.label: [before[pk], after[pk]]})


def _group_pre_delete(sender, instance, using, **kwargs) -> None:
    """Deleting a role takes it from its members: record what it held and who had it."""
    through = Group.permissions.through
    perms = _held(through, _relations()[through], [instance.pk], using)
    members = sorted(
        User._default_manager.using(using)
        .filter(groups=instance)
        .values_list(User.USERNAME_FIELD, flat=True)
    )
    _write(
        Action.GROUP_DELETED,
        current_actor(),
        instance,
        {"permissions": [perms[instance.pk], []], "members": [members, []]},
        payload={"subject": instance.name},
    )


# --- API tokens --------------------------------------------------------------------------------


def _token_payload(user, token: AuthToken) -> dict:
    return {
        "subject": user.get_username(),
        "token_key": token.token_key,
        "expiry": token.expiry.isoformat() if token.expiry else None,
    }


def _require_token_rights(actor, user, verb: str) -> None:
    if actor is None or not actor.is_authenticated or not actor.is_active:
        raise NotAllowed(f"Only a signed-in user may {verb} API tokens.")
    if actor.pk != user.pk and not actor.is_superuser:
        raise NotAllowed(
            f"{actor.get_username()} may not {verb} API tokens of {user.get_username()}: "
            "only their own (admins: anyone's)."
        )


_DEFAULT_EXPIRY = object()


def api_token_create(
    *, actor, user, expiry: dt.timedelta | object | None = _DEFAULT_EXPIRY, reason: str = ""
) -> tuple[AuthToken, str]:
    """Create an API token for `user` (the actor's own, or anyone's for an admin).

    Returns the stored token and its secret, which is shown once and never stored or
    recorded: the audit event names the token by its key (the first characters, which
    the tokens page also shows) and its expiry. `expiry` None means it never expires; by
    default it is REST_KNOX["TOKEN_TTL"].
    """
    _require_token_rights(actor, user, "create")
    if not user.is_active:
        raise ValidationError({"user": [f"{user.get_username()} is deactivated."]})
    if expiry not in (_DEFAULT_EXPIRY, None) and (
        not isinstance(expiry, dt.timedelta) or expiry <= dt.timedelta(0)
    ):
        raise ValidationError({"expiry": ["The lifetime must be a positive duration."]})
    kwargs = {} if expiry is _DEFAULT_EXPIRY else {"expiry": expiry}
    with transaction.atomic():
        marker = _token_service.set(True)
        try:
            instance, secret = AuthToken.objects.create(user=user, **kwargs)
        finally:
            _token_service.reset(marker)
        payload = _token_payload(user, instance)
        _write(
            Action.TOKEN_CREATED,
            actor,
            user,
            {"token_key": [None, instance.token_key], "expiry": [None, payload["expiry"]]},
            reason=reason,
            payload=payload,
        )
    return instance, secret


def api_token_revoke(*, actor, token: AuthToken, reason: str = "") -> None:
    """Revoke `token` (the actor's own, or anyone's for an admin); scripts using it can no
    longer sign in."""
    user = token.user
    _require_token_rights(actor, user, "revoke")
    with transaction.atomic():
        marker = _token_service.set(True)
        try:
            deleted, _ = AuthToken.objects.filter(pk=token.pk).delete()
        finally:
            _token_service.reset(marker)
        if not deleted:
            raise NotFound("No such token: it was revoked or has expired.")
        payload = _token_payload(user, token)
        _write(
            Action.TOKEN_REVOKED,
            actor,
            user,
            {"token_key": [token.token_key, None], "expiry": [payload["expiry"], None]},
            reason=reason,
            payload=payload,
        )


def _token_saved(sender, instance, created, **kwargs) -> None:
    """A token made without the service (the shell): recorded all the same."""
    if created and not _token_service.get():
        payload = _token_payload(instance.user, instance)
        _write(
            Action.TOKEN_CREATED,
            current_actor(),
            instance.user,
            {"token_key": [None, instance.token_key], "expiry": [None, payload["expiry"]]},
            payload=payload,
        )


def _token_deleted(sender, instance, **kwargs) -> None:
    """A token deleted without the service (the shell). Removing an expired token takes
    no right away, so it records nothing."""
    if _token_service.get():
        return
    if instance.expiry is not None and instance.expiry <= timezone.now():
        return
    payload = _token_payload(instance.user, instance)
    _write(
        Action.TOKEN_REVOKED,
        current_actor(),
        instance.user,
        {"token_key": [instance.token_key, None], "expiry": [payload["expiry"], None]},
        payload=payload,
    )


def _sign_ins_changed(sender, **kwargs) -> None:
    """A user saved or deleted, or a token deleted: cached sign-ins may be stale."""
    cache_invalidate_tokens()


def connect() -> None:
    """Connect the receivers (ModelsAppConfig.ready)."""
    post_save.connect(_sign_ins_changed, sender=User, dispatch_uid="tokens_user_saved")
    post_delete.connect(_sign_ins_changed, sender=User, dispatch_uid="tokens_user_deleted")
    post_delete.connect(_sign_ins_changed, sender=AuthToken, dispatch_uid="tokens_deleted")
    pre_save.connect(_user_pre_save, sender=User, dispatch_uid="rights_user_pre_save")
    post_save.connect(_user_post_save, sender=User, dispatch_uid="rights_user_post_save")
    for through in _relations():
        uid = f"rights_{through._meta.label}"
        m2m_changed.connect(_m2m_changed, sender=through, dispatch_uid=uid)
    pre_delete.connect(_group_pre_delete, sender=Group, dispatch_uid="rights_group_deleted")
    post_save.connect(_token_saved, sender=AuthToken, dispatch_uid="rights_token_saved")
    post_delete.connect(_token_deleted, sender=AuthToken, dispatch_uid="rights_token_deleted")
