"""Every write to subscriptions and every manual redelivery: one path for admin, API and
dashboard, with the permission check, the URL check, history and an audit event.

Audit actions written here are members of models_app.enums.Action ("webhook.created",
"webhook.changed", "webhook.redelivered"); AuditEvent.action stores them as text, with no
choices declared on the field.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from models_app.audit import diff, record_event, tag_change
from models_app.enums import Action
from models_app.exceptions import InvalidTransition, NotAllowed
from models_app.validators import validate_plain_text

from .events import EVENT_TYPES
from .models import Delivery, DeliveryStatus, Subscription
from .signing import new_secret
from .urlcheck import UrlRefused, check_url

WEBHOOK_CREATED = Action.WEBHOOK_CREATED
WEBHOOK_CHANGED = Action.WEBHOOK_CHANGED
WEBHOOK_SECRET_ROTATED = Action.WEBHOOK_SECRET_ROTATED
WEBHOOK_REDELIVERED = Action.WEBHOOK_REDELIVERED

PERMISSION = "webhooks_app.change_subscription"


def can_manage(user) -> bool:
    """Admins (superusers or holders of webhooks_app.change_subscription) manage webhooks."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and (user.is_superuser or user.has_perm(PERMISSION))
    )


def require_manage(user) -> None:
    if not can_manage(user):
        raise NotAllowed("Only admins may manage webhook subscriptions.")


def validate_url(url: object) -> str:
    """The URL, stripped, or ValidationError naming why it may not receive webhooks."""
    if not isinstance(url, str):
        raise ValidationError({"url": ["A URL is required."]})
    url = url.strip()
    if len(url) > 2000:
        raise ValidationError({"url": ["The URL is longer than 2000 characters."]})
    try:
        check_url(url)
    except UrlRefused as exc:
        raise ValidationError({"url": [str(exc)]}) from exc
    return url


def validate_event_types(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValidationError({"event_types": ["A list of event type names."]})
    unknown = sorted(set(value) - set(EVENT_TYPES))
    if unknown:
        raise ValidationError(
            {
                "event_types": [
                    f"Unknown event type(s): {', '.join(unknown)}. Known: {', '.join(EVENT_TYPES)}."
                ]
            }
        )
    # Keep the documented order and drop duplicates.
    return [t for t in EVENT_TYPES if t in value]


def _validate_secret(secret: object) -> str:
    if not isinstance(secret, str) or not 16 <= len(secret) <= 128:
        raise ValidationError({"secret": ["A secret of 16 to 128 characters."]})
    if any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in secret):
        raise ValidationError({"secret": ["The secret must be printable ASCII without spaces."]})
    return secret


def _description(value: object) -> str:
    if value is None:
        return ""
    try:
        validate_plain_text(value, field="description", max_length=200, multiline=False)
    except ValidationError as exc:
        raise ValidationError({"description": exc.messages}) from exc
    return value


def _snapshot(sub: Subscription) -> dict:
    return {
        "url": sub.url,
        "description": sub.description,
        "event_types": list(sub.event_types),
        "active": sub.active,
    }


@transaction.atomic
def subscription_create(
    *,
    actor,
    url: str,
    event_types: list[str] | None = None,
    secret: str | None = None,
    active: bool = True,
    description: str = "",
) -> Subscription:
    """Subscribe `url` to `event_types` (empty: all). The secret is generated unless given.

    The returned object carries the secret; callers show it once and never again.
    """
    require_manage(actor)
    errors: dict = {}
    values: dict = {}
    for key, fn, raw in (
        ("url", validate_url, url),
        ("event_types", validate_event_types, event_types),
        ("description", _description, description),
        ("secret", _validate_secret, secret if secret else new_secret()),
    ):
        try:
            values[key] = fn(raw)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if not isinstance(active, bool):
        errors["active"] = ["Must be true or false."]
    if errors:
        raise ValidationError(errors)
    sub = Subscription(
        url=values["url"],
        event_types=values["event_types"],
        secret=values["secret"],
        description=values["description"],
        active=active,
        created_by=actor,
    )
    tag_change(sub, actor=actor)
    sub.save()
    record_event(action=WEBHOOK_CREATED, actor=actor, obj=sub, changes=diff({}, _snapshot(sub)))
    return sub


