"""The central catalog's write path for entries mirrored from team registries.

`catalog_ingest` applies one batch pushed by a team registry: each model snapshot (the
model, its versions with stage and metrics, the cards' current content, the reviews) and
each origin audit event is upserted, keyed by (origin, origin object id), so that a batch
sent twice changes nothing. Mirrored entries are refused by every other write service
(models_app.services.require_owned_here); this module alone changes them.

Versions are registered and moved through the lifecycle by the core's own services, with
an explicit `Mirror` that names the origin (models_app.services.model_version_register and
model_version_mirror_transition): one registration path and one transition path for local
and mirrored versions. The central version walks the lifecycle's transitions
(models_app.lifecycle.path) from its stage to the origin's, under the model's row lock,
with history rows naming the sync user and an AuditEvent per step whose payload names the
origin and the origin's event id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from approvals_app.cards import SECTION_TITLES
from models_app import lifecycle, selectors
from models_app import services as core_services
from models_app.audit import diff, record_event, tag_change
from models_app.enums import Action, Stage
from models_app.errors import REFUSALS, answer_for
from models_app.exceptions import Conflict, NotAllowed, NotFound
from models_app.models import ModelVersion, RegisteredModel, Team
from models_app.validators import (
    SemVer,
    validate_artifact_uri,
    validate_metrics,
    validate_model_name,
    validate_params,
    validate_plain_text,
    validate_sha256,
    validate_tags,
)

from .models import (
    MirroredAuditEvent,
    MirroredCard,
    MirroredModel,
    MirroredReview,
    MirroredVersion,
    OriginRegistry,
)

PUSH_PERMISSION = "federation_app.push_catalog"
ORIGIN_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
MAX_ITEMS = 500
# What to do when the origin's ids no longer match what it pushed before.
_IDS_MOVED = (
    ": the ids of {0} no longer match what it pushed before (was its database recreated "
    "or restored?). Push that registry under a new REGISTRY_ID, or ask an admin of this "
    "central registry to look at its mirrored models."
)
# What a push answers: how many of each kind of thing it wrote, how many it found
# already up to date, and how many model snapshots it skipped as older than those held.
COUNT_KEYS = (
    "models",
    "versions",
    "stage_changes",
    "cards",
    "reviews",
    "audit_events",
    "unchanged",
    "stale",
)


def fingerprint(data: Any) -> str:
    """sha256 of canonical JSON: the same content always gives the same fingerprint."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def validate_origin(origin: object, *, receiving: bool = True) -> str:
    """A registry id: lower-case letters, digits and '-', not "local"; when `receiving` a
    push, not this registry's own id either."""
    if not isinstance(origin, str) or not ORIGIN_RE.fullmatch(origin):
        raise ValidationError(
            {"origin": ["A registry id is 1 to 40 lower-case letters, digits and '-'."]}
        )
    if origin == "local" or (receiving and origin == settings.REGISTRY_ID):
        raise ValidationError(
            {
                "origin": [
                    f"'{origin}' cannot push here: set REGISTRY_ID of the team registry to "
                    "its own name (not 'local', not the central registry's id)."
                ]
            }
        )
    return origin


# --- Reading a pushed item defensively ------------------------------------------------------


def _field(data: dict, key: str, kind: type | tuple, *, default: Any = ..., where: str = ""):
    value = data.get(key, default)
    if value is ...:
        raise ValidationError(f"{where}{key} is required.")
    if value is None and default is None:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ValidationError(f"{where}{key} has the wrong type.")
    return value


def _text(data: dict, key: str, *, max_length: int, where: str = "", multiline=False) -> str:
    value = _field(data, key, str, default="", where=where)
    validate_plain_text(value, field=f"{where}{key}", max_length=max_length, multiline=multiline)
    return value


def _moment(data: dict, key: str, *, where: str = ""):
    value = _field(data, key, str, default=None, where=where)
    if value is None:
        return None
    try:
        moment = parse_datetime(value)
    except ValueError:
        moment = None
    if moment is None:
        raise ValidationError(f"{where}{key} must be an ISO 8601 date-time.")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, dt.UTC)
    return moment


def _id(data: dict, key: str = "id", *, where: str = "", default: Any = ...) -> int | None:
    value = _field(data, key, int, default=default, where=where)
    if value is not None and not 0 < value < 2**62:
        raise ValidationError(f"{where}{key} must be a positive integer.")
    return value


