"""MLflow's model-registry REST API 2.0, answered by the registry's own services.

One view takes every path under `api/2.0/mlflow/` (and `ajax-api/2.0/mlflow/`), finds the
handler for the path and method, authenticates the caller, reads the parameters the way
MLflow's server does (JSON body for POST, PATCH and DELETE; query string, with repeated
keys for lists, for GET), and answers in MLflow's JSON shapes and error format. Handlers
only translate: every write goes through models_app / approvals_app services or
mlflow_app.services, so the same permissions, guards and audit records apply as in every
other door.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from models_app import selectors as core_selectors
from models_app import services as core
from models_app.api.common import MAX_JSON_DEPTH
from models_app.errors import REFUSALS, answer_for
from models_app.exceptions import (
    Conflict,
    GuardsFailed,
    InvalidTransition,
    Kind,
    NotOwnedHere,
)
from models_app.models import ModelVersion, RegisteredModel
from models_app.permissions import require_permission

from . import search, wire
from . import services as door
from .auth import Unauthenticated, authenticate_request
from .models import ModelAlias

logger = logging.getLogger(__name__)

DEFAULT_REASON = "transition-stage via MLflow API"
# The permission of a stage change to the stage a version already shows (a no-op).
NO_CHANGE_PERMISSIONS = {"Production": "version.promote", "Archived": "version.archive"}
MODELS_PAGE_DEFAULT, MODELS_PAGE_MAX = 100, 1000
VERSIONS_PAGE_DEFAULT, VERSIONS_PAGE_MAX = 10_000, 200_000

# MLflow's error code for each kind of refusal (models_app.errors gives the kind and the
# status). MLflow's own server sends INVALID_STATE as 500, which its client retries for
# minutes; a refusal is final, so it goes out with the refusal's status (409).
MLFLOW_CODES = {
    Kind.INVALID: "INVALID_PARAMETER_VALUE",
    Kind.PERMISSION_DENIED: "PERMISSION_DENIED",
    Kind.NOT_FOUND: "RESOURCE_DOES_NOT_EXIST",
    Kind.CONFLICT: "INVALID_STATE",
}

# Field names of our validation errors, as MLflow clients know them.
FIELD_NAMES = {
    "artifact_uri": "source",
    "source_run": "run_id",
    "version": "semver tag",
    "name": "name",
}


def _nested_deeper_than(data, limit: int) -> bool:
    """Whether a parsed JSON value nests lists and objects more than `limit` deep
    (iterative, so the check itself cannot exhaust the stack)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)
    return False


