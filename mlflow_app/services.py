"""Writes of the MLflow door: everything either calls the core's services or, for what the
core has no notion of (aliases, soft deletes), follows the same rules as they do.

Each function is keyword-only, takes the acting user, checks permission, writes inside one
transaction with the model row locked, records history with the actor and reason, and
appends an audit event. Tag edits lock the model first so that two concurrent `set-tag`
calls cannot lose each other's tag in a read-modify-write race (the core's services apply
single-tag edits under that lock: `tag_changes`).
"""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from models_app import selectors
from models_app import services as core
from models_app.audit import record_event, tag_change
from models_app.enums import Stage
from models_app.exceptions import Conflict, NotAllowed, NotFound, NotOwnedHere
from models_app.models import ModelVersion, RegisteredModel, Team
from models_app.permissions import can, require_permission, team_ids

from .models import DeletedModel, DeletedVersion, ModelAlias

# Tags that MLflow clients may send and that this registry also reads as instructions.
TEAM_TAG = "team"
SEMVER_TAG = "semver"
# Tags this door adds to its answers; read-only, never stored.
SYNTHETIC_PREFIX = "registry."

ALIAS_RE = re.compile(r"^[\w\-]*$")
ALIAS_VERSION_RE = re.compile(r"^[vV]\d+$")
ALIAS_MAX = 255

DELETE_REASON = "deleted via the MLflow API"


def _lock(model_id: int) -> RegisteredModel:
    model = selectors.model_for_update(pk=model_id)
    # A model mirrored from a team registry changes only there, through any door.
    core.require_owned_here(model)
    return model


def _refuse_reserved_tag(key: str, *, on: str) -> None:
    if key.startswith(SYNTHETIC_PREFIX):
        raise ValidationError(
            f"Tags starting with '{SYNTHETIC_PREFIX}' are set by the registry and are read-only."
        )
    if on == "model" and key == TEAM_TAG:
        raise ValidationError(
            "The 'team' tag chooses a model's team when it is created; the team of an "
            "existing model changes only through an admin."
        )
    if on == "version" and key == SEMVER_TAG:
        raise ValidationError(
            "The 'semver' tag chooses a version's SemVer label when it is created; the label "
            "is part of the version's identity and cannot change."
        )


# --- Registered models ----------------------------------------------------------------------


def team_for_new_model(*, actor, team_tag: str | None) -> Team:
    """The team that owns a model created through MLflow, which knows no teams.

    A `team` tag names it (slug or name); otherwise the creator's only team is used.
    """
    if team_tag:
        team = (
            Team.objects.filter(slug=team_tag).first() or Team.objects.filter(name=team_tag).first()
        )
        if team is None:
            raise ValidationError(f"No team '{team_tag}' (from the 'team' tag) exists.")
        return team
    teams = team_ids(actor)
    if len(teams) == 1:
        return selectors.team_by_pk(pk=next(iter(teams)))
    if not teams:
        raise ValidationError(
            f"{actor.get_username()} belongs to no team, so the new model has no owner: "
            "add a tag 'team' naming the owning team's slug."
        )
    raise ValidationError(
        f"{actor.get_username()} belongs to several teams: add a tag 'team' naming the "
        "slug of the team that owns the new model."
    )


def registered_model_create(
    *, actor, name: str, description: str = "", tags: dict[str, str] | None = None
) -> RegisteredModel:
    """Create a model through the core's service, mapping MLflow's tags onto a team.

    The `team` tag chooses the team and is kept as set, so that the client reads back the
    tags it sent (the team itself shows in `registry.team`). A name already taken is
    refused before the team is chosen, whatever the caller's teams, as MLflow's
    `register_model` expects (every signed-in user may read every model, so this tells
    nobody anything new).
    """
    tags = {k: v for k, v in dict(tags or {}).items() if not k.startswith(SYNTHETIC_PREFIX)}
    if RegisteredModel.objects.filter(name=name).exists():
        raise _name_taken(name)
    team = team_for_new_model(actor=actor, team_tag=tags.get(TEAM_TAG))
    try:
        return core.registered_model_create(
            actor=actor, name=name, team=team, description=description, tags=tags
        )
    except Conflict as exc:
        raise _name_taken(name) from exc


def _name_taken(name: str) -> Conflict:
    if RegisteredModel.objects.filter(name=name, mlflow_deleted__isnull=False).exists():
        return Conflict(
            f"Registered Model (name={name}) already exists: it was deleted through the "
            "MLflow API but is kept, deprecated, for the audit trail. Choose another name."
        )
    # A mirrored model's name: the refusal names its registry first.
    return core.name_taken(name)


def registered_model_tag_set(*, actor, model: RegisteredModel, key: str, value: str):
    _refuse_reserved_tag(key, on="model")
    return core.registered_model_update(actor=actor, model=model, tag_changes={key: value})


def registered_model_tag_delete(*, actor, model: RegisteredModel, key: str):
    _refuse_reserved_tag(key, on="model")
    return core.registered_model_update(actor=actor, model=model, tag_changes={key: None})