# --- Ingest ---------------------------------------------------------------------------------


def sync_user_check(actor) -> None:
    """Refuse anyone but an active user with the push permission: the push and the limits
    endpoint ask it before anything else."""
    if actor is None or not actor.is_authenticated or not actor.is_active:
        raise NotAllowed("Only the catalog sync user may push to the central catalog.")
    if not (actor.is_superuser or actor.has_perm(PUSH_PERMISSION)):
        raise NotAllowed(
            f"{actor.get_username()} may not push catalogs: the {PUSH_PERMISSION} "
            "permission is needed (give it to the catalog_sync service user)."
        )


def _bind_or_refuse(registry: OriginRegistry, *, actor, now) -> None:
    """An origin accepts pushes from one service user: the first to push it (an origin
    pushed before binding began binds on its next push), or whom an admin re-bound it to.
    Anyone else is refused without learning which account holds it."""
    if registry.bound_user_id is None:
        registry.bound_user = actor
        registry.bound_at = now
    elif registry.bound_user_id != actor.pk:
        raise NotAllowed(
            f"The origin {registry.name} is bound to another account: push it with the "
            "token of the account that pushed it first, or ask an admin of this central "
            "registry to re-bind it."
        )


def may_rebind(actor) -> bool:
    """Who may give an origin to another service user: whoever may change origin
    registries (superusers, or the federation_app.change_originregistry permission)."""
    return bool(
        actor is not None
        and actor.is_active
        and (actor.is_superuser or actor.has_perm("federation_app.change_originregistry"))
    )


def rebind_check(registry: OriginRegistry, user, reason: str) -> str:
    """Why `registry` cannot be re-bound to `user` with `reason` (a ValidationError by
    field), else the reason cleaned."""
    errors: dict = {}
    if user is None:
        errors["bound_user"] = ["Choose the service user that will push this origin."]
    elif not user.is_active:
        errors["bound_user"] = [f"{user.get_username()} is deactivated."]
    elif not (user.is_superuser or user.has_perm(PUSH_PERMISSION)):
        errors["bound_user"] = [
            f"{user.get_username()} may not push catalogs: give it the {PUSH_PERMISSION} "
            "permission first (manage.py federation_service_user does)."
        ]
    elif registry.bound_user_id == user.pk:
        errors["bound_user"] = [f"{registry.name} is already bound to {user.get_username()}."]
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        errors["reason"] = ["Say why the origin changes account (the audit trail keeps it)."]
    else:
        try:
            validate_plain_text(reason, field="reason", max_length=2000, multiline=True)
        except ValidationError as exc:
            errors["reason"] = exc.messages
    if errors:
        raise ValidationError(errors)
    return reason


@transaction.atomic
def origin_rebind(*, actor, origin: str, user, reason: str) -> OriginRegistry:
    """Bind team registry `origin` to service user `user` instead of its current one
    (when the team registry's credentials change), recorded as an origin.rebound audit
    event naming the old and the new user and the reason. `actor` None is an operator
    at the command line (manage.py federation_rebind_origin)."""
    if actor is not None and not may_rebind(actor):
        raise NotAllowed(
            f"{actor.get_username()} may not re-bind origins: the "
            "federation_app.change_originregistry permission is needed."
        )
    registry = OriginRegistry.objects.select_for_update().filter(name=origin).first()
    if registry is None:
        raise NotFound(f"No team registry named {origin} has pushed here.")
    reason = rebind_check(registry, user, reason)
    old = registry.bound_user.get_username() if registry.bound_user_id else None
    new = user.get_username()
    registry.bound_user = user
    registry.bound_at = timezone.now()
    registry.save(update_fields=["bound_user", "bound_at"])
    record_event(
        action=Action.ORIGIN_REBOUND,
        actor=actor,
        obj=registry,
        reason=reason,
        changes={"bound_user": [old, new]},
        payload={"origin": registry.name, "old_user": old, "new_user": new},
    )
    return registry


@dataclass
class PushResult:
    """What one push changed: counts by kind (COUNT_KEYS), and the model snapshots
    skipped as older than the ones held, each {kind, id, seq, held_seq}."""

    applied: dict
    stale: list = field(default_factory=list)


def catalog_ingest(*, actor, origin: str, items: list) -> dict:
    """Apply one batch from team registry `origin`; returns what it changed, by kind
    (catalog_push, without the list of stale items)."""
    return catalog_push(actor=actor, origin=origin, items=items).applied


