"""The team side of federation: push this registry's catalog to a central one.

A sync builds one snapshot per local model (the model, its versions with stage, metrics
and lineage, each card's current revision, the reviews), keeps those whose fingerprint
differs from the last one the central registry acknowledged, adds the audit events after
the cursor, and posts them in batches to the central registry's
/api/v1/federation/push/. After each acknowledged batch, and only then, the fingerprints
and the cursor of that batch are stored: a failed or interrupted sync resumes where it
stopped, and a batch sent again is harmless because the central upsert is idempotent.

This module only reads the registry's own tables and writes its own (SyncState,
SyncFingerprint).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from approvals_app.models import ModelCard, Review
from models_app.models import AuditEvent, ModelVersion, RegisteredModel

from .models import SyncFingerprint, SyncState
from .services import fingerprint, validate_origin

COUNT_KEYS = ("models", "versions", "stage_changes", "cards", "reviews", "audit_events")
PUSH_PATH = "/api/v1/federation/push/"
# Events about entries mirrored here (a registry that is both central and team): the
# ingest marks every event it writes with payload["origin"]. They are never pushed.
NOT_OURS = Q(registered_model__origin__gt="") | Q(payload__has_key="origin")
# A batch's JSON stays under this many bytes when its items allow (the central registry's
# default body limit is 2.5 MB).
BATCH_BYTES = 2_000_000
# Past this many ids between two cursor positions, gaps are not tracked (a jump in the
# id sequence, not transactions in flight).
GAP_RANGE_MAX = 10_000


class SyncError(Exception):
    """The sync stopped; what was acknowledged before stays pushed."""


@dataclass
class SyncResult:
    batches_total: int = 0
    batches_sent: int = 0
    items: int = 0
    applied: Counter = field(default_factory=Counter)

    @property
    def nothing_to_push(self) -> bool:
        return self.items == 0

    def summary(self) -> str:
        if self.nothing_to_push:
            return "Nothing to push: the central catalog is up to date."
        parts = ", ".join(_count(self.applied[key], key) for key in COUNT_KEYS)
        stale = self.applied["stale"]
        return (
            f"Pushed {_count(self.items, 'items')} in {_count(self.batches_sent, 'batches')}; "
            "the central catalog "
            f"applied: {parts} ({self.applied['unchanged']} already up to date)."
        ) + (
            f" It skipped {stale} model snapshot{'s' if stale != 1 else ''} older than the "
            "ones it holds."
            if stale
            else ""
        )


def _count(n: int, key: str) -> str:
    noun = key.replace("_", " ")
    if n == 1:
        noun = noun[:-2] if noun.endswith("ches") else noun[:-1]
    return f"{n} {noun}"


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


def model_snapshot(model: RegisteredModel) -> dict:
    """Everything the central catalog mirrors of one model, as plain JSON."""
    versions = list(
        ModelVersion.objects.filter(registered_model=model)
        .select_related("created_by")
        .order_by("number")
    )
    cards = {
        card.model_version_id: card
        for card in ModelCard.objects.filter(model_version__registered_model=model).select_related(
            "current_revision"
        )
    }
    reviews = _reviews_by_version(model)
    stage_events = _last_stage_events(model)
    out = [
        _version_snapshot(
            mv,
            card=cards.get(mv.pk),
            event=stage_events.get(mv.pk),
            reviews=reviews.get(mv.pk, []),
        )
        for mv in versions
    ]
    return {
        "name": model.name,
        "description": model.description,
        "tags": model.tags,
        "team": {"slug": model.team.slug, "name": model.team.name},
        "created_by": model.created_by.get_username(),
        "created_at": _iso(model.created_at),
        "versions": out,
    }


def _reviews_by_version(model: RegisteredModel) -> dict[int, list[Review]]:
    """The reviews of each of the model's versions, oldest first, by version id."""
    reviews: dict = {}
    for review in (
        Review.objects.filter(model_version__registered_model=model)
        .select_related("revision")
        .order_by("id")
    ):
        reviews.setdefault(review.model_version_id, []).append(review)
    return reviews


def _last_stage_events(model: RegisteredModel) -> dict[int, AuditEvent]:
    """The audit event of each version's last transition, by version id, so that the
    central steps can name it."""
    stage_events: dict = {}
    for event in (
        AuditEvent.objects.filter(registered_model=model).exclude(to_stage="").order_by("id")
    ):
        stage_events[event.model_version_id] = event
    return stage_events


