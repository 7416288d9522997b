"""Writing the audit trail: history-row decoration and transition/change events."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver
from simple_history.signals import pre_create_historical_record

from .cache import cache_invalidate_model
from .context import get_request_id
from .models import AuditEvent, ModelVersion, RegisteredModel, Team


@receiver(pre_create_historical_record)
def _stamp_request_id(sender, instance, history_instance, **kwargs) -> None:
    if hasattr(history_instance, "history_request_id"):
        history_instance.history_request_id = get_request_id()
    # A row stored in steps records its creation on the save that completes it.
    if getattr(instance, "_history_created", False):
        history_instance.history_type = "+"


def tag_change(obj, *, actor, reason: str = "") -> None:
    """Tell simple-history who makes the next save of `obj`, and why."""
    obj._history_user = actor
    obj._change_reason = reason or None


def record_event(
    *,
    action: str,
    actor,
    obj: Any,
    reason: str = "",
    changes: dict | None = None,
    from_stage: str = "",
    to_stage: str = "",
    payload: dict | None = None,
    keeps_cached_answers: bool = False,
) -> AuditEvent:
    """Append one audit event for a change to `obj` made by `actor`.

    Callers are services, inside the transaction of the change itself, so the event
    exists exactly when the change does. The model's cached answers are dropped, unless
    the caller says the change alters none of them (`keeps_cached_answers`, e.g. a health
    signal, which may come every minute).
    """
    version = obj if isinstance(obj, ModelVersion) else getattr(obj, "model_version", None)
    if version is None and hasattr(obj, "version") and isinstance(obj.version, ModelVersion):
        version = obj.version
    model = obj if isinstance(obj, RegisteredModel) else None
    if version is not None:
        model = version.registered_model
    elif model is None:
        model = getattr(obj, "registered_model", None)
    if model is not None and not keeps_cached_answers:  # it may alter the cached answers
        renamed = (changes or {}).get("name") or []
        cache_invalidate_model(model.name, *[n for n in renamed if isinstance(n, str)])
    team = obj if isinstance(obj, Team) else getattr(model, "team", None)
    if team is None:
        team = getattr(obj, "team", None)
    return AuditEvent.objects.create(
        action=action,
        actor_id=getattr(actor, "pk", None),
        actor_username=actor.get_username() if actor is not None else "",
        request_id=get_request_id(),
        team=team,
        registered_model=model,
        model_version=version,
        model_name=model.name if model is not None else "",
        version_label=version.version if version is not None else "",
        object_type=obj._meta.model_name,
        object_id=str(obj.pk),
        from_stage=from_stage,
        to_stage=to_stage,
        reason=reason,
        changes=changes or {},
        payload=payload or {},
    )


def diff(before: dict, after: dict) -> dict:
    """{field: [before, after]} for the fields whose value changed."""
    return {
        key: [before.get(key), after.get(key)]
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }
