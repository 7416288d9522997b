"""Every write to the registry: the one path shared by the admin, API, dashboard and CLI.

Each service is keyword-only, takes the acting user, checks permission, validates, writes
inside one transaction, records history with the actor and reason, and appends an audit
event. Transitions lock the model's row first, so that concurrent promotions of one model
queue (PostgreSQL: SELECT … FOR UPDATE; SQLite: the immediate write transaction).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django_fsm import can_proceed

from . import lifecycle, selectors, storage
from .audit import diff, record_event, tag_change
from .enums import Action, Stage
from .exceptions import (
    Conflict,
    GuardsFailed,
    InvalidTransition,
    NotAllowed,
    NotFound,
    NotOwnedHere,
)
from .models import (
    HealthSignal,
    LatestSignal,
    Membership,
    ModelVersion,
    PromotionPolicy,
    RegisteredModel,
    Team,
)
from .permissions import prefetch_permissions, require_permission
from .signals import health_signal_recorded, promotion_refused, version_registered
from .validators import (
    SemVer,
    parse_window,
    validate_artifact_uri,
    validate_card_sections,
    validate_key_metrics,
    validate_metric_directions,
    validate_metric_name,
    validate_metrics,
    validate_model_name,
    validate_params,
    validate_plain_text,
    validate_sha256,
    validate_signal_source,
    validate_signal_value,
    validate_tags,
    validate_thresholds,
    validate_visible_text,
)

REASON_MAX = 2000
# A version's number as a rollback target (SemVer labels always hold dots).
VERSION_NUMBER_RE = re.compile(r"[0-9]{1,18}")


def clean_reason(reason: object, *, required: bool = True) -> str:
    """A change's reason, stripped: it may span lines (the audit log keeps each reason inside
    its own record: a table cell, a quoted CSV field, a JSON string, one CLI line), but no
    other control character (an ANSI escape) or bidirectional override gets in. Optional
    reasons (card edits, review requests) may be None or empty."""
    if not required and (reason is None or reason == ""):
        return ""
    if required and (not isinstance(reason, str) or not reason.strip()):
        raise ValidationError({"reason": ["A reason is required for this change."]})
    if not isinstance(reason, str):
        raise ValidationError({"reason": ["reason must be a string."]})
    try:
        validate_plain_text(reason, field="reason", max_length=REASON_MAX, multiline=True)
    except ValidationError as exc:
        raise ValidationError({"reason": exc.messages}) from exc
    return reason.strip()


def _require_reason(reason: object) -> str:
    return clean_reason(reason, required=True)


def _collect(errors: dict, key: str, fn, /, *args, **kwargs) -> Any:
    """Run a validator, filing its message under `key` instead of raising."""
    try:
        return fn(*args, **kwargs)
    except ValidationError as exc:
        errors.setdefault(key, []).extend(exc.messages)
        return None


@dataclass(frozen=True)
class Mirror:
    """A change a team registry already made to an entry it owns, applied to the central
    catalog's copy by the catalog sync (federation_app.services.catalog_ingest).

    The services that take one (`model_version_register`, `model_version_mirror_transition`)
    write the copy by the same path as a local change, with these differences: the entry
    must be a mirror of `origin` (a local entry, or one of another registry, is refused);
    the origin already applied its own permissions, guards and reasons, so the caller
    authorises the sync user instead of the role table (catalog_ingest admits only holders
    of federation_app.push_catalog); the reason reads "mirrored from <origin>[: <origin's
    reason>]"; and the audit payload names the origin.

    - `origin`: the team registry's id (RegisteredModel.origin of the copy).
    - `origin_id`: the origin's id of the version (registration).
    - `number`: the origin's number of the version, kept so that "version 3" means the same
      version in both registries (registration).
    - `created_by`: the origin's username of who registered the version (registration).
    - `event_id`, `actor`, `reason`: the origin's audit event of a stage change, who made it
      and why (transitions).
    """

    origin: str
    origin_id: int | None = None
    number: int | None = None
    created_by: str = ""
    event_id: int | None = None
    actor: str = ""
    reason: str = ""

    @property
    def why(self) -> str:
        """The reason recorded here: where the change came from, and the origin's reason."""
        return f"mirrored from {self.origin}" + (f": {self.reason}" if self.reason else "")


def require_owned_here(model: RegisteredModel, *, mirror: Mirror | None = None) -> None:
    """Refuse (409) a change to an entry mirrored from a team registry, unless the
    change is that registry's own, mirrored (`mirror` of the entry's origin).

    The central catalog holds a copy; the team registry that owns the entry is the only
    place it may change. Called by every write service that takes a model or version,
    through _lock_model (and approvals_app.services._lock). A mirror is refused on this
    registry's own entries, and on another registry's.
    """
    if mirror is not None and model.origin != mirror.origin:
        raise Conflict(
            f"{model.name} is not a mirror of registry {mirror.origin}; only that "
            "registry's entries are changed by its pushes.",
            details={"origin": model.origin, "model": model.name},
        )
    if model.origin and mirror is None:
        short = model.name.removeprefix(f"{model.origin}.")
        raise NotOwnedHere(
            f"{short} is owned by registry {model.origin}; change it there.",
            details={"origin": model.origin, "model": model.name},
        )


def name_taken(name: str) -> Conflict:
    """The refusal of a new name (a new model's, a rename's) that a model already has:
    when that model is mirrored from a team registry, the refusal names the registry
    first."""
    origin = RegisteredModel.objects.filter(name=name).values_list("origin", flat=True).first()
    if origin:
        return NotOwnedHere(
            f"{name} is owned by registry {origin}: the name belongs to the model mirrored "
            "from there. Choose another name.",
            details={"origin": origin, "model": name},
        )
    return Conflict(f"A model named '{name}' already exists.")


