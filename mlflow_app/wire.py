"""Our models and versions in MLflow's JSON shapes (mlflow/protos/model_registry.proto).

The answers are plain data, so lists are read as plain rows (`values()`), never as model
instances: a row holds exactly the columns the answer shows, with the model's name, the
team's slug and the author's username joined in. Reads for lists are batched: a search
page of versions is one query for the rows and one for their aliases; a page of models is
one for the rows (each with the ids of its latest version per stage), one for those
versions and one for the aliases, whatever the number of rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from models_app import lifecycle, selectors
from models_app.enums import Stage
from models_app.models import ModelVersion, RegisteredModel

from .models import DeletedModel, DeletedVersion, ModelAlias


def _mlflow_stage(stage: str) -> str:
    """MLflow's name for one of our stages, from the lifecycle: the stage versions are
    registered in (and promoted from) is Staging, the stage promotion leads to is
    Production, and every other stage means "out of service" and reads as Archived (the
    precise one is in the read-only tag `registry.stage`)."""
    if stage == lifecycle.initial_stage():
        return "Staging"
    if stage in lifecycle.targets("promote"):
        return "Production"
    return "Archived"


# MLflow's four stages; ours, more of them, each map to one.
STAGE_TO_MLFLOW = {stage: _mlflow_stage(stage) for stage in Stage.values}
MLFLOW_STAGES = ["None", "Staging", "Production", "Archived"]
MLFLOW_TO_STAGES = {
    name: [s for s, m in STAGE_TO_MLFLOW.items() if m == name] for name in MLFLOW_STAGES
}


def canonical_stage(text: str) -> str | None:
    """MLflow's stage name for `text`, case-insensitively, or None if it is not one."""
    for name in MLFLOW_STAGES:
        if isinstance(text, str) and text.lower() == name.lower():
            return name
    return None


def ms(when) -> int:
    return int(when.timestamp() * 1000)


def _tags(tags: dict, extra: dict) -> list[dict]:
    merged = {**tags, **extra}
    return [{"key": key, "value": str(value)} for key, value in merged.items()]


# --- The rows --------------------------------------------------------------------------------


@cache
def author_field() -> str:
    """The row key (and lookup) of the author's username: `user_id` on the wire."""
    return f"created_by__{get_user_model().USERNAME_FIELD}"


# Per model, the id of its highest-numbered version in each MLflow stage that has versions
# (MLflow's None has none), one row key each.
TOP_FIELDS = {name: f"latest_{name.lower()}" for name in MLFLOW_STAGES if MLFLOW_TO_STAGES[name]}


def model_fields() -> list[str]:
    """The columns of a model row: what the answer shows, and its latest versions' ids
    (on a query annotated by `with_top_versions`)."""
    fields = ["pk", "name", "created_at", "updated_at", "description", "tags", "team__slug"]
    return [*fields, author_field(), *TOP_FIELDS.values()]


def version_fields() -> list[str]:
    """The columns of a version row: what the answer shows, its model's id and name."""
    return [
        "pk",
        "registered_model_id",
        "registered_model__name",
        "number",
        "version",
        "stage",
        "created_at",
        "stage_changed_at",
        "description",
        "artifact_uri",
        "source_run",
        "tags",
        author_field(),
    ]


# "Not deleted" is NOT EXISTS, which PostgreSQL plans as an anti-join and estimates from
# the deletion tables; a LEFT JOIN … IS NULL on them is estimated to keep almost no rows,
# which leads the planner to sort whole tables instead of reading an index in order.
def visible_models():
    """Models the MLflow API shows: all but those deleted through it."""
    deleted = DeletedModel.objects.filter(registered_model=OuterRef("pk"))
    return RegisteredModel.objects.filter(~Exists(deleted)).select_related("team", "created_by")