@transaction.atomic
def subscription_update(
    *,
    actor,
    subscription: Subscription,
    url: str | None = None,
    event_types: list[str] | None = None,
    active: bool | None = None,
    description: str | None = None,
    rotate_secret: bool = False,
    secret: str | None = None,
) -> Subscription:
    """Change a subscription; `rotate_secret` (or a given `secret`) replaces its secret.

    A new secret is on the returned object, to be shown once. The replaced secret keeps
    signing deliveries, beside the new one, for REGISTRY_WEBHOOK_SECRET_OVERLAP_SECONDS.
    """
    require_manage(actor)
    sub = Subscription.objects.select_for_update().get(pk=subscription.pk)
    before = _snapshot(sub)
    old_secret = sub.secret
    errors: dict = {}
    for key, fn, raw in (
        ("url", validate_url, url),
        ("event_types", validate_event_types, event_types),
        ("description", _description, description),
        ("secret", _validate_secret, secret),
    ):
        if raw is None:
            continue
        try:
            setattr(sub, key, fn(raw))
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if active is not None:
        if isinstance(active, bool):
            sub.active = active
        else:
            errors["active"] = ["Must be true or false."]
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    secret_changed = rotate_secret or secret is not None
    overlap_until = None
    if secret_changed:
        overlap_until = _rotate(sub, old_secret, sub.secret if secret is not None else None, now)
    changes = diff(before, _snapshot(sub))
    if changes or secret_changed:
        sub.updated_at = now
        tag_change(sub, actor=actor)
        sub.save()
    if changes:
        record_event(action=WEBHOOK_CHANGED, actor=actor, obj=sub, changes=changes)
    if secret_changed:
        # Which secret is never recorded: only that it changed and how long the old one
        # keeps signing.
        record_event(
            action=WEBHOOK_SECRET_ROTATED,
            actor=actor,
            obj=sub,
            payload={
                "previous_secret_expires_at": (
                    overlap_until.isoformat() if overlap_until is not None else None
                ),
            },
        )
    return sub


def _rotate(sub: Subscription, old_secret: str, given: str | None, now) -> datetime | None:
    """Give `sub` a new secret (`given`, or a generated one); the secret it replaces keeps
    signing deliveries for REGISTRY_WEBHOOK_SECRET_OVERLAP_SECONDS. Returns when that
    overlap ends (None when there is none)."""
    sub.secret = given if given is not None else new_secret()
    overlap = int(getattr(settings, "REGISTRY_WEBHOOK_SECRET_OVERLAP_SECONDS", 86400))
    if overlap > 0 and old_secret and old_secret != sub.secret:
        # Only the secret just replaced: a second rotation within the overlap ends the
        # first one's, so a delivery carries two signatures at most.
        sub.previous_secret = old_secret
        sub.previous_secret_expires_at = now + timedelta(seconds=overlap)
    elif old_secret != sub.secret:
        sub.previous_secret = ""
        sub.previous_secret_expires_at = None
    return sub.previous_secret_expires_at if sub.previous_secret else None


def expired_secrets_forget(now=None) -> int:
    """Blank the replaced secrets whose overlap has ended: they sign nothing any more, so
    they are not kept. The worker's housekeeping, once per poll; no history or audit row
    changes, as neither ever holds a secret. Returns how many were forgotten."""
    now = now or timezone.now()
    return (
        Subscription.objects.filter(previous_secret_expires_at__lte=now)
        .exclude(previous_secret="")
        .update(previous_secret="")
    )


@transaction.atomic
def delivery_redeliver(*, actor, delivery: Delivery, reason: str = "") -> Delivery:
    """Put a dead (or retrying) delivery back in the queue, due now, with a fresh count.

    The idempotency key stays the same: it is the same event to the same receiver.
    """
    require_manage(actor)
    d = Delivery.objects.select_for_update().get(pk=delivery.pk)
    if not d.can_redeliver:
        raise InvalidTransition(
            f"Delivery {d.pk} is '{d.status}'; only dead or retrying deliveries can be "
            "redelivered.",
            details={"status": d.status},
        )
    before = d.status
    now = timezone.now()
    d.status = DeliveryStatus.PENDING
    d.attempts = 0
    d.next_attempt_at = now
    d.lease_expires_at = None
    d.claim_token = ""
    d.updated_at = now
    d.save()
    record_event(
        action=WEBHOOK_REDELIVERED,
        actor=actor,
        obj=d,
        reason=reason,
        from_stage="",
        to_stage="",
        changes={"status": [before, DeliveryStatus.PENDING]},
        payload={
            "subscription": d.subscription_id,
            "event": d.event_id,
            "idempotency_key": str(d.idempotency_key),
        },
    )
    return d