def _set_description_and_tags(
    obj, *, description: str | None, tags: dict | None, tag_changes: dict | None = None
) -> dict:
    """Validate and set the editable description and tags of a model or version (None
    leaves a field alone); returns {field: [before, after]} of what changed.

    `tag_changes` edits single tags of the stored ones ({key: value}, a None value removes
    the key): read under the caller's lock, so concurrent edits of different keys all stay.
    """
    if tag_changes:
        tags = dict(obj.tags if tags is None else tags)
        for key, value in tag_changes.items():
            if value is None:
                tags.pop(key, None)
            else:
                tags[key] = value
    errors: dict = {}
    if description is not None:
        _collect(
            errors,
            "description",
            validate_plain_text,
            description,
            field="description",
            max_length=10000,
            multiline=True,
        )
    if tags is not None:
        tags = _collect(errors, "tags", validate_tags, tags)
    if errors:
        raise ValidationError(errors)
    before = {"description": obj.description, "tags": obj.tags}
    if description is not None:
        obj.description = description
    if tags is not None:
        obj.tags = tags
    return diff(before, {"description": obj.description, "tags": obj.tags})


def _lock_model(model_id: int, *, mirror: Mirror | None = None) -> RegisteredModel:
    model = selectors.model_for_update(pk=model_id)
    require_owned_here(model, mirror=mirror)
    return model


# --- Teams --------------------------------------------------------------------------------


@transaction.atomic
def team_create(*, actor, name: str, slug: str, description: str = "") -> Team:
    """Create a team (admins only)."""
    require_permission(actor, "team.change")
    errors: dict = {}
    _collect(
        errors, "name", validate_plain_text, name, field="name", max_length=100, multiline=False
    )
    if isinstance(name, str) and "name" not in errors:  # the MLflow door finds teams by name
        _collect(errors, "name", validate_visible_text, name, field="name")
    _collect(
        errors,
        "description",
        validate_plain_text,
        description,
        field="description",
        max_length=10000,
        multiline=True,
    )
    if errors:
        raise ValidationError(errors)
    if Team.objects.filter(name=name).exists() or Team.objects.filter(slug=slug).exists():
        raise Conflict(f"A team named '{name}' or with slug '{slug}' already exists.")
    team = Team(name=name, slug=slug, description=description)
    team.full_clean()
    tag_change(team, actor=actor)
    team.save()
    record_event(
        action=Action.TEAM_CREATED,
        actor=actor,
        obj=team,
        changes=diff({}, {"name": name, "slug": slug, "description": description}),
    )
    return team


@transaction.atomic
def team_update(
    *, actor, team: Team, name: str | None = None, description: str | None = None
) -> Team:
    require_permission(actor, "team.change", team)
    team = Team.objects.select_for_update().get(pk=team.pk)
    before = {"name": team.name, "description": team.description}
    if name is not None:
        validate_plain_text(name, field="name", max_length=100, multiline=False)
        validate_visible_text(name, field="name")
        team.name = name
    if description is not None:
        validate_plain_text(description, field="description", max_length=10000, multiline=True)
        team.description = description
    after = {"name": team.name, "description": team.description}
    changes = diff(before, after)
    if changes:
        team.full_clean()
        tag_change(team, actor=actor)
        team.save()
        record_event(action=Action.TEAM_CHANGED, actor=actor, obj=team, changes=changes)
    return team


@transaction.atomic
def team_member_add(*, actor, team: Team, user) -> Membership:
    require_permission(actor, "team.change", team)
    existing = Membership.objects.filter(team=team, user=user).first()
    if existing is not None:
        return existing
    membership = Membership(team=team, user=user)
    tag_change(membership, actor=actor)
    membership.save()
    record_event(
        action=Action.MEMBER_ADDED, actor=actor, obj=team, payload={"user": user.get_username()}
    )
    return membership


@transaction.atomic
def team_member_remove(*, actor, team: Team, user) -> None:
    require_permission(actor, "team.change", team)
    membership = Membership.objects.filter(team=team, user=user).first()
    if membership is None:
        return
    tag_change(membership, actor=actor)
    membership.delete()
    record_event(
        action=Action.MEMBER_REMOVED, actor=actor, obj=team, payload={"user": user.get_username()}
    )


# --- Registered models ---------------------------------------------------------------------


def registered_model_create(
    *, actor, name: str, team: Team, description: str = "", tags: dict | None = None
) -> RegisteredModel:
    """Create a model owned by `team`; contributors may only create for their own teams."""
    require_permission(actor, "model.create", team)
    errors: dict = {}
    _collect(errors, "name", validate_model_name, name)
    _collect(
        errors,
        "description",
        validate_plain_text,
        description,
        field="description",
        max_length=10000,
        multiline=True,
    )
    tags = _collect(errors, "tags", validate_tags, tags if tags is not None else {})
    if errors:
        raise ValidationError(errors)
    model = RegisteredModel(
        name=name, team=team, description=description, tags=tags, created_by=actor
    )
    tag_change(model, actor=actor)
    # Checked and validated above, outside the transaction: on SQLite it holds the
    # database's write lock from its first statement.
    clash: IntegrityError | None = None
    try:
        with transaction.atomic():
            # A name already taken is refused by the unique constraint. No savepoint is
            # needed around the insert: the error ends this atomic block (a savepoint of
            # its own when a caller's transaction encloses it) before anything else runs
            # on it, and the refusal is written after it.
            try:
                model.save()
            except IntegrityError as exc:
                clash = exc
                raise
            record_event(
                action=Action.MODEL_CREATED,
                actor=actor,
                obj=model,
                changes=diff(
                    {},
                    {"name": name, "team": team.slug, "description": description, "tags": tags},
                ),
            )
    except IntegrityError as exc:
        if exc is not clash:
            raise
        raise name_taken(name) from exc
    return model