def visible_versions():
    """Versions the MLflow API shows: not deleted through it, nor of a model deleted so."""
    deleted = DeletedVersion.objects.filter(model_version=OuterRef("pk"))
    model_deleted = DeletedModel.objects.filter(registered_model=OuterRef("registered_model_id"))
    return ModelVersion.objects.filter(~Exists(deleted), ~Exists(model_deleted)).select_related(
        "registered_model__team", "created_by"
    )


def _top_version(model, stage: str) -> Subquery:
    """The id of the highest-numbered version of `model` (an outer reference) in our
    `stage`, not deleted through MLflow: one probe at the end of the (model, stage, number)
    index, however many versions the model has."""
    return Subquery(
        ModelVersion.objects.filter(
            registered_model=model, stage=stage, mlflow_deleted__isnull=True
        )
        .order_by("-number")
        .values("pk")[:1]
    )


@cache
def _top_versions() -> dict[str, Subquery]:
    """The annotations of `with_top_versions`, built once: they are the same for every
    query, and a query resolves its own copy of each (building them takes longer than
    running them)."""
    tops = {}
    for name, field in TOP_FIELDS.items():
        stages = MLFLOW_TO_STAGES[name]
        if len(stages) == 1:
            tops[field] = _top_version(OuterRef("pk"), stages[0])
            continue
        latest_each = Q()
        for stage in stages:
            latest_each |= Q(pk=_top_version(OuterRef(OuterRef("pk")), stage))
        tops[field] = Subquery(
            ModelVersion.objects.filter(latest_each).order_by("-number").values("pk")[:1]
        )
    return tops


def with_top_versions(models: QuerySet) -> QuerySet:
    """`models` with the id of each one's latest version in each MLflow stage (None where
    it has none), as TOP_FIELDS.

    A stage of MLflow that is one of ours is one index probe per model. Archived is three
    of ours: the highest-numbered of their three latest versions, found by id. Neither
    reads more of a model's versions than those, so thousands of them cost what a few do.
    """
    return models.annotate(**_top_versions())


def _in_order(rows: list[dict], ids: list[int]) -> list[dict]:
    by_id = {row["pk"]: row for row in rows}
    return [by_id[pk] for pk in ids if pk in by_id]


def model_rows(ids: list[int]) -> list[dict]:
    """The visible models with these ids, as rows of `model_fields`, in the order of `ids`."""
    if not ids:
        return []
    rows = with_top_versions(visible_models().filter(pk__in=ids)).values(*model_fields())
    return _in_order(list(rows), ids)


def version_rows(ids: Iterable[int]) -> list[dict]:
    """The visible versions with these ids, as rows of `version_fields`, in that order."""
    ids = list(ids)
    if not ids:
        return []
    rows = visible_versions().filter(pk__in=ids).values(*version_fields())
    return _in_order(list(rows), ids)


def model_row(model: RegisteredModel) -> dict:
    """A model instance as a row, without latest versions (for one just created)."""
    return {
        "pk": model.pk,
        "name": model.name,
        "created_at": model.created_at,
        "updated_at": model.updated_at,
        "description": model.description,
        "tags": model.tags,
        "team__slug": model.team.slug,
        author_field(): model.created_by.get_username() if model.created_by_id else "",
        **dict.fromkeys(TOP_FIELDS.values()),
    }


def version_row(mv: ModelVersion) -> dict:
    """A version instance as a row."""
    return {
        "pk": mv.pk,
        "registered_model_id": mv.registered_model_id,
        "registered_model__name": mv.registered_model.name,
        "number": mv.number,
        "version": mv.version,
        "stage": mv.stage,
        "created_at": mv.created_at,
        "stage_changed_at": mv.stage_changed_at,
        "description": mv.description,
        "artifact_uri": mv.artifact_uri,
        "source_run": mv.source_run,
        "tags": mv.tags,
        author_field(): mv.created_by.get_username() if mv.created_by_id else "",
    }


# --- Instances, for the calls that change what they name ---------------------------------------


