"""The team side of federation: push this registry's catalog to a central one.

A sync builds one snapshot per local model (the model, its versions with stage, metrics
and lineage, each card's current revision, the reviews), keeps those whose fingerprint
differs from the last one the central registry acknowledged, adds the audit events after
the cursor, and posts them in batches to the central registry's
/api/v1/federation/push/. After each acknowledged batch, and only then, the fingerprints
and the cursor of that batch are stored: a failed or interrupted sync resumes where it
stopped, and a batch sent again is harmless because the central upsert is idempotent.

No request grows without bound. A model's versions are split across several "model"
items (its parts), every version that is or was in production in the first, so that the
central walks of the stages never depend on a later part; the model's fingerprint is
stored once all its parts are acknowledged. Batches respect the central registry's own
limits, which it answers on /api/v1/federation/limits/ (or names in a 413, after which
the batch is split and sent again). An item too large even alone is set aside: reported,
kept in SyncState.set_aside and tried again by every later sync, without stopping the
items behind it.

This module only reads the registry's own tables and writes its own (SyncState,
SyncFingerprint).
"""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from approvals_app.models import ModelCard, Review
from models_app.models import AuditEvent, ModelVersion, RegisteredModel

from .models import SyncFingerprint, SyncState
from .services import fingerprint, validate_origin

COUNT_KEYS = ("models", "versions", "stage_changes", "cards", "reviews", "audit_events")
PUSH_PATH = "/api/v1/federation/push/"
LIMITS_PATH = "/api/v1/federation/limits/"
# What a central registry accepts when it does not say (a registry older than its limits
# endpoint): its defaults.
DEFAULT_PUSH_BYTES = 2_621_440
DEFAULT_MAX_ITEMS = 500
# A model item (one part of a model) holds at most this many versions, and its JSON about
# a quarter of the central registry's push limit, unless its versions that are or were in
# production alone make more (they all travel in the first part).
PART_VERSIONS = 200
# Events about entries mirrored here (a registry that is both central and team): the
# ingest marks every event it writes with payload["origin"]. They are never pushed.
NOT_OURS = Q(registered_model__origin__gt="") | Q(payload__has_key="origin")
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
    # The items set aside by this sync as too large to push, as SyncState.set_aside holds
    # them.
    set_aside: list = field(default_factory=list)

    @property
    def nothing_to_push(self) -> bool:
        return self.items == 0

    def summary(self) -> str:
        if self.nothing_to_push:
            return "Nothing to push: the central catalog is up to date."
        parts = ", ".join(_count(self.applied[key], key) for key in COUNT_KEYS)
        text = (
            f"Pushed {_count(self.items - len(self.set_aside), 'items')} in "
            f"{_count(self.batches_sent, 'batches')}; the central catalog "
            f"applied: {parts} ({self.applied['unchanged']} already up to date)."
        )
        stale = self.applied["stale"]
        if stale:
            text += (
                f" It skipped {stale} model snapshot{'s' if stale != 1 else ''} older than "
                "the ones it holds."
            )
        for entry in self.set_aside:
            text += f"\nSet aside, too large to push: {describe_set_aside(entry)}."
        return text


def describe_set_aside(entry: dict) -> str:
    """One set-aside item in words: "model 7 (part 1 of 3), 3000123 bytes over the
    central registry's limit of 2621440"."""
    what = f"{entry['kind'] if entry['kind'] == 'model' else 'audit event'} {entry['id']}"
    if entry.get("parts", 1) > 1:
        what += f" (part {entry['part']} of {entry['parts']})"
    if entry.get("bytes") is not None:
        what += f", {entry['bytes']} bytes"
    if entry.get("limit"):
        what += f" over the central registry's limit of {entry['limit']}"
    return what