def registered_model_update(
    *,
    actor,
    model: RegisteredModel,
    description: str | None = None,
    tags: dict | None = None,
    tag_changes: dict | None = None,
) -> RegisteredModel:
    """Edit a model's description and tags (all of them, or single ones by `tag_changes`)."""
    prefetch_permissions(actor)
    with transaction.atomic():
        model = _lock_model(model.pk)
        require_permission(actor, "model.change", model)
        changes = _set_description_and_tags(
            model, description=description, tags=tags, tag_changes=tag_changes
        )
        if changes:
            model.updated_at = timezone.now()
            tag_change(model, actor=actor)
            model.save()
            record_event(action=Action.MODEL_CHANGED, actor=actor, obj=model, changes=changes)
        return model


def _require_rename_permission(actor, model: RegisteredModel) -> None:
    """Only admins rename models: a name is what serving systems look a model up by."""
    if actor is not None and actor.is_authenticated and actor.is_active and actor.is_superuser:
        return
    name = actor.get_username() if actor is not None and actor.is_authenticated else "anonymous"
    raise NotAllowed(
        f"{name} may not rename models: a model's name is how serving systems find it, so "
        "only admins rename, and only models that were never in production."
    )


def was_ever_in_production(model: RegisteredModel) -> list[str]:
    """The labels of the model's versions that are or ever were in production.

    `promoted_at` is set on every entry into production and never cleared; the version
    history is read as well, so a version whose stage history shows production counts
    whatever its current fields say.
    """
    labels = set(
        model.versions.filter(Q(promoted_at__isnull=False) | Q(stage=Stage.PRODUCTION)).values_list(
            "version", flat=True
        )
    )
    labels.update(
        ModelVersion.history.filter(
            registered_model_id=model.pk, stage=Stage.PRODUCTION
        ).values_list("version", flat=True)
    )
    return sorted(labels)


@transaction.atomic
def registered_model_rename(*, actor, model: RegisteredModel, new_name: str) -> RegisteredModel:
    """Give a model a new name; its versions, history and audit trail stay with it.

    One rule for every door: only admins rename, and only models none of whose versions
    was ever in production (serving systems and pinned URIs such as `models:/name/…`
    find a model by its name). The permission is checked first, so a refusal tells a
    non-admin nothing about the model; only a mirrored model is refused before it, naming
    its owner (it is renamed by its team registry, and the catalog sync copies the new
    name: federation_app.services).
    """
    # A mirrored model is refused first, naming its owner, whoever asks.
    require_owned_here(model)
    _require_rename_permission(actor, model)
    model = _lock_model(model.pk)
    try:
        validate_model_name(new_name)
    except ValidationError as exc:
        raise ValidationError({"name": exc.messages}) from exc
    if new_name == model.name:
        return model
    in_production = was_ever_in_production(model)
    if in_production:
        raise Conflict(
            f"Cannot rename {model.name}: versions {', '.join(in_production)} were in "
            "production, and serving systems find a model by its name. Register the "
            "new name as a new model instead.",
            details={"versions": in_production},
        )
    if RegisteredModel.objects.filter(name=new_name).exists():
        raise name_taken(new_name)
    old_name = model.name
    model.name = new_name
    model.updated_at = timezone.now()
    reason = f"renamed from {old_name}"
    tag_change(model, actor=actor, reason=reason)
    try:
        with transaction.atomic():
            model.save()
    except IntegrityError as exc:
        raise name_taken(new_name) from exc
    record_event(
        action=Action.MODEL_RENAMED,
        actor=actor,
        obj=model,
        reason=reason,
        changes=diff({"name": old_name}, {"name": new_name}),
        payload={"old_name": old_name, "new_name": new_name},
    )
    return model


# --- Versions ------------------------------------------------------------------------------


def stage_counts_recount(*, model_ids: list[int] | None = None) -> list[str]:
    """Set each model's per-stage counts from its versions and return the names of the
    models whose counts were wrong. ModelVersion.save() keeps the counts; this repairs them
    after rows were written around it (a bulk load, a restore of part of a table). Each
    model is locked while it is recounted, so a concurrent registration waits. Mirrored
    models are recounted too: the counts are derived from rows already stored here, not an
    edit of the entry its origin owns."""
    models = RegisteredModel.objects.order_by("pk")
    if model_ids is not None:
        models = models.filter(pk__in=model_ids)
    fixed = []
    for model_id in models.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            model = selectors.model_for_update(pk=model_id)
            found = dict.fromkeys(Stage.values, 0)
            found.update(
                ModelVersion.objects.filter(registered_model_id=model_id)
                .order_by()
                .values_list("stage")
                .annotate(n=Count("id"))
            )
            if found != model.stage_counts:
                RegisteredModel.objects.filter(pk=model_id).update(
                    **{RegisteredModel.stage_count_field(s): n for s, n in found.items()}
                )
                fixed.append(model.name)
    return fixed