@transaction.atomic
def registered_model_delete(*, actor, model: RegisteredModel, reason: str = DELETE_REASON):
    """Delete a model through MLflow: refused if any version was ever in production.

    Otherwise each of its versions is deleted as `model_version_delete` does, and the model
    is hidden from the MLflow API; its name stays taken, since the model is kept.
    """
    model = _lock(model.pk)
    if DeletedModel.objects.filter(registered_model=model).exists():
        raise NotFound(f"Registered Model with name={model.name} not found")
    require_permission(actor, "version.deprecate", model)
    once_production = list(
        model.versions.filter(promoted_at__isnull=False).values_list("version", flat=True)
    )
    if once_production:
        raise Conflict(
            f"Cannot delete {model.name}: versions {', '.join(once_production)} were in "
            "production, and nothing that was ever in production is deleted (it is the "
            "rollback path and the audit evidence). Archive or deprecate versions instead."
        )
    for mv in model.versions.filter(mlflow_deleted__isnull=True):
        model_version_delete(actor=actor, version=mv, reason=reason)
    marker = DeletedModel(registered_model=model, deleted_by=actor, reason=reason)
    tag_change(marker, actor=actor, reason=reason)
    marker.save()
    record_event(
        action="model.deleted", actor=actor, obj=model, reason=reason, payload={"door": "mlflow"}
    )


# --- Versions --------------------------------------------------------------------------------


def model_version_create(
    *,
    actor,
    model: RegisteredModel,
    source: str,
    run_id: str = "",
    description: str = "",
    tags: dict[str, str] | None = None,
) -> ModelVersion:
    """Register a version through the core's service with the SemVer label `N.0.0`.

    N is the number the registry gives the version (the core chooses the label under the
    model's lock, so that label and number agree); a `semver` tag chooses another label.
    """
    tags = dict(tags or {})
    label = tags.pop(SEMVER_TAG, None)
    tags = {k: v for k, v in tags.items() if not k.startswith(SYNTHETIC_PREFIX)}
    try:
        return core.model_version_register(
            actor=actor,
            model=model,
            version=label,
            artifact_uri=source,
            source_run=run_id or "",
            description=description or "",
            tags=tags,
        )
    except NotOwnedHere:
        raise  # a mirrored model: the refusal names its registry, as it is
    except Conflict as exc:
        raise Conflict(
            f"{exc.message} Versions created through the MLflow API are labelled N.0.0 after "
            "their number; give this one another label with a tag 'semver' (e.g. 2.1.0)."
        ) from exc


def model_version_tag_set(*, actor, version: ModelVersion, key: str, value: str):
    _refuse_reserved_tag(key, on="version")
    return core.model_version_update(actor=actor, version=version, tag_changes={key: value})


def model_version_tag_delete(*, actor, version: ModelVersion, key: str):
    _refuse_reserved_tag(key, on="version")
    return core.model_version_update(actor=actor, version=version, tag_changes={key: None})


@transaction.atomic
def model_version_delete(
    *, actor, version: ModelVersion, reason: str = DELETE_REASON
) -> ModelVersion:
    """Delete a version through MLflow: a soft delete that the core's lifecycle allows.

    Refused for a version that is or ever was in production. Otherwise the version is
    deprecated through the core's service (which needs the deprecate permission and records
    the transition), its aliases are removed, and it is hidden from the MLflow API.
    """
    _lock(version.registered_model_id)
    mv = selectors.version_by_pk(pk=version.pk)
    if DeletedVersion.objects.filter(model_version=mv).exists():
        # A concurrent delete got here first.
        raise NotFound(
            f"Model Version (name={mv.registered_model.name}, version={mv.number}) not found"
        )
    require_permission(actor, "version.deprecate", mv)
    if mv.stage == Stage.PRODUCTION or mv.promoted_at is not None:
        raise Conflict(
            f"Cannot delete {mv.registered_model.name} version {mv.number} ({mv.version}): it "
            "was in production, and nothing that was ever in production is deleted (it is the "
            "rollback path and the audit evidence). Archive it instead."
        )
    if mv.stage != Stage.DEPRECATED:
        mv = core.model_version_deprecate(actor=actor, version=mv, reason=reason)
    for alias in ModelAlias.objects.filter(model_version=mv):
        _alias_remove(actor=actor, alias=alias, reason=reason)
    marker = DeletedVersion(model_version=mv, deleted_by=actor, reason=reason)
    tag_change(marker, actor=actor, reason=reason)
    marker.save()
    record_event(
        action="version.deleted", actor=actor, obj=mv, reason=reason, payload={"door": "mlflow"}
    )
    return mv


# --- Aliases ---------------------------------------------------------------------------------


