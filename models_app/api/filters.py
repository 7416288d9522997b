"""Query-string filters of the list endpoints, each refusing bad values with a 400.

Filters narrow querysets that come from models_app.selectors; they add WHERE clauses
only, so a list costs the same number of queries however many rows match.
"""

from __future__ import annotations

import datetime as dt
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from models_app.enums import Stage
from models_app.json_keys import JSONKeyText
from models_app.models import ModelVersion, RegisteredModel
from models_app.validators import validate_plain_text

SEARCH_MAX = 200
DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _one(params, key: str) -> str | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    try:
        validate_plain_text(value, field=key, max_length=SEARCH_MAX, multiline=False)
    except ValidationError as exc:
        raise ValidationError({key: exc.messages}) from exc
    return value


def one_param(params, key: str) -> str | None:
    """One plain-text query parameter, None when absent or empty; 400 on control characters."""
    return _one(params, key)


def stage_param(params) -> str | None:
    stage = _one(params, "stage")
    if stage is not None and stage not in Stage.values:
        raise ValidationError({"stage": [f"stage must be one of: {', '.join(Stage.values)}."]})
    return stage


def filter_models(qs: QuerySet[RegisteredModel], params) -> QuerySet[RegisteredModel]:
    """?search= (name or description), ?team=<slug>, ?origin=<registry id>|local,
    ?tag=key:value (repeatable),
    ?stage=<stage> (models with at least one version in that stage)."""
    search = _one(params, "search")
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(description__icontains=search))
    team = _one(params, "team")
    if team:
        qs = qs.filter(team__slug=team)
    origin = _one(params, "origin")
    if origin:
        # "local" (or this registry's own id) means the entries this registry owns.
        qs = qs.filter(origin="" if origin in ("local", settings.REGISTRY_ID) else origin)
    for i, tag in enumerate(params.getlist("tag")):
        validate = {"tag": tag}
        _one(validate, "tag")
        key, sep, value = tag.partition(":")
        if not sep or not key:
            raise ValidationError({"tag": ["A tag filter is key:value, e.g. tag=owner:fraud."]})
        # JSONKeyText passes the key as a parameter, so a key like "a__b" stays a key, and
        # compares plain text (the JSON lookups would parse the value as JSON, which SQLite
        # refuses for a bare word).
        alias = f"_tag_{i}"
        qs = qs.alias(**{alias: JSONKeyText("tags", key)}).filter(**{alias: value})
    stage = stage_param(params)
    if stage:
        qs = qs.filter(
            Exists(ModelVersion.objects.filter(registered_model=OuterRef("pk"), stage=stage))
        )
    return qs


def filter_versions(qs: QuerySet[ModelVersion], params) -> QuerySet[ModelVersion]:
    """?stage=<stage>."""
    stage = stage_param(params)
    if stage:
        qs = qs.filter(stage=stage)
    return qs


def _moment(params, key: str, *, end: bool) -> dt.datetime | None:
    text = _one(params, key)
    if text is None:
        return None
    try:
        day = parse_date(text) if DATE_ONLY.fullmatch(text) else None
        if day is not None:
            # A bare date means the whole day: since its start, until its end.
            moment = dt.datetime.combine(day + dt.timedelta(days=1 if end else 0), dt.time())
        else:
            moment = parse_datetime(text)
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        raise ValidationError(
            {key: [f"{key} must be an ISO 8601 date or date-time, e.g. 2026-01-31T12:00:00Z."]}
        )
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, dt.UTC)
    return moment


def audit_params(params) -> dict:
    """The keyword arguments of selectors.audit_events from ?model, actor, action, since,
    until."""
    return {
        "model_name": _one(params, "model"),
        "actor": _one(params, "actor"),
        "action": _one(params, "action"),
        "since": _moment(params, "since", end=False),
        "until": _moment(params, "until", end=True),
    }