def _refuse_registry_uri(uri: str) -> None:
    """`registry:` URIs name files in this registry's own storage; only the upload makes them.

    Accepting one from a client would let a version claim another version's stored file
    with a checksum and size of the client's choosing.
    """
    if storage.is_registry_uri(uri):
        raise ValidationError(
            "registry: URIs name files stored by this registry and are made only by the "
            "registry itself, when it stores an upload. Register the version without this "
            "URI, then upload the file (PUT /api/v1/models/<name>/versions/<version>/"
            "artifact/, or `modelreg register --artifact FILE`).",
            code="invalid_uri",
        )


def model_version_register(
    *,
    actor,
    model: RegisteredModel,
    version: str | None,
    metrics: dict | None = None,
    params: dict | None = None,
    artifact_uri: str = "",
    artifact_sha256: str = "",
    artifact_size: int | None = None,
    data_version: str = "",
    code_version: str = "",
    source_run: str = "",
    description: str = "",
    tags: dict | None = None,
    mirror: Mirror | None = None,
) -> ModelVersion:
    """Register a new version in staging, with the next number and an empty model card.

    `version` is the SemVer label; None labels the version `N.0.0` after its number N (the
    MLflow door's default), chosen under the model's lock so that label and number agree.

    `mirror` registers the central catalog's copy of a version a team registry registered
    (see Mirror): on a model mirrored from `mirror.origin` only, with the origin's number,
    its artifact URI as the origin stored it, and no model card (the origin's card is
    mirrored beside it). The caller authorises the sync user.
    """
    semver, metrics, params, tags = _validate_registration(
        version=version,
        metrics=metrics,
        params=params,
        tags=tags,
        artifact_uri=artifact_uri,
        artifact_sha256=artifact_sha256,
        artifact_size=artifact_size,
        data_version=data_version,
        code_version=code_version,
        source_run=source_run,
        description=description,
        mirror=mirror,
    )
    prefetch_permissions(actor)
    # Validated above, outside the transaction: on SQLite it holds the database's write
    # lock from its first statement.
    with transaction.atomic():
        model = _lock_model(model.pk, mirror=mirror)
        if mirror is None:
            require_permission(actor, "version.register", model)
        number = _next_number(model, mirror=mirror)
        if version is None:
            version = f"{number}.0.0"
            semver = SemVer.parse(version)
        mv = ModelVersion(
            registered_model=model,
            version=version,
            precedence=semver.sort_key,
            number=number,
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
            created_by=actor,
        )
        reason = mirror.why if mirror is not None else ""
        tag_change(mv, actor=actor, reason=reason)
        _insert_version(mv, model)
        record_event(
            action=Action.VERSION_REGISTERED,
            actor=actor,
            obj=mv,
            reason=reason,
            to_stage=mv.stage,
            payload=_registration_payload(mv, mirror=mirror),
        )
        if mirror is None:
            version_registered.send(sender=ModelVersion, version=mv, actor=actor)
    return mv


def _validate_registration(
    *,
    version: str | None,
    metrics: dict | None,
    params: dict | None,
    tags: dict | None,
    artifact_uri: str,
    artifact_sha256: str,
    artifact_size: int | None,
    data_version: str,
    code_version: str,
    source_run: str,
    description: str,
    mirror: Mirror | None,
) -> tuple[SemVer | None, dict, dict, dict]:
    """Check every field of a registration, raising one ValidationError that names each
    bad field; returns the parsed label (None when none was given) and the cleaned
    metrics, params and tags."""
    errors: dict = {}
    semver = _collect(errors, "version", SemVer.parse, version) if version is not None else None
    metrics = _collect(errors, "metrics", validate_metrics, metrics if metrics is not None else {})
    params = _collect(errors, "params", validate_params, params if params is not None else {})
    tags = _collect(errors, "tags", validate_tags, tags if tags is not None else {})
    if (
        artifact_uri
        and _collect(errors, "artifact_uri", validate_artifact_uri, artifact_uri)
        and mirror is None  # a mirrored `registry:` URI names a file in the origin's storage
    ):
        _collect(errors, "artifact_uri", _refuse_registry_uri, artifact_uri)
    if artifact_sha256:
        _collect(errors, "artifact_sha256", validate_sha256, artifact_sha256)
    if artifact_size is not None and (
        isinstance(artifact_size, bool) or not isinstance(artifact_size, int) or artifact_size < 0
    ):
        errors.setdefault("artifact_size", []).append("artifact_size must be a whole number ≥ 0.")
    for field, value, limit in (
        ("data_version", data_version, 500),
        ("code_version", code_version, 500),
        ("source_run", source_run, 500),
        ("description", description, 10000),
    ):
        _collect(
            errors,
            field,
            validate_plain_text,
            value,
            field=field,
            max_length=limit,
            multiline=field == "description",
        )
    if errors:
        raise ValidationError(errors)
    return semver, metrics, params, tags


def _next_number(model: RegisteredModel, *, mirror: Mirror | None) -> int:
    """The number of the version being registered: the one after the model's last, or the
    origin's number of a mirrored version.

    The model row is locked (and on SQLite the whole database, from BEGIN IMMEDIATE), so
    the number read here is the one to take. A label already used is refused by the
    unique constraint, when the version is inserted.
    """
    if mirror is not None and mirror.number is not None:
        return mirror.number
    return model.last_number + 1