def validate_alias(alias: object, *, setting: bool) -> str:
    """MLflow's alias rules: letters, digits, '_' and '-'; 'latest' and 'vN' are reserved."""
    if not isinstance(alias, str) or not alias:
        raise ValidationError("Registered model alias name cannot be empty.")
    if not ALIAS_RE.fullmatch(alias) or len(alias) > ALIAS_MAX:
        raise ValidationError(
            f"Invalid alias name: '{alias[:80]}'. Names may only contain alphanumerics, "
            f"underscores (_), and dashes (-), at most {ALIAS_MAX} characters."
        )
    if setting and alias.lower() == "latest":
        raise ValidationError("'latest' alias name (case insensitive) is reserved.")
    if setting and ALIAS_VERSION_RE.fullmatch(alias):
        raise ValidationError(f"Version alias name '{alias}' is reserved.")
    return alias


def protected_aliases() -> list[str]:
    """The aliases that always name the production version (REGISTRY_PROTECTED_ALIASES)."""
    return list(settings.REGISTRY_PROTECTED_ALIASES)


def is_protected(alias: str) -> bool:
    """Whether `alias` is protected; compared case-insensitively, as MLflow compares the
    reserved 'latest', so that 'Champion' is no way around 'champion'."""
    return alias.lower() in settings.REGISTRY_PROTECTED_ALIASES


def alias_reason(alias: str, reason: str | None = None) -> str:
    return reason or f"set alias {alias} through the MLflow door"


def _require_alias_permission(actor, model: RegisteredModel) -> None:
    # Aliases are how MLflow projects name what they deploy, so the model's own team and
    # release managers may move them; nobody else.
    if can(actor, "model.change", model) or can(actor, "version.promote", model):
        return
    name = actor.get_username() if actor is not None else "anonymous"
    raise NotAllowed(
        f"{name} may not set aliases of {model.name}: only members of team "
        f"'{model.team}' and release managers may."
    )


@transaction.atomic
def protected_alias_set(
    *, actor, version: ModelVersion, alias: str, reason: str | None = None
) -> ModelVersion:
    """Point a protected alias at `version`: that is, promote it.

    A protected alias is never stored; it always names the model's production version.
    Setting it is a promotion through `model_version_promote` (its permission, guards and
    audit event); on the version already in production it changes nothing, once the
    caller is shown to hold the promote permission.
    """
    validate_alias(alias, setting=True)
    _lock(version.registered_model_id)
    mv = selectors.version_by_pk(pk=version.pk)
    if mv.stage == Stage.PRODUCTION:
        require_permission(actor, "version.promote", mv)
        return mv
    return core.model_version_promote(actor=actor, version=mv, reason=alias_reason(alias, reason))


@transaction.atomic
def alias_set(
    *, actor, version: ModelVersion, alias: str, reason: str | None = None
) -> ModelAlias | None:
    """Point `alias` of the version's model at the version (moving it if it exists).

    A protected alias is not stored: setting it promotes the version
    (`protected_alias_set`), and None is returned.
    """
    validate_alias(alias, setting=True)
    if is_protected(alias):
        protected_alias_set(actor=actor, version=version, alias=alias, reason=reason)
        return None
    model = _lock(version.registered_model_id)
    _require_alias_permission(actor, model)
    mv = selectors.version_by_pk(pk=version.pk)
    row = ModelAlias.objects.filter(registered_model=model, alias=alias).first()
    previous = None
    if row is None:
        row = ModelAlias(registered_model=model, alias=alias, model_version=mv, updated_by=actor)
    else:
        if row.model_version_id == mv.pk:
            return row
        previous = row.model_version
        row.model_version = mv
        row.updated_by = actor
        row.updated_at = timezone.now()
    tag_change(row, actor=actor)
    row.save()
    record_event(
        action="alias.set",
        actor=actor,
        obj=mv,
        changes={"alias": [None, alias]} if previous is None else {},
        payload={
            "alias": alias,
            "version": mv.version,
            "number": mv.number,
            "previous_version": previous.version if previous else None,
        },
    )
    return row


def _alias_remove(*, actor, alias: ModelAlias, reason: str = "") -> None:
    mv = alias.model_version
    tag_change(alias, actor=actor, reason=reason)
    alias.delete()
    record_event(
        action="alias.deleted",
        actor=actor,
        obj=mv,
        reason=reason,
        payload={"alias": alias.alias, "version": mv.version, "number": mv.number},
    )


@transaction.atomic
def alias_delete(*, actor, model: RegisteredModel, alias: str) -> None:
    """Remove an alias; removing one that does not exist changes nothing (as in MLflow)."""
    validate_alias(alias, setting=False)
    model = _lock(model.pk)
    # Permission before the lookup: whether the alias exists, or is protected, is no answer
    # to give a user who may not remove it.
    _require_alias_permission(actor, model)
    if is_protected(alias):
        raise Conflict(
            f"Cannot delete the alias '{alias}' of {model.name}: it is protected and always "
            "names the version in production. To take that version out of service, archive "
            "it or roll the model back (dashboard, REST API or modelreg)."
        )
    row = (
        ModelAlias.objects.select_related("model_version__registered_model__team")
        .filter(registered_model=model, alias=alias)
        .first()
    )
    if row is None:
        return
    _alias_remove(actor=actor, alias=row)
