"""The event types and the JSON payload each one carries.

Payloads are built from the audit event, inside the transaction that wrote it, and stored
with each delivery, so that every retry sends the very same body. docs/events.md shows an
example of each.
"""

from __future__ import annotations

from models_app.enums import Action
from models_app.models import AuditEvent, ModelVersion

EVENT_TYPES: tuple[str, ...] = (
    Action.VERSION_REGISTERED.value,
    Action.VERSION_PROMOTED.value,
    Action.VERSION_ROLLED_BACK.value,
    Action.VERSION_ARCHIVED.value,
    Action.VERSION_DEPRECATED.value,
    Action.REVIEW_REQUESTED.value,
    Action.REVIEW_SUBMITTED.value,
    Action.POLICY_CHANGED.value,
    Action.SIGNAL_RECEIVED.value,
    Action.SIGNAL_RESOLVED.value,
)

# A rollback writes two audit events: version.rolled_back (the production version taken
# out) and then version.restored (the target put back). Subscribers get one
# version.rolled_back event that names both, built from the first; the second emits none.
SILENT_ACTIONS = frozenset({Action.VERSION_RESTORED.value})


def event_type_for(action: str) -> str | None:
    """The webhook event type an audit action is delivered as, or None for internal ones."""
    return action if action in EVENT_TYPES else None


def _version_dict(mv: ModelVersion | None, stage: str | None = None) -> dict | None:
    if mv is None:
        return None
    return {"version": mv.version, "number": mv.number, "stage": stage or mv.stage}


def build_payload(event: AuditEvent) -> dict:
    """The JSON document delivered for `event` (see docs/events.md)."""
    event_type = event_type_for(event.action)
    model = event.registered_model if event.registered_model_id else None
    mv = event.model_version if event.model_version_id else None
    extra = dict(event.payload or {})
    data: dict = {}
    stage = event.to_stage or None

    if event_type == Action.VERSION_REGISTERED:
        data = {"metrics": extra.get("metrics", {}), "artifact_uri": extra.get("artifact_uri")}
    elif event_type == Action.VERSION_PROMOTED:
        data = {"previous_version": extra.get("previous"), "checks": extra.get("checks", [])}
    elif event_type == Action.VERSION_ARCHIVED:
        data = {"superseded_by": extra.get("superseded_by")}
    elif event_type == Action.VERSION_ROLLED_BACK:
        restored = None
        if model is not None and extra.get("restored"):
            restored = ModelVersion.objects.filter(
                registered_model=model, version=extra["restored"]
            ).first()
        data = {
            "rolled_back_version": _version_dict(mv, event.to_stage),
            # The restore is written right after this event, in the same transaction.
            "restored_version": _version_dict(restored, "production"),
        }
    elif event_type == Action.REVIEW_REQUESTED:
        data = {"card_revision": extra.get("revision")}
    elif event_type == Action.REVIEW_SUBMITTED:
        data = {
            "decision": extra.get("decision"),
            "comment": event.reason,
            "card_revision": extra.get("revision"),
            "card_sha256": extra.get("sha256"),
            "reviewer": event.actor_username,
        }
    elif event_type == Action.POLICY_CHANGED:
        data = {"scope": extra.get("scope"), "changes": event.changes}
    elif event_type in (Action.SIGNAL_RECEIVED, Action.SIGNAL_RESOLVED):
        keys = ("signal_id", "metric", "value", "window_seconds", "source", "observed_at")
        data = {key: extra.get(key) for key in keys}
        data["fingerprint"] = extra.get("fingerprint")
        if event_type == Action.SIGNAL_RESOLVED:
            data["resolved_at"] = extra.get("resolved_at")

    return {
        "id": f"evt_{event.pk}",
        "type": event_type,
        "occurred_at": event.created_at.isoformat().replace("+00:00", "Z"),
        "model": (
            {"name": model.name, "team": event.team.slug if event.team_id else None}
            if model is not None
            else None
        ),
        "version": _version_dict(mv, stage),
        "from_stage": event.from_stage or None,
        "to_stage": event.to_stage or None,
        "actor": event.actor_username or None,
        "reason": event.reason or "",
        "data": data,
    }