def catalog_push(*, actor, origin: str, items: list) -> PushResult:
    """Apply one batch from team registry `origin` (catalog_ingest's work, in one
    transaction: either every item is applied or none is, so the team registry may simply
    send a refused or unacknowledged batch again).

    A refusal made once the pusher is known to be the origin's own (a conflict, an invalid
    item) is then stored on the origin (OriginRegistry.last_refusal...), after the batch
    rolled back, so that the central registry's admins see why a team's sync is stuck.
    Refusals of who may push (401, 403) are not stored: they are no team's doing.
    """
    try:
        return _apply_push(actor=actor, origin=origin, items=items)
    except REFUSALS as exc:
        answer = answer_for(exc)
        if answer is not None and answer.status not in (401, 403):
            _record_refusal(actor=actor, origin=origin, status=answer.status, text=answer.text)
        raise


def _record_refusal(*, actor, origin: str, status: int, text: str) -> None:
    """Store a refused push on its origin: when, the status and the message (cut to 2000
    characters). Only for a valid origin that the pusher may push: bound to it, or not
    bound yet (a refused push binds nobody; an origin whose first push is refused is
    listed, unbound, and its next accepted push binds it)."""
    try:
        sync_user_check(actor)
        validate_origin(origin)
    except (NotAllowed, ValidationError):
        return
    now = timezone.now()
    with transaction.atomic():
        registry, _created = OriginRegistry.objects.select_for_update().get_or_create(
            name=origin, defaults={"first_push_at": now, "last_push_at": now}
        )
        if registry.bound_user_id not in (None, actor.pk):
            return
        registry.last_refused_at = now
        registry.last_refusal_status = status
        registry.last_refusal = text[:2000]
        registry.save()


@transaction.atomic
def _apply_push(*, actor, origin: str, items: list) -> PushResult:
    sync_user_check(actor)
    validate_origin(origin)
    if not isinstance(items, list) or not items or len(items) > MAX_ITEMS:
        raise ValidationError(
            {
                "items": [
                    f"items is a list of 1 to {MAX_ITEMS} objects: send at most {MAX_ITEMS} "
                    "a push (sync_catalog --batch-size)."
                ]
            }
        )
    counts: Counter = Counter()
    stale: list[dict] = []
    now = timezone.now()
    registry, _created = OriginRegistry.objects.select_for_update().get_or_create(
        name=origin, defaults={"first_push_at": now, "last_push_at": now}
    )
    _bind_or_refuse(registry, actor=actor, now=now)
    registry.last_push_at = now
    registry.batches += 1
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise ValidationError("Each item is an object with kind, id and data.")
            kind = item.get("kind")
            data = _field(item, "data", dict)
            origin_id = _id(item)
            if kind == "model":
                seq = _seq(item)
                held = _ingest_model(
                    actor=actor,
                    origin=origin,
                    origin_id=origin_id,
                    data=data,
                    seq=seq,
                    counts=counts,
                )
                if held is not None:
                    stale.append({"kind": kind, "id": origin_id, "seq": seq, "held_seq": held})
                elif seq is not None and (registry.last_seq is None or seq > registry.last_seq):
                    registry.last_seq = seq
            elif kind == "audit":
                _ingest_audit(origin=origin, origin_id=origin_id, data=data, counts=counts)
            else:
                raise ValidationError(
                    "kind must be 'model' or 'audit': this central registry does not know "
                    "that kind; upgrade it to the team registry's version."
                )
        except ValidationError as exc:
            raise ValidationError({f"items[{index}]": exc.messages}) from exc
    if stale:
        registry.stale_items += len(stale)
        registry.last_stale_at = now
    registry.save()
    return PushResult(applied={key: counts[key] for key in COUNT_KEYS}, stale=stale)


def _seq(item: dict) -> int | None:
    """The origin's change sequence of a model item (None from a team registry that
    sends none): its highest audit event id when its sync began reading."""
    value = _field(item, "seq", int, default=None)
    if value is not None and not 0 <= value < 2**62:
        raise ValidationError("seq must be a whole number, 0 or more.")
    return value