@dataclass(frozen=True)
class Limits:
    """What the central registry accepts in one push: bytes of body and items."""

    max_bytes: int = DEFAULT_PUSH_BYTES
    max_items: int = DEFAULT_MAX_ITEMS

    @property
    def part_bytes(self) -> int:
        """The JSON a model part aims at: a quarter of a push, so that parts share
        batches."""
        return max(self.max_bytes // 4, 1)


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


def model_items(model_id: int, data: dict, *, part_bytes: int, seq: int) -> list[dict]:
    """The "model" items of one snapshot: its parts, each with the model's fields and a
    slice of its versions (with their cards and reviews), `part`/`parts` numbering them
    and `fingerprint` the whole snapshot's.

    Every version that is or was in production (promoted_at set) travels in the first
    part: the central registry walks each version to its origin stage and keeps at most one
    in production, and a version that never was in production never passes through it
    (models_app.lifecycle), so only those versions' walks depend on each other and they are
    all applied together. The other versions fill parts of about `part_bytes` of JSON and
    at most PART_VERSIONS versions, in version order.
    """
    print_ = fingerprint(data)
    fields = {key: value for key, value in data.items() if key != "versions"}
    versions = data["versions"]
    current = [v for v in versions if v["promoted_at"] is not None]
    size = _json_size(current)  # the part's list of versions, as JSON
    slices: list[list[dict]] = []
    for version in versions:
        if version["promoted_at"] is not None:
            continue
        version_size = _json_size(version) + (2 if current else 0)  # ", " between them
        if current and (size + version_size > part_bytes or len(current) >= PART_VERSIONS):
            slices.append(current)
            current, size = [], _json_size([])
            version_size -= 2
        current.append(version)
        size += version_size
    slices.append(current)  # a model without versions is one part too
    return [
        {
            "kind": "model",
            "id": model_id,
            "fingerprint": print_,
            "seq": seq,
            "part": number,
            "parts": len(slices),
            "data": {**fields, "versions": sorted(part, key=lambda v: v["number"])},
        }
        for number, part in enumerate(slices, start=1)
    ]


def _own_models():
    """This registry's own models: a registry never pushes entries it mirrors."""
    return RegisteredModel.objects.filter(origin="")


def _pending_events(state: SyncState):
    """The audit events to push: after the cursor, or below it and still to send (gaps:
    ids not visible when the cursor passed them; events set aside as too large). Events
    about mirrored entries stay here (NOT_OURS)."""
    behind = [gap[0] for gap in state.gaps] + [
        entry["id"] for entry in state.set_aside if entry["kind"] == "audit"
    ]
    return AuditEvent.objects.filter(Q(pk__gt=state.audit_cursor) | Q(pk__in=behind)).exclude(
        NOT_OURS
    )


def pending_items(state: SyncState, *, limits: Limits | None = None) -> list[dict]:
    """What changed since the last acknowledged sync: changed models (each in one or more
    parts), then new events."""
    limits = limits or Limits()
    known = dict(state.fingerprints.values_list("model_id", "fingerprint"))
    seq = change_sequence()  # read before the snapshots: they are at least this new
    items = []
    for model in _own_models().select_related("team", "created_by").order_by("pk"):
        data = model_snapshot(model)
        if known.get(model.pk) != fingerprint(data):
            items += model_items(model.pk, data, part_bytes=limits.part_bytes, seq=seq)
    items += [audit_item(event) for event in _pending_events(state).order_by("pk")]
    return items


def change_sequence() -> int:
    """This registry's change sequence: its highest audit event id. Every change writes
    an audit event and the trail is append-only, so it never goes down; read before the
    snapshots, it tells the central registry which of two snapshots of a model is newer
    (it skips an older one, e.g. a batch sent again after a later one)."""
    return AuditEvent.objects.aggregate(seq=Max("pk"))["seq"] or 0


def _acknowledge(
    state: SyncState,
    batch: list[dict],
    *,
    complete: dict[int, str] | None = None,
    set_aside_ids: frozenset[int] | set[int] = frozenset(),
) -> None:
    """Store what the central registry has acknowledged: fingerprints and the cursor.

    Ids are handed out when a row is inserted, but a transaction may commit after a later
    one did (PostgreSQL), so an id the cursor passes may not be visible yet. Such missing
    ids are kept as gaps and looked for again by the next syncs, until they appear or
    REGISTRY_SYNC_GAP_SECONDS pass (the transaction rolled back: the id stays unused).

    `complete` maps each model whose last part this batch acknowledged to its fingerprint
    (a model is stored only once all its parts are acknowledged; by default, the models
    whose every part is in `batch`); `set_aside_ids` are events set aside as too large,
    which are not gaps (SyncState.set_aside keeps them).
    """
    if complete is None:
        run = _Run()
        run.expect(batch)
        complete = run.acknowledged(batch)
    with transaction.atomic():
        for model_id, print_ in complete.items():
            SyncFingerprint.objects.update_or_create(
                state=state, model_id=model_id, defaults={"fingerprint": print_}
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
                if missing not in not_ours
                and missing not in event_ids
                and missing not in set_aside_ids
            ]
        state.audit_cursor = new_cursor
        state.gaps = gaps
        state.save(update_fields=["audit_cursor", "gaps"])


def _json_size(value) -> int:
    """Bytes of `value` as a push sends it (UTF-8 JSON, json's default separators)."""
    return len(json.dumps(value, ensure_ascii=False).encode())


def push_body(registry_id: str, batch: list[dict]) -> bytes:
    """The body of one push, exactly as sent and as measured."""
    return json.dumps({"origin": registry_id, "items": batch}, ensure_ascii=False).encode()


def make_batches(
    items: list[dict],
    *,
    batch_size: int,
    max_bytes: int = DEFAULT_PUSH_BYTES,
    registry_id: str = "",
) -> list[list[dict]]:
    """Consecutive batches of at most `batch_size` items whose push body (push_body) is at
    most `max_bytes`; an item too large for that even alone is a batch of its own (the
    sync sets it aside)."""
    envelope = len(push_body(registry_id, []))
    batches: list[list[dict]] = []
    current: list[dict] = []
    size = envelope
    for item in items:
        item_size = _json_size(item) + (2 if current else 0)  # ", " between items
        if current and (len(current) >= batch_size or size + item_size > max_bytes):
            batches.append(current)
            current, size = [], envelope
            item_size -= 2
        current.append(item)
        size += item_size
    if current:
        batches.append(current)
    return batches


def _central_limits(
    session: requests.Session, state: SyncState, *, central_url: str, timeout: float
) -> Limits:
    """What the central registry accepts, as it answers on its limits endpoint; else what
    it last said (a 413 naming its limit), else its defaults. A central registry that
    does not answer is found out by the first push, which says so."""
    try:
        response = session.get(central_url + LIMITS_PATH, timeout=timeout)
        body = response.json() if response.status_code == 200 else {}
        max_bytes, max_items = body.get("max_push_bytes"), body.get("max_items")
    except (requests.RequestException, ValueError, AttributeError):
        max_bytes = max_items = None
    if _positive(max_bytes) and _positive(max_items):
        if state.push_limit != max_bytes:
            state.push_limit = max_bytes
            state.save(update_fields=["push_limit"])
        return Limits(max_bytes=max_bytes, max_items=max_items)
    return Limits(max_bytes=state.push_limit or DEFAULT_PUSH_BYTES)


def _positive(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _limit_named(response: requests.Response) -> int | None:
    """The limit a 413 of the central registry names (its details.limit), if any: a
    proxy's 413 names none."""
    try:
        limit = response.json()["error"]["details"]["limit"]
    except (ValueError, KeyError, TypeError):
        return None
    return limit if _positive(limit) else None


def split_item(item: dict) -> list[dict] | None:
    """A model item too large to push, as two smaller ones of the same part, or None when
    it cannot be split (an audit event; a single version; only versions that are or were
    in production, which stay together, see model_items)."""
    if item["kind"] != "model":
        return None
    versions = item["data"]["versions"]
    promoted = [v for v in versions if v["promoted_at"] is not None]
    others = [v for v in versions if v["promoted_at"] is None]
    half = len(others) // 2
    first, second = promoted + others[:half], others[half:]
    if not first or not second:
        return None
    return [
        {**item, "data": {**item["data"], "versions": sorted(chunk, key=lambda v: v["number"])}}
        for chunk in (first, second)
    ]


def _set_aside_entry(item: dict, *, size: int, limit: int | None) -> dict:
    return {
        "kind": item["kind"],
        "id": item["id"],
        "part": item.get("part", 1),
        "parts": item.get("parts", 1),
        "bytes": size,
        "limit": limit,
        "since": timezone.now().isoformat(),
    }


def _entry_key(entry: dict) -> tuple:
    return entry["kind"], entry["id"], entry.get("part", 1)


@dataclass
class _Run:
    """What one sync has done so far, for acknowledging and for SyncState.set_aside."""

    # Per model, the ids of its versions in this sync's items, and of those acknowledged
    # (a part split again after a 413 still counts by its versions).
    versions_expected: dict[int, set] = field(default_factory=dict)
    versions_acknowledged: dict[int, set] = field(default_factory=dict)
    models_tried: set = field(default_factory=set)
    events_acknowledged: set = field(default_factory=set)
    set_aside: list = field(default_factory=list)

    def set_aside_item(self, item: dict, *, size: int, limit: int | None) -> None:
        self.set_aside.append(_set_aside_entry(item, size=size, limit=limit))
        if item["kind"] == "model":
            self.models_tried.add(item["id"])

    def expect(self, items: list[dict]) -> None:
        """The items this sync is to push: a model is complete once all its versions in
        them are acknowledged."""
        for item in items:
            if item["kind"] == "model":
                self.versions_expected.setdefault(item["id"], set()).update(
                    v["id"] for v in item["data"]["versions"]
                )

    def acknowledged(self, batch: list[dict]) -> dict[int, str]:
        """Record an acknowledged batch; returns the models whose every part is now
        acknowledged, with their fingerprints."""
        complete = {}
        for item in batch:
            if item["kind"] == "audit":
                self.events_acknowledged.add(item["id"])
                continue
            self.models_tried.add(item["id"])
            done = self.versions_acknowledged.setdefault(item["id"], set())
            done.update(v["id"] for v in item["data"]["versions"])
            if done >= self.versions_expected.get(item["id"], set()):
                complete[item["id"]] = item["fingerprint"]
        return complete

    def set_aside_events(self) -> set[int]:
        return {entry["id"] for entry in self.set_aside if entry["kind"] == "audit"}

    def store(self, state: SyncState, *, finished: bool) -> None:
        """Keep this sync's set-aside items in the SyncState, with the earlier ones it did
        not get to (a sync that stopped early), each with the time first set aside."""
        earlier = {_entry_key(entry): entry for entry in state.set_aside}
        entries = [
            {**entry, "since": earlier.get(_entry_key(entry), entry)["since"]}
            for entry in self.set_aside
        ]
        if not finished:
            now = {_entry_key(entry) for entry in entries}
            entries += [
                entry
                for key, entry in earlier.items()
                if key not in now
                and not (entry["kind"] == "audit" and entry["id"] in self.events_acknowledged)
                and not (entry["kind"] == "model" and entry["id"] in self.models_tried)
            ]
        if entries != state.set_aside:
            state.set_aside = entries
            state.save(update_fields=["set_aside"])


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
    batch (the command prints "batch 3/10" with it). The total grows when the central
    registry refuses a batch as too large and it is split.
    """
    central_url, token, registry_id, batch_size = _sync_settings(
        central_url=central_url, token=token, registry_id=registry_id, batch_size=batch_size
    )
    state, _ = SyncState.objects.get_or_create(central_url=central_url, registry_id=registry_id)
    state.last_attempt_at = timezone.now()
    state.save(update_fields=["last_attempt_at"])
    session = requests.Session()
    session.headers.update(
        {
            "Authorization": f"Token {token}",
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
    )
    limits = _central_limits(session, state, central_url=central_url, timeout=timeout)
    items = pending_items(state, limits=limits)
    per_batch = min(batch_size, limits.max_items)
    queue = deque(
        make_batches(
            items, batch_size=per_batch, max_bytes=limits.max_bytes, registry_id=registry_id
        )
    )
    result = SyncResult(batches_total=len(queue), items=len(items))
    run = _Run()
    run.expect(items)
    # The limit set-aside items are reported against: the central registry's own, unless
    # a 413 that names none (a proxy's) lowered the one the batches follow.
    named_limit: int | None = limits.max_bytes

    def split(batch: list[dict]) -> list[list[dict]]:
        smaller = make_batches(
            batch, batch_size=per_batch, max_bytes=limits.max_bytes, registry_id=registry_id
        )
        if len(smaller) == 1:
            half = len(batch) // 2
            smaller = [batch[:half], batch[half:]]
        return smaller

    try:
        while queue:
            batch = queue.popleft()
            body = push_body(registry_id, batch)
            if len(body) > limits.max_bytes:
                # Too large for what the central registry accepts: a batch is split, an
                # item is split by its versions (split_item) or else set aside. Each
                # split makes the batches or items smaller, so this ends.
                if len(batch) > 1:
                    queue.extendleft(reversed(split(batch)))
                elif halves := split_item(batch[0]):
                    queue.extendleft(reversed([[half] for half in halves]))
                else:
                    run.set_aside_item(batch[0], size=len(body), limit=named_limit)
                continue
            where = f"batch {result.batches_sent + 1}/{result.batches_sent + 1 + len(queue)}"
            response = _push_batch(
                session, state, url=central_url + PUSH_PATH, body=body, where=where, timeout=timeout
            )
            if response.status_code == 413:
                # Too large after all (the central registry's limit was lowered, or a
                # proxy in front of it has a smaller one): follow the limit it names, or
                # else stay under this body's size, and send the batch again. Every 413
                # lowers the limit, so this ends.
                named_limit = _limit_named(response)
                if named_limit is not None:
                    state.push_limit = named_limit
                    state.save(update_fields=["push_limit"])
                limits = Limits(
                    max_bytes=min(named_limit or len(body) - 1, len(body) - 1),
                    max_items=limits.max_items,
                )
                queue.appendleft(batch)
                continue
            _refuse_unless_ok(state, response, where=where)
            _acknowledge(
                state,
                batch,
                complete=run.acknowledged(batch),
                set_aside_ids=run.set_aside_events(),
            )
            applied = response.json().get("applied", {})
            result.applied.update({k: v for k, v in applied.items() if isinstance(v, int)})
            result.batches_sent += 1
            result.batches_total = result.batches_sent + len(queue)
            if progress is not None:
                progress(result.batches_sent, result.batches_total, applied)
    except SyncError:
        run.store(state, finished=False)
        result.set_aside = run.set_aside
        _record_summary(state, result, finished=False)
        raise
    run.store(state, finished=True)
    result.set_aside = run.set_aside
    _record_summary(state, result, finished=True)
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
    body: bytes,
    where: str,
    timeout: float,
) -> requests.Response:
    """POST one batch's body to the central registry and return its answer; no answer
    stops the sync (_fail), `where` naming the batch ("batch 3/10")."""
    try:
        return session.post(url, data=body, timeout=timeout)
    except requests.RequestException as exc:
        _fail(
            state,
            f"{where}: the central registry did not answer ({exc.__class__.__name__}: {exc})",
        )


def _refuse_unless_ok(state: SyncState, response: requests.Response, *, where: str) -> None:
    """Any answer but 200 stops the sync, with the central registry's message."""
    if response.status_code == 200:
        return
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = response.text[:300]
    _fail(state, f"{where} refused with {response.status_code}: {message.rstrip('.')}")


def _record_summary(state: SyncState, result: SyncResult, *, finished: bool) -> None:
    """Store what the central registry applied (and refused as stale) in this sync, and
    that it completed, if it did."""
    state.last_summary = {
        **{k: result.applied[k] for k in (*COUNT_KEYS, "unchanged", "stale")},
        "items": result.items,
        "batches": result.batches_sent,
        "set_aside": len(result.set_aside),
        "finished": finished,
    }
    fields = ["last_summary"]
    if finished:
        state.last_success_at = timezone.now()
        state.last_error = ""
        fields += ["last_success_at", "last_error"]
    state.save(update_fields=fields)


def _fail(state: SyncState, message: str):
    state.last_error = message
    state.save(update_fields=["last_error"])
    raise SyncError(
        f"Sync stopped at {message}. What was acknowledged before stays pushed; run "
        "sync_catalog again to resume."
    )


# --- Status -----------------------------------------------------------------------------------


def sync_status(state: SyncState) -> dict:
    """How far behind the central registry of `state` is, read without building any
    snapshot: the audit events still to push, and the models never pushed or changed
    since (a change to a model writes an audit event about it), the age of the oldest of
    those changes, the last attempt, success and error, the items set aside and those the
    central registry refused as stale in the last sync."""
    events = _pending_events(state)
    pushed = SyncFingerprint.objects.filter(state_id=state.pk).values("model_id")
    changed = events.filter(registered_model__isnull=False).values("registered_model_id")
    models = _own_models().filter(~Q(pk__in=pushed) | Q(pk__in=changed))
    n_events, n_models = events.count(), models.count()
    oldest = [
        moment
        for moment in (
            events.aggregate(oldest=Min("created_at"))["oldest"],
            models.filter(~Q(pk__in=pushed)).aggregate(oldest=Min("created_at"))["oldest"],
        )
        if moment is not None
    ]
    lag_seconds = (timezone.now() - min(oldest)).total_seconds() if oldest else 0
    return {
        "central_url": state.central_url,
        "registry_id": state.registry_id,
        "audit_cursor": state.audit_cursor,
        "lag_items": n_models + n_events,
        "lag_models": n_models,
        "lag_events": n_events,
        "lag_seconds": max(0, round(lag_seconds)),
        "last_attempt_at": _iso(state.last_attempt_at),
        "last_success_at": _iso(state.last_success_at),
        "last_error": state.last_error,
        "push_limit": state.push_limit,
        "set_aside": list(state.set_aside),
        "stale": (state.last_summary or {}).get("stale", 0),
    }