class MlflowError(Exception):
    """An answer in MLflow's error format: {"error_code": …, "message": …}."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def invalid(message: str) -> MlflowError:
    return MlflowError("INVALID_PARAMETER_VALUE", message, 400)


def error_response(code: str, message: str, status: int) -> JsonResponse:
    response = JsonResponse({"error_code": code, "message": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Basic realm="model registry", Bearer'
    return response


# --- Reading parameters ------------------------------------------------------------------------


class Params:
    """A request's parameters, typed as MLflow's request messages type them."""

    def __init__(self, request: HttpRequest) -> None:
        self.data: dict = {}
        self.lists: dict[str, list] = {}
        if request.method == "GET":
            for key in request.GET:
                values = request.GET.getlist(key)
                self.data[key] = values[-1]
                self.lists[key] = values
            return
        try:
            body = request.body
        except RequestDataTooBig as exc:
            raise MlflowError(
                "INVALID_PARAMETER_VALUE", "The request body is too large.", 413
            ) from exc
        if not body.strip():
            return
        try:
            data = json.loads(body)
        except RecursionError as exc:
            raise invalid("The JSON body is nested too deeply.") from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise invalid(f"The request body is not valid JSON: {exc}") from exc
        # How deep json.loads goes before RecursionError depends on the Python version
        # (3.13 parses 5,000 levels): the limit is ours, the same as the REST API's.
        if _nested_deeper_than(data, MAX_JSON_DEPTH):
            raise invalid("The JSON body is nested too deeply.")
        if not isinstance(data, dict):
            raise invalid("The request body must be a JSON object.")
        self.data = data

    def _missing(self, name: str) -> MlflowError:
        return invalid(
            f"Missing value for required parameter '{name}'. See the API docs for more "
            "information about request parameters."
        )

    def str(self, name: str, *, required: bool = False, default: str | None = None):
        value = self.data.get(name)
        if value is None or (required and value == ""):
            if required:
                raise self._missing(name)
            return default
        if not isinstance(value, str):
            raise invalid(
                f"Invalid value {json.dumps(value)[:80]} for parameter '{name}' supplied: "
                "it must be a string."
            )
        if "\x00" in value:
            raise invalid(f"Parameter '{name}' contains a NUL character.")
        return value

    def int(self, name: str, *, default: int) -> int:
        value = self.data.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise invalid(f"Parameter '{name}' must be an integer.")
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise invalid(f"Parameter '{name}' must be an integer, got '{value}'.") from exc

    def bool(self, name: str) -> bool:
        value = self.data.get(name)
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise invalid(f"Invalid boolean value: {value}, must be 'true' or 'false'.")

    def list(self, name: str) -> list[str]:
        value = self.lists.get(name, self.data.get(name))
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid(f"Parameter '{name}' must be a list of strings.")
        return value

    def tags(self) -> dict[str, str]:
        value = self.data.get("tags")
        if value is None:
            return {}
        if not isinstance(value, list):
            raise invalid("Parameter 'tags' must be a list of {key, value} objects.")
        out = {}
        for item in value:
            if not isinstance(item, dict) or not isinstance(item.get("key"), str):
                raise invalid("Each tag must be an object with a string 'key'.")
            tag_value = item.get("value", "")
            if not isinstance(tag_value, str):
                raise invalid(f"Tag '{item['key']}' must have a string value.")
            out[item["key"]] = tag_value
        return out

    def version(self) -> int:
        value = self.str("version", required=True)
        try:
            return int(value)
        except ValueError as exc:
            raise invalid(f"Parameter 'version' must be an integer, got '{value}'.") from exc


# --- Lookups -----------------------------------------------------------------------------------


def find_model(name: str) -> RegisteredModel:
    model = wire.model_by_name(name)
    if model is None:
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST", f"Registered Model with name={name} not found", 404
        )
    return model


def find_version(name: str, number: int) -> ModelVersion:
    mv = wire.version_by_number(name, number)
    if mv is None:
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST",
            f"Model Version (name={name}, version={number}) not found",
            404,
        )
    return mv


def fresh_version(mv: ModelVersion) -> dict:
    return wire.version_json_fresh(mv)


def _fresh_model(model: RegisteredModel) -> dict:
    return wire.model_json(model)


# --- Registered models ---------------------------------------------------------------------------


def create_registered_model(request, actor, p: Params):
    name = p.str("name", required=True)
    try:
        model = door.registered_model_create(
            actor=actor,
            name=name,
            description=p.str("description", default="") or "",
            tags=p.tags(),
        )
    except NotOwnedHere:
        raise  # the name of a mirrored model: INVALID_STATE, naming its registry first
    except Conflict as exc:
        raise MlflowError("RESOURCE_ALREADY_EXISTS", _already_exists(name, exc), 400) from exc
    return {"registered_model": wire.new_model_json(model)}


def _already_exists(name: str, exc: Conflict) -> str:
    if "deleted through the MLflow API" in exc.message:
        return exc.message
    return f"Registered Model (name={name}) already exists."


def get_registered_model(request, actor, p: Params):
    return {"registered_model": wire.model_json(find_model(p.str("name", required=True)))}


def rename_registered_model(request, actor, p: Params):
    model = find_model(p.str("name", required=True))
    new_name = p.str("new_name", required=True)
    try:
        model = core.registered_model_rename(actor=actor, model=model, new_name=new_name)
    except Conflict as exc:
        if exc.details is not None:
            # A model that was in production, or a model or name owned by another registry:
            # a refusal of the rename itself (INVALID_STATE, 409), not a name clash.
            raise
        raise MlflowError(
            "RESOURCE_ALREADY_EXISTS", f"Registered Model (name={new_name}) already exists.", 400
        ) from exc
    return {"registered_model": _fresh_model(model)}


def update_registered_model(request, actor, p: Params):
    model = find_model(p.str("name", required=True))
    model = core.registered_model_update(actor=actor, model=model, description=p.str("description"))
    return {"registered_model": _fresh_model(model)}


def delete_registered_model(request, actor, p: Params):
    model = find_model(p.str("name", required=True))
    door.registered_model_delete(actor=actor, model=model)
    return {}


def _max_results(p: Params, *, default: int, most: int) -> int:
    """The page size a search asked for: from 1 to `most`, refused in MLflow's words."""
    limit = p.int("max_results", default=default)
    if not 1 <= limit <= most:
        raise invalid(
            "Invalid value for request parameter max_results. It must be at most "
            f"{most}, but got value {limit}"
        )
    return limit