def _origin_team(*, actor, origin: str, data: dict) -> Team:
    """The central team standing for the origin's team: "<team name> (<origin>)"."""
    team_data = _field(data, "team", dict)
    slug = _text(team_data, "slug", max_length=50, where="team.")
    name = _text(team_data, "name", max_length=100, where="team.") or slug
    central_slug = f"{origin}-{slug}"[:50]
    team = Team.objects.filter(slug=central_slug).first()
    if team is None:
        team = Team(slug=central_slug, name=f"{name} ({origin})"[:100])
        team.full_clean()
        tag_change(team, actor=actor, reason=f"mirrored from {origin}")
        team.save()
        record_event(
            action=Action.TEAM_CREATED,
            actor=actor,
            obj=team,
            changes=diff({}, {"name": team.name, "slug": team.slug}),
            payload={"origin": origin},
        )
    return team


def _ingest_model(
    *, actor, origin: str, origin_id: int, data: dict, seq: int | None, counts: Counter
) -> int | None:
    """Apply one model snapshot; returns the change sequence held instead when the
    snapshot is older than the one applied before (skipped, counted as stale)."""
    print_ = fingerprint(data)
    link = MirroredModel.objects.filter(origin=origin, origin_id=origin_id).first()
    if link is not None and seq is not None and link.seq is not None and seq < link.seq:
        counts["stale"] += 1
        return link.seq
    newer = seq is not None and (link is None or link.seq is None or seq > link.seq)
    if link is not None and link.fingerprint == print_:
        counts["unchanged"] += 1
        if newer:
            link.seq = seq
            link.save(update_fields=["seq"])
        return None
    origin_name, fields = _model_fields(origin=origin, data=data)
    versions = _field(data, "versions", list, default=[])
    if link is None:
        model = _create_mirrored_model(
            actor=actor, origin=origin, origin_id=origin_id, data=data, fields=fields
        )
        link = MirroredModel(
            origin=origin, origin_id=origin_id, origin_name=origin_name, registered_model=model
        )
        counts["models"] += 1
    else:
        model = _update_mirrored_model(
            actor=actor, origin=origin, origin_id=origin_id, link=link, fields=fields, counts=counts
        )
    # Lock the model row before touching its versions, as every transition does (its row
    # only, not its team's).
    model = selectors.model_for_update(pk=model.pk)
    _ingest_versions(actor=actor, origin=origin, model=model, versions=versions, counts=counts)
    link.origin_name = origin_name
    link.fingerprint = print_
    if newer:
        link.seq = seq
    link.synced_at = timezone.now()
    link.save()
    return None


def _model_fields(*, origin: str, data: dict) -> tuple[str, dict]:
    """The origin's name of a pushed model, and the fields of its central copy: the name
    qualified by the origin, the description and the tags."""
    origin_name = _field(data, "name", str)
    validate_model_name(origin_name)
    qualified = f"{origin}.{origin_name}"
    try:
        validate_model_name(qualified)
    except ValidationError as exc:
        raise ValidationError(
            f"The qualified name {qualified[:120]} is too long for this catalog "
            f"(100 characters at most): rename the model in {origin} to a shorter name, "
            "then run sync_catalog again."
        ) from exc
    description = _text(data, "description", max_length=10000, multiline=True)
    tags = validate_tags(_field(data, "tags", dict, default={}))
    return origin_name, {"name": qualified, "description": description, "tags": tags}


def _create_mirrored_model(
    *, actor, origin: str, origin_id: int, data: dict, fields: dict
) -> RegisteredModel:
    """Create the central copy of a model pushed for the first time, owned by the central
    team standing for the origin's team; refused (409) when a model that is not a mirror
    already has the qualified name."""
    _free_name(actor=actor, origin=origin, name=fields["name"], origin_id=origin_id)
    team = _origin_team(actor=actor, origin=origin, data=data)
    model = RegisteredModel(
        name=fields["name"],
        origin=origin,
        team=team,
        description=fields["description"],
        tags=fields["tags"],
        created_by=actor,
    )
    _save_mirrored(
        model,
        actor=actor,
        origin=origin,
        origin_id=origin_id,
        action=Action.MODEL_CREATED,
        changes=diff({}, fields),
        event_reason=f"mirrored from {origin}",
    )
    return model


