"""Fan-out: every audit event of a webhook event type becomes one Delivery per matching
subscription.

Connected to AuditEvent's post_save in WebhooksAppConfig.ready. It runs inside the
service's transaction, right where record_event inserts the event, so the deliveries
commit or roll back with the change itself. That is the outbox: nothing is lost while
the worker is down (the rows wait), and nothing is sent for a change that never
happened. Audit rows are insert-only (database triggers), so `created` is True exactly
once per event.

Why not have the worker scan events past a cursor instead: ids are handed out when a row
is inserted, not when its transaction commits, so a cursor can step past an event whose
transaction commits late and lose it for good.
"""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from models_app.models import AuditEvent

from .events import build_payload, event_type_for
from .models import Delivery, Subscription


@receiver(post_save, sender=AuditEvent, dispatch_uid="webhooks_fan_out")
def fan_out(sender, instance: AuditEvent, created: bool, raw: bool = False, **kwargs) -> None:
    """Queue `instance` for every active subscription that wants its type."""
    if not created or raw:
        return
    event_type = event_type_for(instance.action)
    if event_type is None:
        return
    subscriptions = [s for s in Subscription.objects.filter(active=True) if s.wants(event_type)]
    if not subscriptions:
        return
    payload = build_payload(instance)
    Delivery.objects.bulk_create(
        Delivery(
            event=instance,
            subscription=subscription,
            event_type=event_type,
            ordering_key=instance.model_name or "",
            payload=payload,
            next_attempt_at=instance.created_at,
        )
        for subscription in subscriptions
    )