def _search_page(key: str, rows: list, next_token: str | None) -> dict:
    """A search's answer: the page's rows and, unless it is the last page, the next token."""
    body: dict = {key: rows}
    if next_token:
        body["next_page_token"] = next_token
    return body


def search_registered_models(request, actor, p: Params):
    limit = _max_results(p, default=MODELS_PAGE_DEFAULT, most=MODELS_PAGE_MAX)
    rows, next_token = search.find_models(
        p.str("filter"), p.list("order_by"), p.str("page_token"), limit
    )
    return _search_page("registered_models", wire.models_json(rows), next_token)


def _stages(p: Params) -> list[str]:
    stages = []
    for text in p.list("stages"):
        stage = wire.canonical_stage(text)
        if stage is None:
            raise invalid(
                f"Invalid Model Version stage: {text}. Value must be one of "
                f"{', '.join(wire.MLFLOW_STAGES)}."
            )
        stages.append(stage)
    return stages


def get_latest_versions(request, actor, p: Params):
    model = find_model(p.str("name", required=True))
    latest = wire.latest_versions([model.pk], _stages(p) or None).get(model.pk, [])
    return {"model_versions": wire.versions_json(latest)}


def set_registered_model_tag(request, actor, p: Params):
    model = find_model(p.str("name", required=True))
    key = p.str("key", required=True)
    door.registered_model_tag_set(
        actor=actor, model=model, key=key, value=p.str("value", default="")
    )
    return {}


def delete_registered_model_tag(request, actor, p: Params):
    model = find_model(p.str("name", required=True))
    door.registered_model_tag_delete(actor=actor, model=model, key=p.str("key", required=True))
    return {}


def set_alias(request, actor, p: Params):
    name = p.str("name", required=True)
    alias = p.str("alias", required=True)
    door.validate_alias(alias, setting=True)
    mv = find_version(name, p.version())
    try:
        door.alias_set(actor=actor, version=mv, alias=alias, reason=p.str("reason"))
    except (GuardsFailed, InvalidTransition) as exc:
        # Setting a protected alias is a promotion: say so, with the guards' reasons.
        raise MlflowError(
            "INVALID_STATE",
            f"Setting the protected alias '{alias}' of {name} promotes version {mv.number}, "
            f"and the promotion was refused. {exc.message}",
            409,
        ) from exc
    return {}


def delete_alias(request, actor, p: Params):
    model = find_model(p.str("name", required=True))
    door.alias_delete(actor=actor, model=model, alias=p.str("alias", required=True))
    return {}


def get_by_alias(request, actor, p: Params):
    model = find_model(p.str("name", required=True))
    alias = p.str("alias", required=True)
    door.validate_alias(alias, setting=False)
    if alias.lower() == "latest":
        mv = wire.visible_versions().filter(registered_model=model).order_by("-number").first()
        if mv is None:
            raise MlflowError(
                "RESOURCE_DOES_NOT_EXIST", f"Latest version not found for model {model.name}.", 404
            )
        return {"model_version": fresh_version(mv)}
    if door.is_protected(alias):
        production = core_selectors.production_version(model=model)
        if production is None:
            raise invalid(
                f"Registered model alias {alias} not found: it is protected and names the "
                f"version in production, and {model.name} has none."
            )
        return {"model_version": fresh_version(production)}
    row = ModelAlias.objects.filter(registered_model=model, alias=alias).first()
    if row is None:
        # MLflow's own server answers INVALID_PARAMETER_VALUE here; clients rely on it.
        raise invalid(f"Registered model alias {alias} not found.")
    return {"model_version": fresh_version(row.model_version)}