def _free_name(*, actor, origin: str, name: str, origin_id: int) -> None:
    """Make the qualified `name` free for the model `origin_id` of `origin`.

    Renames at the origin arrive one model at a time: after b → b_legacy and a → b there,
    the snapshot of a (named b) may come before the one of the old b, which still holds
    the name here. A holder mirrored from the same origin is moved to a temporary name
    (`<origin>._renaming-<its origin id>`, which no pushed name can take, as names at the
    origin start with a letter or digit); its own snapshot, in this batch or a later one,
    gives it its new name. A name held by a model of this registry, or of another origin,
    is refused (409), naming the holder.
    """
    holder = RegisteredModel.objects.select_for_update().filter(name=name).first()
    if holder is None:
        return
    link = MirroredModel.objects.filter(registered_model=holder).first()
    if link is not None and link.origin == origin and link.origin_id == origin_id:
        return  # the model itself
    short = name.removeprefix(f"{origin}.")
    if link is None or link.origin != origin or holder.origin != origin:
        whose = (
            f"mirrored from registry {holder.origin}"
            if holder.origin
            else "a model of this central registry, not a mirror"
        )
        raise Conflict(
            f"Cannot mirror {origin}'s model {short}: the name {name} is held by {whose}. "
            f"Rename that model on the central registry (an admin), or rename {short} in "
            f"{origin}, then run sync_catalog again.",
            details={"origin": origin, "model": name, "held_by": holder.origin or "local"},
        )
    temporary = _temporary_name(origin, link.origin_id)
    old_name = holder.name
    holder.name = temporary
    holder.updated_at = timezone.now()
    _save_mirrored(
        holder,
        actor=actor,
        origin=origin,
        origin_id=link.origin_id,
        action=Action.MODEL_CHANGED,
        changes=diff({"name": old_name}, {"name": temporary}),
        event_reason=(
            f"mirrored from {origin}: {old_name} passes to another model of {origin}; a "
            "temporary name until this model's own new name arrives"
        ),
    )
    # The copy no longer matches the snapshot it was made from: the holder's next
    # snapshot is applied whatever it holds.
    link.fingerprint = ""
    link.save(update_fields=["fingerprint"])