def _version_snapshot(
    mv: ModelVersion, *, card: ModelCard | None, event: AuditEvent | None, reviews: list[Review]
) -> dict:
    """One version as the central catalog mirrors it: its fields, the event of its last
    transition, its card's current revision and its reviews."""
    revision = card.current_revision if card else None
    return {
        "id": mv.pk,
        "version": mv.version,
        "number": mv.number,
        "stage": mv.stage,
        "stage_changed_at": _iso(mv.stage_changed_at),
        "promoted_at": _iso(mv.promoted_at),
        "description": mv.description,
        "tags": mv.tags,
        "metrics": mv.metrics,
        "params": mv.params,
        "artifact_uri": mv.artifact_uri,
        "artifact_sha256": mv.artifact_sha256,
        "artifact_size": mv.artifact_size,
        "data_version": mv.data_version,
        "code_version": mv.code_version,
        "source_run": mv.source_run,
        "created_by": mv.created_by.get_username(),
        "created_at": _iso(mv.created_at),
        "stage_event": (
            {"id": event.pk, "actor": event.actor_username, "reason": event.reason}
            if event
            else None
        ),
        "card": (
            {
                "id": card.pk,
                "revision": revision.number,
                "sha256": revision.sha256,
                "sections": revision.sections(),
                "author": revision.author_username,
            }
            if revision
            else None
        ),
        "reviews": [
            {
                "id": r.pk,
                "reviewer": r.reviewer_username,
                "decision": r.decision,
                "comment": r.comment,
                "revision": r.revision.number,
                "revision_sha256": r.revision_sha256,
                "created_at": _iso(r.created_at),
            }
            for r in reviews
        ],
    }


def audit_item(event: AuditEvent) -> dict:
    return {
        "kind": "audit",
        "id": event.pk,
        "data": {
            "created_at": _iso(event.created_at),
            "action": event.action,
            "actor": event.actor_username,
            "request_id": event.request_id,
            "model_id": event.registered_model_id,
            "model_name": event.model_name,
            "version_label": event.version_label,
            "object_type": event.object_type,
            "object_id": event.object_id,
            "from_stage": event.from_stage,
            "to_stage": event.to_stage,
            "reason": event.reason,
            "changes": event.changes,
            "payload": event.payload,
        },
    }


def pending_items(state: SyncState) -> list[dict]:
    """What changed since the last acknowledged sync: changed models, then new events."""
    known = dict(state.fingerprints.values_list("model_id", "fingerprint"))
    seq = change_sequence()
    items = []
    # Only this registry's own models: a registry never pushes entries it mirrors.
    for model in (
        RegisteredModel.objects.filter(origin="")
        .select_related("team", "created_by")
        .order_by("pk")
    ):
        data = model_snapshot(model)
        print_ = fingerprint(data)
        if known.get(model.pk) != print_:
            items.append(
                {"kind": "model", "id": model.pk, "fingerprint": print_, "seq": seq, "data": data}
            )
    # Events about mirrored entries stay here (NOT_OURS).
    # Gaps are ids below the cursor that were not visible when it passed them (below).
    gap_ids = [gap[0] for gap in state.gaps]
    events = AuditEvent.objects.filter(Q(pk__gt=state.audit_cursor) | Q(pk__in=gap_ids)).exclude(
        NOT_OURS
    )
    items += [audit_item(event) for event in events.order_by("pk")]
    return items


def change_sequence() -> int:
    """This registry's change sequence: its highest audit event id. Every change writes
    an audit event and the trail is append-only, so it never goes down; read before the
    snapshots, it tells the central registry which of two snapshots of a model is newer
    (it skips an older one, e.g. a batch sent again after a later one)."""
    return AuditEvent.objects.aggregate(seq=Max("pk"))["seq"] or 0


def _acknowledge(state: SyncState, batch: list[dict]) -> None:
    """Store what the central registry has acknowledged: fingerprints and the cursor.

    Ids are handed out when a row is inserted, but a transaction may commit after a later
    one did (PostgreSQL), so an id the cursor passes may not be visible yet. Such missing
    ids are kept as gaps and looked for again by the next syncs, until they appear or
    REGISTRY_SYNC_GAP_SECONDS pass (the transaction rolled back: the id stays unused).
    """
    with transaction.atomic():
        for item in batch:
            if item["kind"] == "model":
                SyncFingerprint.objects.update_or_create(
                    state=state, model_id=item["id"], defaults={"fingerprint": item["fingerprint"]}
                )
        event_ids = {item["id"] for item in batch if item["kind"] == "audit"}
        if not event_ids:
            return
        old_cursor, new_cursor = state.audit_cursor, max(state.audit_cursor, *event_ids)
        now = timezone.now()
        horizon = now.timestamp() - settings.REGISTRY_SYNC_GAP_SECONDS
        gaps = [gap for gap in state.gaps if gap[0] not in event_ids and gap[1] > horizon]
        if old_cursor == 0 and new_cursor > 0:
            # A first sync: ids below the first event are unused numbers (a sequence that
            # did not start at 1), not transactions in flight.
            old_cursor = min(i for i in event_ids if i > 0) - 1
        if new_cursor - old_cursor <= GAP_RANGE_MAX:
            # Ids skipped on purpose (events about mirrored entries) are not gaps; any
            # other id not in the batch is, even one that has appeared meanwhile (the
            # next sync sends it; the central registry ignores a repeat).
            not_ours = set(
                AuditEvent.objects.filter(pk__gt=old_cursor, pk__lt=new_cursor)
                .filter(NOT_OURS)
                .values_list("pk", flat=True)
            )
            gaps += [
                [missing, now.timestamp()]
                for missing in range(old_cursor + 1, new_cursor)
                if missing not in not_ours and missing not in event_ids
            ]
        state.audit_cursor = new_cursor
        state.gaps = gaps
        state.save(update_fields=["audit_cursor", "gaps"])


