"""Our models and versions in MLflow's JSON shapes (mlflow/protos/model_registry.proto).

Reads for lists are batched: one query for the rows, one for their aliases, two for the
latest version per stage, whatever the number of rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, Subquery

from models_app import lifecycle
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


def _aliases(version_ids: list):
    return ModelAlias.objects.filter(model_version_id__in=version_ids).values_list(
        "model_version_id", "alias"
    )


def _model_aliases(model_ids: list):
    """(model id, alias, version id, version number) of the models' aliases, by alias."""
    return (
        ModelAlias.objects.filter(registered_model_id__in=model_ids)
        .order_by("alias")
        .values_list("registered_model_id", "alias", "model_version_id", "model_version__number")
    )


def _top_numbers(model_ids: list):
    """Per model: its id, then the highest number of its versions not deleted through MLflow
    in each of our stages (None where it has none), in the order of Stage.values.

    One probe per model and stage, each the last entry of the (model, stage, number)
    index, instead of a scan of all of a model's versions: thousands of them cost the
    same as a few.
    """
    tops = {
        f"top_{stage}": Subquery(
            ModelVersion.objects.filter(
                registered_model=OuterRef("pk"), stage=stage, mlflow_deleted__isnull=True
            )
            .order_by("-number")
            .values("number")[:1]
        )
        for stage in Stage.values
    }
    return (
        RegisteredModel.objects.filter(pk__in=model_ids)
        .order_by()
        .values_list("pk")
        .annotate(**tops)
    )


# Up to this many (model, number) pairs are read with an OR of exact pairs; more would
# nest deeper than SQLite lets an expression nest, so they are read another way.
PAIRS_IN_ONE_OR = 50


def _versions_by_pairs(pairs: list[tuple[int, int]]) -> list[ModelVersion]:
    """Visible versions by (model id, number), in one query."""
    if len(pairs) <= PAIRS_IN_ONE_OR:
        condition = Q()
        for model_id, number in pairs:
            condition |= Q(registered_model_id=model_id, number=number)
        return list(visible_versions().filter(condition))
    # The versions of those models with any of those numbers, then the pairs themselves.
    wanted = set(pairs)
    return [
        mv
        for mv in visible_versions().filter(
            registered_model_id__in={model_id for model_id, _n in pairs},
            number__in={number for _m, number in pairs},
        )
        if (mv.registered_model_id, mv.number) in wanted
    ]


def _in_order(rows, ids: list[int]) -> list:
    by_id = {row.pk: row for row in rows}
    return [by_id[pk] for pk in ids if pk in by_id]


def models_by_id(ids: list[int]) -> list[RegisteredModel]:
    """The visible models with these ids, with team and author, in the order of `ids`."""
    if not ids:
        return []
    return _in_order(visible_models().filter(pk__in=ids), ids)


def versions_by_id(ids: list[int]) -> list[ModelVersion]:
    """The visible versions with these ids, with model, team and author, in that order."""
    if not ids:
        return []
    return _in_order(visible_versions().filter(pk__in=ids), ids)


def model_by_name(name: str) -> RegisteredModel | None:
    """The visible model called `name`, with its team and author, or None."""
    return visible_models().filter(name=name).first()


def version_by_number(name: str, number: int) -> ModelVersion | None:
    """Version `number` of the visible model `name`, with model, team and author, or None."""
    return visible_versions().filter(registered_model__name=name, number=number).first()


def _protected(alias: str) -> bool:
    # Stored rows of protected aliases (from before an alias became protected) are
    # ignored: a protected alias always names the production version, never a row.
    return alias.lower() in settings.REGISTRY_PROTECTED_ALIASES


def aliases_by_version(versions: Iterable[ModelVersion]) -> dict[int, list[str]]:
    """Each version's aliases: its stored ones, and the protected ones if in production."""
    out: dict[int, list[str]] = defaultdict(list)
    versions = list(versions)
    ids = list(dict.fromkeys(mv.pk for mv in versions))
    if not ids:
        return out
    for version_id, alias in _aliases(ids):
        if not _protected(alias):
            out[version_id].append(alias)
    for version_id in {mv.pk for mv in versions if mv.stage == Stage.PRODUCTION}:
        out[version_id].extend(settings.REGISTRY_PROTECTED_ALIASES)
    return out