def _temporary_name(origin: str, origin_id: int) -> str:
    """A name no pushed model can take, for a mirrored model whose name moves to another
    model of its origin; a suffix if a model of this registry happens to hold it."""
    base = f"{origin}._renaming-{origin_id}"
    name, n = base, 1
    while RegisteredModel.objects.filter(name=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def _save_mirrored(
    obj,
    *,
    actor,
    origin: str,
    origin_id: int,
    action: str,
    changes: dict,
    event_reason: str = "",
) -> None:
    """Save the central copy of something a team registry pushed: its history names the
    origin as the reason, and its audit event names the origin and the origin's id."""
    tag_change(obj, actor=actor, reason=f"mirrored from {origin}")
    obj.save()
    record_event(
        action=action,
        actor=actor,
        obj=obj,
        reason=event_reason,
        changes=changes,
        payload={"origin": origin, "origin_id": origin_id},
    )


def _update_mirrored_model(
    *, actor, origin: str, origin_id: int, link: MirroredModel, fields: dict, counts: Counter
) -> RegisteredModel:
    """Apply to the central copy of a model the origin's changes of its name, description
    and tags, if any."""
    model = RegisteredModel.objects.select_for_update().get(pk=link.registered_model_id)
    before = {"name": model.name, "description": model.description, "tags": model.tags}
    changes = diff(before, fields)
    if model.name != fields["name"]:
        _free_name(actor=actor, origin=origin, name=fields["name"], origin_id=origin_id)
    if changes:
        model.name = fields["name"]
        model.description = fields["description"]
        model.tags = fields["tags"]
        model.updated_at = timezone.now()
        _save_mirrored(
            model,
            actor=actor,
            origin=origin,
            origin_id=origin_id,
            action=Action.MODEL_CHANGED,
            changes=changes,
            event_reason=f"mirrored from {origin}",
        )
        counts["models"] += 1
    return model


def _ingest_versions(
    *, actor, origin: str, model: RegisteredModel, versions: list, counts: Counter
) -> None:
    """Each pushed version of the locked `model` with its card and reviews, then the
    walks of the versions to their origin stages."""
    pending_stages = []
    for position, vdata in enumerate(versions):
        where = f"versions[{position}]."
        if not isinstance(vdata, dict):
            raise ValidationError(f"{where[:-1]} must be an object.")
        mv, mirror = _ingest_version(
            actor=actor, origin=origin, model=model, data=vdata, where=where, counts=counts
        )
        pending_stages.append((mv, mirror, vdata, where))
        _ingest_card(origin=origin, mv=mv, data=vdata, where=where, counts=counts)
        _ingest_reviews(origin=origin, mv=mv, data=vdata, where=where, counts=counts)
    _apply_stages(actor=actor, origin=origin, model=model, pending=pending_stages, counts=counts)


def _ingest_version(*, actor, origin, model, data, where, counts):
    origin_id = _id(data, where=where)
    mirror = (
        MirroredVersion.objects.select_related("model_version")
        .filter(origin=origin, origin_id=origin_id)
        .first()
    )
    description = _text(data, "description", max_length=10000, where=where, multiline=True)
    tags = validate_tags(_field(data, "tags", dict, default={}, where=where))
    if mirror is not None:
        mv = _update_mirrored_version(
            actor=actor,
            origin=origin,
            origin_id=origin_id,
            model=model,
            mirror=mirror,
            data=data,
            where=where,
            description=description,
            tags=tags,
            counts=counts,
        )
        return mv, mirror
    return _register_mirrored_version(
        actor=actor,
        origin=origin,
        origin_id=origin_id,
        model=model,
        data=data,
        where=where,
        description=description,
        tags=tags,
        counts=counts,
    )


def _update_mirrored_version(
    *, actor, origin, origin_id, model, mirror, data, where, description, tags, counts
) -> ModelVersion:
    """Apply to a version mirrored before the origin's changes of its description and
    tags, and the artifact the origin attached after registration, if any."""
    mv = ModelVersion.objects.select_related("registered_model").get(pk=mirror.model_version_id)
    if mv.registered_model_id != model.pk:
        raise Conflict(f"{where}id names a version of another model{_IDS_MOVED.format(origin)}")
    before = {"description": mv.description, "tags": mv.tags}
    after = {"description": description, "tags": tags}
    if not (mv.artifact_uri or mv.artifact_sha256):
        # An artifact attached at the origin after registration (write-once there too).
        uri, sha256, size = _artifact(data, where)
        before |= {
            "artifact_uri": mv.artifact_uri,
            "artifact_sha256": mv.artifact_sha256,
            "artifact_size": mv.artifact_size,
        }
        after |= {"artifact_uri": uri, "artifact_sha256": sha256, "artifact_size": size}
    changes = diff(before, after)
    if changes:
        for name, value in after.items():
            setattr(mv, name, value)
        _save_mirrored(
            mv,
            actor=actor,
            origin=origin,
            origin_id=origin_id,
            action=Action.VERSION_CHANGED,
            changes=changes,
        )
        counts["versions"] += 1
    return mv


def _register_mirrored_version(
    *, actor, origin, origin_id, model, data, where, description, tags, counts
) -> tuple[ModelVersion, MirroredVersion]:
    """Register a version the origin registered since the last sync, by the core's own
    registration, and link it to the origin's version."""
    label = _field(data, "version", str, where=where)
    SemVer.parse(label)
    number = _id(data, "number", where=where)
    metrics = validate_metrics(_field(data, "metrics", dict, default={}, where=where))
    params = validate_params(_field(data, "params", dict, default={}, where=where))
    if len(label) > 64:
        raise ValidationError(f"{where}version is longer than 64 characters.")
    artifact_uri, artifact_sha256, artifact_size = _artifact(data, where)
    if ModelVersion.objects.filter(registered_model=model, version=label).exists():
        raise Conflict(
            f"{model.name} already has a version {label} from another origin id"
            + _IDS_MOVED.format(origin)
        )
    if ModelVersion.objects.filter(registered_model=model, number=number).exists():
        raise Conflict(
            f"{model.name} already has a version number {number}" + _IDS_MOVED.format(origin)
        )
    data_version = _text(data, "data_version", max_length=500, where=where)
    code_version = _text(data, "code_version", max_length=500, where=where)
    source_run = _text(data, "source_run", max_length=500, where=where)
    created_by = _text(data, "created_by", max_length=150, where=where)
    # The core's registration, as for a local version; the origin's number, so that
    # "version 3" means the same thing in both registries.
    mv = core_services.model_version_register(
        actor=actor,
        model=model,
        version=label,
        metrics=metrics,
        params=params,
        artifact_uri=artifact_uri,
        artifact_sha256=artifact_sha256,
        artifact_size=artifact_size,
        data_version=data_version,
        code_version=code_version,
        source_run=source_run,
        description=description,
        tags=tags,
        mirror=core_services.Mirror(
            origin=origin, origin_id=origin_id, number=number, created_by=created_by
        ),
    )
    mirror = MirroredVersion(
        origin=origin,
        origin_id=origin_id,
        model_version=mv,
        origin_stage=mv.stage,
        origin_created_by=created_by,
    )
    mirror.save()
    counts["versions"] += 1
    return mv, mirror


def _artifact(data: dict, where: str) -> tuple[str, str, int | None]:
    uri = _field(data, "artifact_uri", str, default="", where=where)
    if uri:
        validate_artifact_uri(uri)
    sha256 = _field(data, "artifact_sha256", str, default="", where=where)
    if sha256:
        validate_sha256(sha256)
    size = _field(data, "artifact_size", int, default=None, where=where)
    if size is not None and size < 0:
        raise ValidationError(f"{where}artifact_size must be 0 or more.")
    return uri, sha256, size


def _ingest_card(*, origin, mv, data, where, counts) -> None:
    card = _field(data, "card", dict, default=None, where=where)
    if card is None:
        return
    w = f"{where}card."
    origin_id = _id(card, where=w)
    revision = _id(card, "revision", where=w)
    sha256 = _field(card, "sha256", str, where=w)
    validate_sha256(sha256)
    sections = _field(card, "sections", dict, default={}, where=w)
    for key, text in sections.items():
        if key not in SECTION_TITLES or not isinstance(text, str):
            raise ValidationError(f"{w}sections: unknown section or non-text value.")
        validate_plain_text(text, field=f"{w}{key}", max_length=20000, multiline=True)
    author = _text(card, "author", max_length=150, where=w)
    existing = MirroredCard.objects.filter(origin=origin, origin_id=origin_id).first()
    if existing is not None:
        if existing.model_version_id != mv.pk:
            raise Conflict(f"{w}id names the card of another version{_IDS_MOVED.format(origin)}")
        if existing.sha256 == sha256 and existing.revision == revision:
            return
        existing.revision, existing.sha256 = revision, sha256
        existing.sections, existing.author_username = sections, author
        existing.synced_at = timezone.now()
        existing.save()
    else:
        MirroredCard.objects.create(
            origin=origin,
            origin_id=origin_id,
            model_version=mv,
            revision=revision,
            sha256=sha256,
            sections=sections,
            author_username=author,
        )
    counts["cards"] += 1


def _ingest_reviews(*, origin, mv, data, where, counts) -> None:
    reviews = _field(data, "reviews", list, default=[], where=where)
    known = set(
        MirroredReview.objects.filter(origin=origin, model_version=mv).values_list(
            "origin_id", flat=True
        )
    )
    for i, review in enumerate(reviews):
        w = f"{where}reviews[{i}]."
        if not isinstance(review, dict):
            raise ValidationError(f"{w[:-1]} must be an object.")
        origin_id = _id(review, where=w)
        if origin_id in known:
            continue  # reviews are append-only at the origin: one we hold never changes
        sha256 = _field(review, "revision_sha256", str, where=w)
        validate_sha256(sha256)
        if MirroredReview.objects.filter(origin=origin, origin_id=origin_id).exists():
            raise Conflict(f"{w}id names a review of another version{_IDS_MOVED.format(origin)}")
        MirroredReview.objects.create(
            origin=origin,
            origin_id=origin_id,
            model_version=mv,
            reviewer_username=_text(review, "reviewer", max_length=150, where=w),
            decision=_text(review, "decision", max_length=20, where=w),
            comment=_text(review, "comment", max_length=5000, where=w, multiline=True),
            revision=_id(review, "revision", where=w),
            revision_sha256=sha256,
            created_at=_moment(review, "created_at", where=w) or timezone.now(),
        )
        known.add(origin_id)
        counts["reviews"] += 1


# --- Stages ---------------------------------------------------------------------------------


def stage_path(
    stage: str, promoted: bool, target: str, want_promoted: bool
) -> list[lifecycle.Step]:
    """The shortest walk of the lifecycle from `stage` to `target` (models_app.lifecycle.path:
    the state is the stage and whether the version was in production before, since a version
    archived after being in production at the origin must have been in production here too,
    or a later rollback to it could not be mirrored). Raises Conflict when there is no way.
    """
    path = lifecycle.path(stage, promoted, target, want_promoted)
    if path is None:
        raise Conflict(
            f"Cannot mirror stage '{target}' from the central stage '{stage}': the lifecycle "
            "has no way between them. Run the same version of the registry on the team "
            "registry and the central one, then run sync_catalog again."
        )
    return path


def _apply_stages(*, actor, origin, model, pending, counts) -> None:
    """Walk each version to its origin stage, keeping at most one in production.

    Order: walks that leave production first, then walks that pass through production on
    their way elsewhere, then the walk that ends in production. When a version stays in
    production but another passes through it (at the origin: promoted and rolled back
    between two syncs), the one in production is archived first and restored last, as
    the origin's own rollback did. Each step is the core's transition service, with the
    origin's event, actor and reason.
    """
    walks = []
    for mv, mirror, vdata, where in pending:
        target = _field(vdata, "stage", str, where=where)
        if target not in Stage.values:
            raise ValidationError(f"{where}stage must be one of: {', '.join(Stage.values)}.")
        want_promoted = _field(vdata, "promoted_at", str, default=None, where=where) is not None
        event = _field(vdata, "stage_event", dict, default=None, where=where) or {}
        path = stage_path(mv.stage, mv.promoted_at is not None, target, want_promoted)
        walks.append([mv, mirror, vdata, where, path, event, target])
    passes_through = any(step.target == Stage.PRODUCTION for walk in walks for step in walk[4][:-1])
    for walk in list(walks):
        mv, path = walk[0], walk[4]
        if passes_through and mv.stage == Stage.PRODUCTION and not path:
            walk[4] = stage_path(Stage.PRODUCTION, True, Stage.ARCHIVED, True)
            back = stage_path(Stage.ARCHIVED, True, Stage.PRODUCTION, True)
            walks.append([*walk[:4], back, *walk[5:]])

    def order(walk) -> int:
        path = walk[4]
        if path and path[0].source == Stage.PRODUCTION:
            return 0
        return 2 if path and path[-1].target == Stage.PRODUCTION else 1

    walks.sort(key=order)
    for mv, mirror, vdata, where, path, event, target in walks:
        event_id = _id(event, where=f"{where}stage_event.", default=None)
        origin_actor = event.get("actor", "") if isinstance(event.get("actor"), str) else ""
        origin_reason = event.get("reason", "") if isinstance(event.get("reason"), str) else ""
        validate_plain_text(origin_reason, field="reason", max_length=2000, multiline=True)
        change = core_services.Mirror(
            origin=origin, event_id=event_id, actor=origin_actor, reason=origin_reason
        )
        for step in path:
            mv = core_services.model_version_mirror_transition(
                actor=actor, version=mv, transition=step.name, mirror=change
            )
            counts["stage_changes"] += 1
        changed_at = _moment(vdata, "stage_changed_at", where=where)
        if (mirror.origin_stage, mirror.origin_stage_event_id, mirror.origin_stage_changed_at) != (
            target,
            event_id,
            changed_at,
        ):
            mirror.origin_stage = target
            mirror.origin_stage_event_id = event_id
            mirror.origin_stage_changed_at = changed_at
            mirror.synced_at = timezone.now()
            mirror.save()


# --- Audit ----------------------------------------------------------------------------------


def _ingest_audit(*, origin, origin_id, data, counts) -> None:
    if MirroredAuditEvent.objects.filter(origin=origin, origin_id=origin_id).exists():
        counts["unchanged"] += 1
        return
    model_origin_id = _id(data, "model_id", default=None)
    model = None
    if model_origin_id is not None:
        link = MirroredModel.objects.filter(origin=origin, origin_id=model_origin_id).first()
        model = link.registered_model_id if link else None
    changes = _field(data, "changes", dict, default={})
    payload = _field(data, "payload", dict, default={})
    MirroredAuditEvent.objects.create(
        origin=origin,
        origin_id=origin_id,
        registered_model_id=model,
        created_at=_moment(data, "created_at") or timezone.now(),
        action=_text(data, "action", max_length=64),
        actor_username=_text(data, "actor", max_length=150),
        request_id=_text(data, "request_id", max_length=64),
        model_name=_text(data, "model_name", max_length=100),
        version_label=_text(data, "version_label", max_length=64),
        object_type=_text(data, "object_type", max_length=32),
        object_id=_text(data, "object_id", max_length=64),
        from_stage=_text(data, "from_stage", max_length=20),
        to_stage=_text(data, "to_stage", max_length=20),
        reason=_text(data, "reason", max_length=10000, multiline=True),
        changes=changes,
        payload=payload,
    )
    counts["audit_events"] += 1