def _insert_version(mv: ModelVersion, model: RegisteredModel) -> None:
    """Insert a new version of the locked `model`, refusing a label it already has (409),
    and bring `model` up to date with what the insert changed in its row."""
    try:  # a taken label: refused by the unique constraint, as in registered_model_create
        # The save also raises the model's last number, its updated time and its count
        # of staging versions, in one UPDATE (ModelVersion.save); no history row for
        # the model: the registration's own audit event and version history say it.
        mv.save()
    except IntegrityError as exc:
        raise Conflict(f"{model.name} already has a version {mv.version}.") from exc
    model.last_number = max(model.last_number, mv.number)
    model.updated_at = max(model.updated_at, mv.created_at)
    count = RegisteredModel.stage_count_field(mv.stage)
    setattr(model, count, getattr(model, count) + 1)


def _registration_payload(mv: ModelVersion, *, mirror: Mirror | None) -> dict:
    """The payload of a registration's audit event; a mirrored one also names its origin."""
    payload = {"number": mv.number, "metrics": mv.metrics, "artifact_uri": mv.artifact_uri}
    if mirror is not None:
        payload |= {
            "origin": mirror.origin,
            "origin_id": mirror.origin_id,
            "origin_created_by": mirror.created_by,
        }
    return payload


def model_version_update(
    *,
    actor,
    version: ModelVersion,
    description: str | None = None,
    tags: dict | None = None,
    tag_changes: dict | None = None,
) -> ModelVersion:
    """Edit the only mutable fields of a version: its description and tags (all of them, or
    single ones by `tag_changes`)."""
    prefetch_permissions(actor)
    with transaction.atomic():
        mv = _locked_version(version)
        require_permission(actor, "version.change", mv)
        changes = _set_description_and_tags(
            mv, description=description, tags=tags, tag_changes=tag_changes
        )
        if changes:
            tag_change(mv, actor=actor)
            mv.save()
            record_event(action=Action.VERSION_CHANGED, actor=actor, obj=mv, changes=changes)
        return mv


@transaction.atomic
def model_version_attach_artifact(
    *, actor, version: ModelVersion, uri: str, sha256: str, size: int
) -> ModelVersion:
    """Record the artifact of a version registered without one; refused once it has one.

    The server's own path, called by the upload only, with the storage URI it made and the
    sha256 and size it measured while storing the bytes (models_app.storage.store_stream);
    never with values a client sent. Its audit event is the upload's record that a
    download reads back (models_app.storage.upload_record).
    """
    mv = _locked_version(version)
    require_permission(actor, "version.change", mv)
    validate_sha256(sha256)
    if mv.artifact_sha256 or mv.artifact_uri:
        raise Conflict(
            f"{mv} already has an artifact; artifacts are write-once. Register a new version."
        )
    mv.artifact_uri, mv.artifact_sha256, mv.artifact_size = uri, sha256, size
    tag_change(mv, actor=actor, reason="artifact uploaded")
    mv.save()
    record_event(
        action=Action.ARTIFACT_STORED,
        actor=actor,
        obj=mv,
        changes=diff({}, {"artifact_uri": uri, "artifact_sha256": sha256, "artifact_size": size}),
    )
    return mv


# --- Transitions ---------------------------------------------------------------------------
#
# Each transition locks the model, then checks the actor's permission, and only then reads
# the stage or looks up a target: a user without the permission gets the same 403 whatever
# the version's stage or the target, and so learns nothing from the refusal.


def _locked_version(version: ModelVersion, *, mirror: Mirror | None = None) -> ModelVersion:
    """Lock the parent model row, then re-read the version under that lock."""
    _lock_model(version.registered_model_id, mirror=mirror)
    return selectors.version_by_pk(pk=version.pk)


def _refuse_stage(mv: ModelVersion, verb: str) -> InvalidTransition:
    """The refusal of transition `verb` from the version's stage, naming the stages the
    lifecycle allows it from."""
    return InvalidTransition(
        f"Cannot {verb} {mv.registered_model.name} {mv.version}: it is in stage "
        f"'{mv.stage}'; {verb} is allowed from {lifecycle.allowed_from(verb)}.",
        details={"stage": mv.stage, "transition": verb},
    )


def transition_check(*, actor, version: ModelVersion, name: str) -> None:
    """Raise what the service of transition `name` (promote's guards aside) would refuse,
    in the same order, without a lock or any change: an entry mirrored from a team
    registry (409), the permission (403), the version's stage (409). A door's confirmation
    page asks it before showing what the change will do; the service checks again."""
    require_owned_here(version.registered_model)
    require_permission(actor, f"version.{name}", version)
    if not can_proceed(getattr(version, name)):
        raise _refuse_stage(version, name)


def _transition(
    mv: ModelVersion, method: str, *, actor, reason: str, payload: dict | None = None
) -> ModelVersion:
    """Apply one transition method, save it with history and append its audit event (the
    transition's own audit action, models_app.lifecycle.audit_action): the one place a
    version's stage changes, for local changes and mirrored ones alike."""
    from_stage = mv.stage
    getattr(mv, method)()
    tag_change(mv, actor=actor, reason=reason)
    mv.save()
    record_event(
        action=lifecycle.audit_action(method),
        actor=actor,
        obj=mv,
        reason=reason,
        from_stage=from_stage,
        to_stage=mv.stage,
        payload=payload,
    )
    return mv