# One row by a unique key: here "not deleted" is a LEFT JOIN … IS NULL, which Django
# builds in about half the time of the NOT EXISTS above (a millisecond less per call), and
# with a single row the planner's estimate does not matter. No ORDER BY: the key is unique.


def model_by_name(name: str) -> RegisteredModel | None:
    """The visible model called `name`, with its team and author, or None."""
    return selectors.first_row(
        RegisteredModel.objects.filter(name=name, mlflow_deleted__isnull=True)
        .select_related("team", "created_by")
        .order_by()
    )


def version_by_number(name: str, number: int) -> ModelVersion | None:
    """Version `number` of the visible model `name`, with model, team and author, or None."""
    return selectors.first_row(
        ModelVersion.objects.filter(
            registered_model__name=name,
            number=number,
            mlflow_deleted__isnull=True,
            registered_model__mlflow_deleted__isnull=True,
        )
        .select_related("registered_model__team", "created_by")
        .order_by()
    )


# --- Aliases ---------------------------------------------------------------------------------


def _protected(alias: str) -> bool:
    # Stored rows of protected aliases (from before an alias became protected) are
    # ignored: a protected alias always names the production version, never a row.
    return alias.lower() in settings.REGISTRY_PROTECTED_ALIASES


def aliases_by_version(versions: Iterable[dict]) -> dict[int, list[str]]:
    """Each version row's aliases: its stored ones, and the protected ones if in production."""
    out: dict[int, list[str]] = defaultdict(list)
    versions = list(versions)
    ids = list(dict.fromkeys(row["pk"] for row in versions))
    if not ids:
        return out
    stored = (
        ModelAlias.objects.filter(model_version_id__in=ids)
        .order_by()
        .values_list("model_version_id", "alias")
    )
    for version_id, alias in stored:
        if not _protected(alias):
            out[version_id].append(alias)
    for version_id in {row["pk"] for row in versions if row["stage"] == Stage.PRODUCTION}:
        out[version_id].extend(settings.REGISTRY_PROTECTED_ALIASES)
    return out


def _model_aliases(model_ids: list):
    """(model id, alias, version id, version number) of the models' aliases, by alias."""
    return (
        ModelAlias.objects.filter(registered_model_id__in=model_ids)
        .order_by("alias")
        .values_list("registered_model_id", "alias", "model_version_id", "model_version__number")
    )


# --- Latest versions per stage -------------------------------------------------------------


def latest_of(models: list[dict], stages: list[str] | None = None) -> dict[int, list[dict]]:
    """For each row of a visible model (with TOP_FIELDS), its latest version row in each
    MLflow stage (or in `stages`), in MLflow's order of stages; one query for all of them.

    The versions are read by id alone: `with_top_versions` already left out those deleted
    through MLflow, and the models are visible."""
    fields = [field for name, field in TOP_FIELDS.items() if not stages or name in stages]
    ids = [row[field] for row in models for field in fields if row[field] is not None]
    out: dict[int, list[dict]] = defaultdict(list)
    if not ids:
        return out
    rows = ModelVersion.objects.filter(pk__in=ids).values(*version_fields())
    for row in _in_order(list(rows), ids):
        out[row["registered_model_id"]].append(row)
    return out


def latest_versions(model_ids: list[int], stages: list[str] | None = None) -> dict[int, list]:
    """For each of these visible models, its highest-numbered version row in each MLflow
    stage (or in `stages`)."""
    if not model_ids:
        return {}
    models = with_top_versions(RegisteredModel.objects.filter(pk__in=model_ids).order_by())
    return latest_of(list(models.values("pk", *TOP_FIELDS.values())), stages)


# --- The answers -----------------------------------------------------------------------------