def version_json(mv: ModelVersion, aliases: list[str] | None = None) -> dict:
    return {
        "name": mv.registered_model.name,
        "version": str(mv.number),
        "creation_timestamp": ms(mv.created_at),
        "last_updated_timestamp": ms(max(mv.created_at, mv.stage_changed_at)),
        "user_id": mv.created_by.get_username() if mv.created_by_id else "",
        "current_stage": STAGE_TO_MLFLOW[mv.stage],
        "description": mv.description,
        "source": mv.artifact_uri,
        "run_id": mv.source_run,
        "run_link": "",
        "status": "READY",
        "tags": _tags(mv.tags, {"registry.semver": mv.version, "registry.stage": mv.stage}),
        "aliases": sorted(aliases or []),
    }


def versions_json(versions: list[ModelVersion]) -> list[dict]:
    aliases = aliases_by_version(versions)
    return [version_json(mv, aliases.get(mv.pk)) for mv in versions]


def latest_versions(model_ids: list[int], stages: list[str] | None = None) -> dict[int, list]:
    """For each model, its highest-numbered version in each MLflow stage (or in `stages`)."""
    wanted = stages or MLFLOW_STAGES
    if not model_ids:
        return {}
    best: dict[tuple[int, str], int] = {}
    for model_id, *tops in _top_numbers(model_ids):
        for stage, top in zip(Stage.values, tops, strict=True):
            key = (model_id, STAGE_TO_MLFLOW[stage])
            if top is not None and key[1] in wanted:
                best[key] = max(best.get(key, 0), top)
    out: dict[int, list] = defaultdict(list)
    if not best:
        return out
    pairs = sorted(set(best.items()))
    found = {
        (mv.registered_model_id, mv.number): mv
        for mv in _versions_by_pairs([(model_id, number) for (model_id, _stage), number in pairs])
    }
    for (model_id, _stage), number in sorted(
        best.items(), key=lambda item: MLFLOW_STAGES.index(item[0][1])
    ):
        out[model_id].append(found[(model_id, number)])
    return out


def models_json(models: list[RegisteredModel]) -> list[dict]:
    ids = [m.pk for m in models]
    latest = latest_versions(ids)
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
            if mv.stage == Stage.PRODUCTION:
                version_aliases[mv.pk].extend(settings.REGISTRY_PROTECTED_ALIASES)
                model_aliases[model_id].extend(
                    {"alias": alias, "version": str(mv.number)}
                    for alias in settings.REGISTRY_PROTECTED_ALIASES
                )
                model_aliases[model_id].sort(key=lambda item: item["alias"])
    return [
        _model_json(
            m,
            [version_json(mv, version_aliases.get(mv.pk)) for mv in latest.get(m.pk, [])],
            model_aliases.get(m.pk, []),
        )
        for m in models
    ]


def _model_json(m: RegisteredModel, latest_versions: list[dict], aliases: list[dict]) -> dict:
    return {
        "name": m.name,
        "creation_timestamp": ms(m.created_at),
        "last_updated_timestamp": ms(max(m.created_at, m.updated_at)),
        "user_id": m.created_by.get_username() if m.created_by_id else "",
        "description": m.description,
        "latest_versions": latest_versions,
        "tags": _tags(m.tags, {"registry.team": m.team.slug}),
        "aliases": aliases,
    }


def model_json(model: RegisteredModel) -> dict:
    return models_json([model])[0]


def new_model_json(model: RegisteredModel) -> dict:
    """A model just created, as the service returned it: it has no versions or aliases yet."""
    return _model_json(model, [], [])


def new_version_json(mv: ModelVersion) -> dict:
    """A version just registered, as the service returned it: it has no aliases yet."""
    return version_json(mv, [])