@transaction.atomic
def model_version_promote(*, actor, version: ModelVersion, reason: str) -> ModelVersion:
    """Move a staging version to production once every guard passes.

    The version in production before is archived in the same transaction, "superseded by"
    the new one.
    """
    reason = _require_reason(reason)
    mv = _locked_version(version)
    require_permission(actor, "version.promote", mv)
    if not can_proceed(mv.promote):
        raise _refuse_stage(mv, "promote")
    results = selectors.promotion_checks(version=mv)
    failures = [r for r in results if not r.passed]
    if failures:
        promotion_refused.send(sender=ModelVersion, version=mv, actor=actor, failures=failures)
        raise GuardsFailed(failures, results=results)
    previous = selectors.production_version(model=mv.registered_model)
    if previous is not None:
        _transition(
            previous,
            "archive",
            actor=actor,
            reason=f"superseded by {mv.version}: {reason}",
            payload={"superseded_by": mv.version},
        )
    return _transition(
        mv,
        "promote",
        actor=actor,
        reason=reason,
        payload={
            "previous": previous.version if previous else None,
            "checks": [r.as_dict() for r in results],
        },
    )


@transaction.atomic
def model_version_archive(*, actor, version: ModelVersion, reason: str) -> ModelVersion:
    reason = _require_reason(reason)
    mv = _locked_version(version)
    require_permission(actor, "version.archive", mv)
    if not can_proceed(mv.archive):
        raise _refuse_stage(mv, "archive")
    return _transition(mv, "archive", actor=actor, reason=reason)


@transaction.atomic
def model_version_deprecate(*, actor, version: ModelVersion, reason: str) -> ModelVersion:
    """Retire a version for good; never straight from production."""
    reason = _require_reason(reason)
    mv = _locked_version(version)
    require_permission(actor, "version.deprecate", mv)
    if not can_proceed(mv.deprecate):
        raise _refuse_stage(mv, "deprecate")
    return _transition(mv, "deprecate", actor=actor, reason=reason)


@transaction.atomic
def registered_model_rollback(
    *, actor, model: RegisteredModel, reason: str, to_version: str | None = None
) -> ModelVersion:
    """Take the production version out (→ rolled_back) and restore an earlier one.

    The target is `to_version` (a SemVer label, or a version's number: no label is digits
    only), or by default the last known good version: the most recently archived one that
    had been in production. Both moves happen in one transaction. Returns the restored
    version. The permission is checked before the target is looked up, so that a user
    without it learns nothing about the model's versions from the refusal.
    """
    reason = _require_reason(reason)
    if to_version is not None:
        try:
            validate_plain_text(to_version, field="to_version", max_length=200, multiline=False)
        except ValidationError as exc:
            raise ValidationError({"to_version": exc.messages}) from exc
    model = _lock_model(model.pk)
    require_permission(actor, "model.rollback", model)
    current = selectors.production_version(model=model)
    if to_version is not None:
        if VERSION_NUMBER_RE.fullmatch(to_version):
            target = selectors.version_by_number(model=model, number=int(to_version))
        else:
            target = selectors.version_list(model=model).filter(version=to_version).first()
        if target is None:
            raise NotFound(f"{model.name} has no version {to_version}.")
    else:
        target = selectors.last_known_good(model=model)
    if current is None:
        raise InvalidTransition(
            f"Cannot roll back {model.name}: no version is in production.",
            details={"transition": "rollback"},
        )
    if target is None:
        raise InvalidTransition(
            f"Cannot roll back {model.name}: no earlier production version is archived to restore.",
            details={"transition": "rollback"},
        )
    if not can_proceed(target.restore):
        why = (
            f"it is in stage '{target.stage}'"
            if not lifecycle.allows(target.stage, "restore")
            else "it was never in production"
        )
        raise InvalidTransition(
            f"Cannot roll back {model.name} to {target.version}: {why}. A rollback target "
            "must be an archived version that was in production before.",
            details={"transition": "rollback", "stage": target.stage},
        )
    _transition(
        current,
        "roll_back",
        actor=actor,
        reason=reason,
        payload={"restored": target.version},
    )
    return _transition(
        target,
        "restore",
        actor=actor,
        reason=reason,
        payload={"rolled_back": current.version},
    )


@transaction.atomic
def model_version_mirror_transition(
    *, actor, version: ModelVersion, transition: str, mirror: Mirror
) -> ModelVersion:
    """Apply to the central catalog's copy of a version one stage change its team registry
    made (`transition`, a ModelVersion transition method such as "promote" or "roll_back").

    The same path as a local change (`_transition`: the state machine's method, a history
    row, the transition's audit event), on a version of a model mirrored from
    `mirror.origin` only. The origin already applied its guards and permissions; the caller
    authorises the sync user. The reason is `mirror.why`; the audit payload names the
    origin, the origin's event id and the origin's actor. A transition the version's stage
    does not allow is refused (409).
    """
    if transition not in lifecycle.names():
        raise ValidationError({"transition": [f"{transition!r} is not a lifecycle transition."]})
    mv = _locked_version(version, mirror=mirror)
    if not can_proceed(getattr(mv, transition)):
        raise Conflict(f"Cannot mirror {mv}: {transition} is not allowed from {mv.stage}.")
    return _transition(
        mv,
        transition,
        actor=actor,
        reason=mirror.why,
        payload={
            "origin": mirror.origin,
            "origin_event_id": mirror.event_id,
            "origin_actor": mirror.actor,
        },
    )


# --- Policies ------------------------------------------------------------------------------