def version_json(row: dict, aliases: list[str] | None = None) -> dict:
    """A version row (`version_fields`) as MLflow's ModelVersion."""
    created_at, stage = row["created_at"], row["stage"]
    return {
        "name": row["registered_model__name"],
        "version": str(row["number"]),
        "creation_timestamp": ms(created_at),
        "last_updated_timestamp": ms(max(created_at, row["stage_changed_at"])),
        "user_id": row[author_field()] or "",
        "current_stage": STAGE_TO_MLFLOW[stage],
        "description": row["description"],
        "source": row["artifact_uri"],
        "run_id": row["source_run"],
        "run_link": "",
        "status": "READY",
        "tags": _tags(row["tags"], {"registry.semver": row["version"], "registry.stage": stage}),
        "aliases": sorted(aliases or []),
    }


def versions_json(rows: list[dict]) -> list[dict]:
    """Version rows as MLflow's ModelVersions, with their aliases (one query)."""
    aliases = aliases_by_version(rows)
    return [version_json(row, aliases.get(row["pk"])) for row in rows]


def models_json(rows: list[dict]) -> list[dict]:
    """Model rows (`model_fields`) as MLflow's RegisteredModels, with their latest versions
    per stage and aliases: two queries, whatever the number of rows."""
    ids = [row["pk"] for row in rows]
    latest = latest_of(rows)
    model_aliases: dict[int, list[dict]] = defaultdict(list)
    version_aliases: dict[int, list[str]] = defaultdict(list)
    if ids:
        for model_id, alias, version_id, number in _model_aliases(ids):
            if _protected(alias):
                continue
            model_aliases[model_id].append({"alias": alias, "version": str(number)})
            version_aliases[version_id].append(alias)
    # The protected aliases name each model's production version, its latest Production.
    for model_id, versions in latest.items():
        for mv in versions:
            if mv["stage"] == Stage.PRODUCTION:
                version_aliases[mv["pk"]].extend(settings.REGISTRY_PROTECTED_ALIASES)
                model_aliases[model_id].extend(
                    {"alias": alias, "version": str(mv["number"])}
                    for alias in settings.REGISTRY_PROTECTED_ALIASES
                )
                model_aliases[model_id].sort(key=lambda item: item["alias"])
    return [
        _model_json(
            row,
            [version_json(mv, version_aliases.get(mv["pk"])) for mv in latest.get(row["pk"], [])],
            model_aliases.get(row["pk"], []),
        )
        for row in rows
    ]


def _model_json(row: dict, latest_versions: list[dict], aliases: list[dict]) -> dict:
    created_at = row["created_at"]
    return {
        "name": row["name"],
        "creation_timestamp": ms(created_at),
        "last_updated_timestamp": ms(max(created_at, row["updated_at"])),
        "user_id": row[author_field()] or "",
        "description": row["description"],
        "latest_versions": latest_versions,
        "tags": _tags(row["tags"], {"registry.team": row["team__slug"]}),
        "aliases": aliases,
    }


def _read_afresh(obj, rows_of, as_json) -> dict:
    """`obj` read again by `rows_of` and shaped by `as_json`; its model's DoesNotExist if it
    is no longer visible."""
    rows = rows_of([obj.pk])
    if not rows:
        name = obj._meta.object_name
        raise type(obj).DoesNotExist(f"{name} matching query does not exist.")
    return as_json(rows)[0]


def model_json(model: RegisteredModel) -> dict:
    """The model as MLflow's RegisteredModel, read afresh; DoesNotExist if it is no longer
    visible."""
    return _read_afresh(model, model_rows, models_json)


def version_json_fresh(mv: ModelVersion) -> dict:
    """The version as MLflow's ModelVersion, read afresh; DoesNotExist if it is no longer
    visible."""
    return _read_afresh(mv, version_rows, versions_json)


def new_model_json(model: RegisteredModel) -> dict:
    """A model just created, as the service returned it: it has no versions or aliases yet."""
    return _model_json(model_row(model), [], [])


def new_version_json(mv: ModelVersion) -> dict:
    """A version just registered, as the service returned it: it has no aliases yet."""
    return version_json(version_row(mv), [])