def make_batches(items: list[dict], *, batch_size: int) -> list[list[dict]]:
    """Consecutive batches of at most `batch_size` items and about BATCH_BYTES of JSON.

    The central registry refuses pushes over its REGISTRY_MAX_PUSH_BYTES (2.5 MB by
    default) with 413; a single item larger than that cannot be sent at all.
    """
    batches: list[list[dict]] = []
    current: list[dict] = []
    size = 0
    for item in items:
        item_size = len(json.dumps(item, ensure_ascii=False).encode())
        if current and (len(current) >= batch_size or size + item_size > BATCH_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(item)
        size += item_size
    if current:
        batches.append(current)
    return batches


def sync_catalog(
    *,
    central_url: str | None = None,
    token: str | None = None,
    registry_id: str | None = None,
    batch_size: int | None = None,
    timeout: float = 30,
    progress: Callable[[int, int, dict], None] | None = None,
) -> SyncResult:
    """Push what changed since the last successful sync; raises SyncError on failure.

    `progress(batch_number, batches_total, applied)` is called after each acknowledged
    batch (the command prints "batch 3/10" with it).
    """
    central_url, token, registry_id, batch_size = _sync_settings(
        central_url=central_url, token=token, registry_id=registry_id, batch_size=batch_size
    )
    state, _ = SyncState.objects.get_or_create(central_url=central_url, registry_id=registry_id)
    state.last_attempt_at = timezone.now()
    state.save(update_fields=["last_attempt_at"])
    items = pending_items(state)
    batches = make_batches(items, batch_size=batch_size)
    result = SyncResult(batches_total=len(batches), items=len(items))
    session = requests.Session()
    session.headers.update({"Authorization": f"Token {token}", "Accept": "application/json"})
    for number, batch in enumerate(batches, start=1):
        response = _push_batch(
            session,
            state,
            url=central_url + PUSH_PATH,
            registry_id=registry_id,
            batch=batch,
            where=f"batch {number}/{len(batches)}",
            timeout=timeout,
        )
        _acknowledge(state, batch)
        applied = response.json().get("applied", {})
        result.applied.update({k: v for k, v in applied.items() if isinstance(v, int)})
        result.batches_sent = number
        if progress is not None:
            progress(number, len(batches), applied)
    _record_success(state, result)
    return result


def _sync_settings(
    *, central_url: str | None, token: str | None, registry_id: str | None, batch_size: int | None
) -> tuple[str, str, str, int]:
    """The central registry's URL, the token, this registry's id and the batch size: each
    as given, else from the settings; raises SyncError when they cannot make a sync."""
    central_url = (central_url or settings.REGISTRY_CENTRAL_URL).rstrip("/")
    token = token or settings.REGISTRY_CENTRAL_TOKEN
    registry_id = registry_id or settings.REGISTRY_ID
    batch_size = batch_size or settings.REGISTRY_SYNC_BATCH_SIZE
    if not central_url or not token:
        raise SyncError(
            "This is not a team registry: set REGISTRY_CENTRAL_URL and REGISTRY_CENTRAL_TOKEN "
            "(the central registry's address and its catalog_sync user's token)."
        )
    try:
        validate_origin(registry_id, receiving=False)
    except Exception as exc:
        raise SyncError(
            f"REGISTRY_ID '{registry_id}' cannot be used: set it to this registry's name, "
            "e.g. team-fraud (lower-case letters, digits and '-', not 'local')."
        ) from exc
    if batch_size < 1:
        raise SyncError("The batch size must be at least 1.")
    return central_url, token, registry_id, batch_size


def _push_batch(
    session: requests.Session,
    state: SyncState,
    *,
    url: str,
    registry_id: str,
    batch: list[dict],
    where: str,
    timeout: float,
) -> requests.Response:
    """POST one batch to the central registry and return its 200 answer; any other
    outcome stops the sync (_fail), `where` naming the batch ("batch 3/10")."""
    try:
        response = session.post(
            url,
            json={"origin": registry_id, "items": batch},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        _fail(
            state,
            f"{where}: the central registry did not answer ({exc.__class__.__name__}: {exc})",
        )
    if response.status_code != 200:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:300]
        _fail(state, f"{where} refused with {response.status_code}: {message.rstrip('.')}")
    return response


def _record_success(state: SyncState, result: SyncResult) -> None:
    """Store that the sync completed, with what the central registry applied."""
    state.last_success_at = timezone.now()
    state.last_error = ""
    state.last_summary = {
        **{k: result.applied[k] for k in (*COUNT_KEYS, "unchanged", "stale")},
        "items": result.items,
        "batches": result.batches_sent,
    }
    state.save(update_fields=["last_success_at", "last_error", "last_summary"])


def _fail(state: SyncState, message: str):
    state.last_error = message
    state.save(update_fields=["last_error"])
    raise SyncError(
        f"Sync stopped at {message}. What was acknowledged before stays pushed; run "
        "sync_catalog again to resume."
    )