@transaction.atomic
def policy_update(
    *,
    actor,
    model: RegisteredModel | None,
    thresholds: list | None = None,
    key_metrics: list | None = None,
    required_approvals: int | None = None,
    required_card_sections: list | None = None,
    require_checksum: bool | None = None,
    metric_directions: dict | None = None,
    reason: str = "",
) -> PromotionPolicy:
    """Create or change a model's policy, or the site default when `model` is None."""
    if model is not None:
        # A mirrored model's policy is its team registry's: refused first, naming it.
        require_owned_here(model)
    require_permission(actor, "policy.change", model)
    thresholds, key_metrics, required_card_sections, metric_directions = _validate_policy_change(
        thresholds=thresholds,
        key_metrics=key_metrics,
        required_approvals=required_approvals,
        required_card_sections=required_card_sections,
        require_checksum=require_checksum,
        metric_directions=metric_directions,
        reason=reason,
    )
    if model is not None:
        model = _lock_model(model.pk)
    policy = _policy_to_change(model)
    before = _policy_fields(policy) if policy.pk is not None else {}
    for field, value in (
        ("thresholds", thresholds),
        ("key_metrics", key_metrics),
        ("required_approvals", required_approvals),
        ("required_card_sections", required_card_sections),
        ("require_checksum", require_checksum),
        ("metric_directions", metric_directions),
    ):
        if value is not None:
            setattr(policy, field, value)
    _refuse_contrary_directions(policy)
    changes = diff(before, _policy_fields(policy))
    if changes or policy.pk is None:
        policy.updated_at = timezone.now()
        tag_change(policy, actor=actor, reason=reason)
        policy.save()
        record_event(
            action=Action.POLICY_CHANGED,
            actor=actor,
            obj=policy if model is None else model,
            reason=reason,
            changes=changes,
            payload={"scope": "site" if model is None else model.name},
        )
    return policy


def _validate_policy_change(
    *,
    thresholds: list | None,
    key_metrics: list | None,
    required_approvals: int | None,
    required_card_sections: list | None,
    require_checksum: bool | None,
    metric_directions: dict | None,
    reason: str,
) -> tuple[list | None, list | None, list | None, dict | None]:
    """Check the fields a policy change names (None: left alone), raising one
    ValidationError that names each bad field; returns the cleaned thresholds, key
    metrics, required card sections and metric directions."""
    errors: dict = {}
    if thresholds is not None:
        thresholds = _collect(errors, "thresholds", validate_thresholds, thresholds)
    if key_metrics is not None:
        key_metrics = _collect(errors, "key_metrics", validate_key_metrics, key_metrics)
    if required_card_sections is not None:
        required_card_sections = _collect(
            errors, "required_card_sections", validate_card_sections, required_card_sections
        )
    if metric_directions is not None:
        metric_directions = _collect(
            errors, "metric_directions", validate_metric_directions, metric_directions
        )
    if required_approvals is not None and (
        isinstance(required_approvals, bool)
        or not isinstance(required_approvals, int)
        or not 0 <= required_approvals <= 10
    ):
        errors.setdefault("required_approvals", []).append("A whole number from 0 to 10.")
    if require_checksum is not None and not isinstance(require_checksum, bool):
        errors.setdefault("require_checksum", []).append("Must be true or false.")
    if reason:
        _collect(
            errors,
            "reason",
            validate_plain_text,
            reason,
            field="reason",
            max_length=REASON_MAX,
            multiline=True,
        )
    if errors:
        raise ValidationError(errors)
    return thresholds, key_metrics, required_card_sections, metric_directions


def _refuse_contrary_directions(policy: PromotionPolicy) -> None:
    """A declared direction may not contradict a key metric's: the no-regression guard
    judges by the key metric's, and the dashboard must not colour the metric the other way."""
    ranked = {rule["metric"]: rule.get("direction", "higher") for rule in policy.key_metrics}
    contrary = sorted(
        name
        for name, direction in (policy.metric_directions or {}).items()
        if name in ranked and ranked[name] != direction
    )
    if contrary:
        raise ValidationError(
            {
                "metric_directions": [
                    f"{name} is a key metric where {ranked[name]} is better; declare the same "
                    "direction or none."
                    for name in contrary
                ]
            }
        )


def _policy_to_change(model: RegisteredModel | None) -> PromotionPolicy:
    """The policy a change applies to: the model's own (its row locked by the caller) or
    the site default (locked here); when there is none yet, a new unsaved one."""
    if model is not None:
        policy = PromotionPolicy.objects.filter(registered_model=model).first()
    else:
        policy = PromotionPolicy.objects.select_for_update().filter(is_site_default=True).first()
    if policy is not None:
        return policy
    # A new policy starts from the one in force, so unspecified fields keep their value.
    base = selectors.effective_policy(model=model) if model is not None else None
    return PromotionPolicy(
        registered_model=model,
        is_site_default=model is None,
        thresholds=list(base.thresholds) if base else [],
        key_metrics=list(base.key_metrics) if base else [],
        required_approvals=base.required_approvals if base else 1,
        required_card_sections=list(base.required_card_sections)
        if base
        else list(PromotionPolicy.DEFAULT_SECTIONS),
        require_checksum=base.require_checksum if base else False,
        metric_directions=dict(base.metric_directions) if base else {},
    )


def _policy_fields(policy: PromotionPolicy) -> dict:
    return {
        "thresholds": policy.thresholds,
        "key_metrics": policy.key_metrics,
        "required_approvals": policy.required_approvals,
        "required_card_sections": policy.required_card_sections,
        "require_checksum": policy.require_checksum,
        "metric_directions": policy.metric_directions,
    }


# --- Production health signals ---------------------------------------------------------

# How far ahead of the server's clock an observation time may be (clocks differ a little).
SIGNAL_CLOCK_SKEW = timedelta(minutes=5)
FINGERPRINT_MAX = 64