# --- Model versions --------------------------------------------------------------------------


def create_model_version(request, actor, p: Params):
    name = p.str("name", required=True)
    source = p.str("source", required=True)
    model = find_model(name)
    if ":" not in source.split("/", 1)[0]:
        raise invalid(
            f"Invalid model version source '{source[:200]}': a local path. This registry "
            "stores where a model lives, not the model: log it to an artifact store the "
            "registry allows (s3://, gs://, https://, runs:/, models:/, mlflow-artifacts:/) "
            "and register that URI."
        )
    try:
        mv = door.model_version_create(
            actor=actor,
            model=model,
            source=source,
            run_id=p.str("run_id", default="") or "",
            description=p.str("description", default="") or "",
            tags=p.tags(),
        )
    except NotOwnedHere:
        raise  # a mirrored model: INVALID_STATE, naming its registry first
    except Conflict as exc:
        raise MlflowError("RESOURCE_ALREADY_EXISTS", exc.message, 400) from exc
    return {"model_version": wire.new_version_json(mv)}


def get_model_version(request, actor, p: Params):
    mv = find_version(p.str("name", required=True), p.version())
    return {"model_version": wire.versions_json([wire.version_row(mv)])[0]}


def update_model_version(request, actor, p: Params):
    mv = find_version(p.str("name", required=True), p.version())
    mv = core.model_version_update(actor=actor, version=mv, description=p.str("description"))
    return {"model_version": fresh_version(mv)}


def delete_model_version(request, actor, p: Params):
    mv = find_version(p.str("name", required=True), p.version())
    door.model_version_delete(actor=actor, version=mv)
    return {}


def search_model_versions(request, actor, p: Params):
    limit = _max_results(p, default=VERSIONS_PAGE_DEFAULT, most=VERSIONS_PAGE_MAX)
    rows, next_token = search.find_versions(
        p.str("filter"), p.list("order_by"), p.str("page_token"), limit
    )
    return _search_page("model_versions", wire.versions_json(rows), next_token)


def get_download_uri(request, actor, p: Params):
    mv = find_version(p.str("name", required=True), p.version())
    return {"artifact_uri": mv.artifact_uri}


def transition_stage(request, actor, p: Params):
    """Map MLflow's stage change onto our lifecycle, with every guard applied.

    Production → promote (its guards; the old production version is archived, which is
    what `archive_existing_versions` asks for anyway); Archived → archive; a change to the
    stage the version already shows changes nothing. Our lifecycle has no way back to
    Staging and no "None" stage, so those are refused with the reason.
    """
    mv = find_version(p.str("name", required=True), p.version())
    text = p.str("stage", required=True)
    target = wire.canonical_stage(text)
    if target is None:
        raise invalid(
            f"Invalid Model Version stage: {text}. Value must be one of "
            f"{', '.join(wire.MLFLOW_STAGES)}."
        )
    p.bool("archive_existing_versions")
    reason = p.str("reason") or p.str("comment") or DEFAULT_REASON
    current = wire.STAGE_TO_MLFLOW[mv.stage]
    if target == current:
        # Nothing to change, but only for a user who could have made the change: as the
        # services do, the permission comes before anything the stage would tell.
        if target in NO_CHANGE_PERMISSIONS:
            require_permission(actor, NO_CHANGE_PERMISSIONS[target], mv)
        return {"model_version": fresh_version(mv)}
    if target == "Production":
        mv = core.model_version_promote(actor=actor, version=mv, reason=reason)
    elif target == "Archived":
        mv = core.model_version_archive(actor=actor, version=mv, reason=reason)
    elif target == "Staging":
        raise MlflowError(
            "INVALID_STATE",
            f"Cannot move {mv.registered_model.name} version {mv.number} back to Staging: "
            f"it is in stage '{mv.stage}'. In this registry versions start in Staging and "
            "never return to it; register a new version instead.",
            409,
        )
    else:
        raise MlflowError(
            "INVALID_STATE",
            f"Cannot move {mv.registered_model.name} version {mv.number} to stage None: this "
            "registry has no such stage. New versions start in Staging; use Archived to take "
            "a version out of service.",
            409,
        )
    return {"model_version": fresh_version(mv)}


def set_model_version_tag(request, actor, p: Params):
    mv = find_version(p.str("name", required=True), p.version())
    key = p.str("key", required=True)
    door.model_version_tag_set(actor=actor, version=mv, key=key, value=p.str("value", default=""))
    return {}


def delete_model_version_tag(request, actor, p: Params):
    mv = find_version(p.str("name", required=True), p.version())
    door.model_version_tag_delete(actor=actor, version=mv, key=p.str("key", required=True))
    return {}


Handler = Callable[[HttpRequest, object, Params], dict]

ROUTES: dict[str, dict[str, Handler]] = {
    "registered-models/create": {"POST": create_registered_model},
    "registered-models/get": {"GET": get_registered_model},
    "registered-models/rename": {"POST": rename_registered_model},
    "registered-models/update": {"PATCH": update_registered_model},
    "registered-models/delete": {"DELETE": delete_registered_model},
    "registered-models/search": {"GET": search_registered_models},
    "registered-models/get-latest-versions": {
        "POST": get_latest_versions,
        "GET": get_latest_versions,
    },
    "registered-models/set-tag": {"POST": set_registered_model_tag},
    "registered-models/delete-tag": {"DELETE": delete_registered_model_tag},
    "registered-models/alias": {"POST": set_alias, "DELETE": delete_alias, "GET": get_by_alias},
    "model-versions/create": {"POST": create_model_version},
    "model-versions/get": {"GET": get_model_version},
    "model-versions/update": {"PATCH": update_model_version},
    "model-versions/delete": {"DELETE": delete_model_version},
    "model-versions/search": {"GET": search_model_versions},
    "model-versions/get-download-uri": {"GET": get_download_uri},
    "model-versions/transition-stage": {"POST": transition_stage},
    "model-versions/set-tag": {"POST": set_model_version_tag},
    "model-versions/delete-tag": {"DELETE": delete_model_version_tag},
}


def refusal_response(exc: Exception) -> JsonResponse | None:
    """A refusal (models_app.errors) in MLflow's error format, or None for any other error."""
    answer = answer_for(exc)
    if answer is None:
        return None
    return error_response(MLFLOW_CODES[answer.kind], answer.summary(FIELD_NAMES), answer.status)


@csrf_exempt
def endpoint(request: HttpRequest, path: str) -> JsonResponse:
    """Dispatch one MLflow REST call; every answer is JSON, in MLflow's format."""
    methods = ROUTES.get(path.strip("/"))
    if methods is None:
        return error_response(
            "ENDPOINT_NOT_FOUND",
            f"No MLflow endpoint '{request.path}' here: this registry answers the model "
            "registry API (registered-models/…, model-versions/…).",
            404,
        )
    handler = methods.get(request.method or "")
    if handler is None:
        response = error_response(
            "ENDPOINT_NOT_FOUND",
            f"{request.method} is not allowed on {request.path}; use {', '.join(methods)}.",
            405,
        )
        response["Allow"] = ", ".join(methods)
        return response
    try:
        actor = authenticate_request(request)
        body = handler(request, actor, Params(request))
    except Unauthenticated as exc:
        return error_response("UNAUTHENTICATED", str(exc), 401)
    except MlflowError as exc:
        return error_response(exc.code, exc.message, exc.status)
    except REFUSALS as exc:
        # Every refusal of the services, with the status and kind every door gives it;
        # search.SearchError is a ValidationError (INVALID_PARAMETER_VALUE, 400).
        return refusal_response(exc)
    except Exception:
        # A bug, not bad input: logged with its traceback, answered in MLflow's format.
        logger.exception("MLflow endpoint %s failed", request.path)
        return error_response("INTERNAL_ERROR", "Internal error; see the server log.", 500)
    return JsonResponse(body)