def _signal_payload(signal: HealthSignal) -> dict:
    return {
        "signal_id": signal.pk,
        "metric": signal.metric,
        "value": signal.value,
        "window_seconds": signal.window_seconds,
        "source": signal.source,
        "observed_at": signal.observed_at.isoformat().replace("+00:00", "Z"),
        "fingerprint": signal.fingerprint or None,
    }


def _clean_observed_at(value, errors: dict) -> datetime:
    now = timezone.now()
    if value is None:
        return now
    if not isinstance(value, datetime) or timezone.is_naive(value):
        errors.setdefault("observed_at", []).append(
            "observed_at must be a date and time with a time zone (ISO 8601)."
        )
        return now
    oldest = now - timedelta(days=settings.REGISTRY_SIGNAL_RETENTION_DAYS)
    if value > now + SIGNAL_CLOCK_SKEW:
        errors.setdefault("observed_at", []).append("observed_at is in the future.")
    elif value < oldest:
        errors.setdefault("observed_at", []).append(
            f"observed_at is older than the {settings.REGISTRY_SIGNAL_RETENTION_DAYS} days "
            "signals are kept."
        )
    return value


def signal_record(
    *,
    actor,
    version: ModelVersion,
    metric: object,
    value: object,
    window: object = 0,
    source: object = "",
    observed_at: datetime | None = None,
    fingerprint: str = "",
) -> HealthSignal:
    """Store one health signal on `version` and return it: the one path of every door
    (REST, Alertmanager, the demo).

    In one transaction: the signal, the version's latest value of the metric (unless a
    newer observation is already there: signals may arrive out of order) and a
    `signal.received` audit event, which the webhook outbox delivers. The permission is
    checked first: a user who may not post signals learns nothing about their input.
    """
    prefetch_permissions(actor)
    require_permission(actor, "signal.post", version)
    errors: dict = {}
    metric = _collect(errors, "metric", validate_metric_name, metric)
    value = _collect(errors, "value", validate_signal_value, value)
    window_seconds = _collect(errors, "window", parse_window, window)
    source = _collect(errors, "source", validate_signal_source, source)
    observed_at = _clean_observed_at(observed_at, errors)
    if not isinstance(fingerprint, str) or len(fingerprint) > FINGERPRINT_MAX:
        errors.setdefault("fingerprint", []).append(
            f"fingerprint must be text of at most {FINGERPRINT_MAX} characters."
        )
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        signal = HealthSignal.objects.create(
            model_version=version,
            metric=metric,
            value=value,
            window_seconds=window_seconds,
            source=source,
            observed_at=observed_at,
            posted_by=actor if getattr(actor, "pk", None) else None,
            posted_by_username=actor.get_username() if actor is not None else "",
            fingerprint=fingerprint,
        )
        _keep_latest(signal)
        record_event(
            action=Action.SIGNAL_RECEIVED,
            actor=actor,
            obj=signal,
            payload=_signal_payload(signal),
            keeps_cached_answers=True,
        )
        health_signal_recorded.send(sender=HealthSignal, health_signal=signal, actor=actor)
    return signal


def _keep_latest(signal: HealthSignal) -> None:
    """Point the version's latest value of the metric at `signal` if it is the newest."""
    moved = LatestSignal.objects.filter(
        model_version_id=signal.model_version_id,
        metric=signal.metric,
        observed_at__lte=signal.observed_at,
    ).update(signal=signal, observed_at=signal.observed_at)
    if moved:
        return
    try:
        with transaction.atomic():
            LatestSignal.objects.create(
                model_version_id=signal.model_version_id,
                metric=signal.metric,
                observed_at=signal.observed_at,
                signal=signal,
            )
    except IntegrityError:
        # Another transaction stored the metric's first latest value meanwhile (now
        # committed and visible): replace it if this observation is newer.
        LatestSignal.objects.filter(
            model_version_id=signal.model_version_id,
            metric=signal.metric,
            observed_at__lte=signal.observed_at,
        ).update(signal=signal, observed_at=signal.observed_at)


def signal_resolve(*, actor, fingerprint: str, resolved_at: datetime | None = None) -> list:
    """Close the open signals of an alert (by its fingerprint); returns those closed."""
    prefetch_permissions(actor)
    if not fingerprint:
        return []
    resolved_at = resolved_at or timezone.now()
    with transaction.atomic():
        open_signals = list(
            HealthSignal.objects.select_for_update()
            .select_related("model_version__registered_model__team")
            .filter(fingerprint=fingerprint, resolved_at__isnull=True)
            .order_by("id")[:100]
        )
        for signal in open_signals:
            require_permission(actor, "signal.post", signal.model_version)
            signal.resolved_at = max(resolved_at, signal.observed_at)
            signal.save(update_fields=["resolved_at"])
            payload = _signal_payload(signal)
            payload["resolved_at"] = signal.resolved_at.isoformat().replace("+00:00", "Z")
            record_event(
                action=Action.SIGNAL_RESOLVED,
                actor=actor,
                obj=signal,
                payload=payload,
                keeps_cached_answers=True,
            )
    return open_signals


def signals_prune(*, days: int | None = None, batch_size: int = 1000) -> int:
    """Delete the signals observed more than `days` (REGISTRY_SIGNAL_RETENTION_DAYS) ago,
    in batches of `batch_size` rows, each its own short transaction; returns how many."""
    days = settings.REGISTRY_SIGNAL_RETENTION_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=days)
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                HealthSignal.objects.filter(observed_at__lt=cutoff)
                .order_by("observed_at")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                return total
            LatestSignal.objects.filter(signal_id__in=ids).delete()
            HealthSignal.objects.filter(pk__in=ids).delete()
        total += len(ids)
