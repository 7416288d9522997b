"""The models door of the REST API: models, versions, transitions, artifacts,
policies, the audit trail and tokens.

Views only translate: they read through models_app.selectors, write through
models_app.services, and let models_app.api.common.api_exception_handler turn every error
into the one error shape. Models are addressed by name, versions by their SemVer string
or, when the path segment is all digits, by their number (a bare "3" is never valid
SemVer, so the two cannot be confused).
"""

from __future__ import annotations

import functools
import hashlib
import re

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.utils.module_loading import import_string
from django_fsm import can_proceed
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from knox.models import AuthToken
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from models_app import accounts, selectors, services, storage
from models_app.cache import production_answer
from models_app.enums import Stage
from models_app.exceptions import Conflict, NotFound
from models_app.mirrors import mirror_reader
from models_app.models import ModelVersion, RegisteredModel, Team
from models_app.permissions import require_permission
from models_app.validators import validate_sha256

from . import filters
from .common import (
    ErrorSerializer,
    LengthRequired,
    RegistryPagination,
    RequestTooLarge,
    error_response,
)
from .serializers import (
    AuditEventOutput,
    ChecksOutput,
    ModelCreateInput,
    ModelOutput,
    ModelRenameInput,
    ModelUpdateInput,
    PolicyInput,
    PolicyOutput,
    ProductionOutput,
    ReasonInput,
    RollbackInput,
    RollbackOutput,
    TokenInput,
    TokenOutput,
    VersionOutput,
    VersionRegisterInput,
    VersionUpdateInput,
)

_NUMBER = re.compile(r"[0-9]{1,18}")

ERROR_TEXT = {
    400: "Invalid input; `details` maps each field to its messages.",
    401: "Not authenticated (no or bad token / session).",
    403: "Authenticated, but the role or team does not allow this.",
    404: "No such model, version or resource.",
    409: "Conflict: duplicate, invalid transition, or failed guards (each with its reason).",
    411: "Content-Length is required.",
    413: "The body is larger than the limit.",
    415: "Wrong Content-Type.",
    429: "Too many requests; retry after `details.retry_after` seconds.",
}


def errors(*codes: int) -> dict:
    """Schema entries for the error answers an operation can give (all the same shape)."""
    return {
        code: OpenApiResponse(ErrorSerializer, description=ERROR_TEXT[code])
        for code in (401, *codes)
    }


NAME = OpenApiParameter("name", OpenApiTypes.STR, OpenApiParameter.PATH, description="Model name.")
VERSION = OpenApiParameter(
    "version",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="SemVer string (URL-encode '+' as %2B if your client mangles it), or the "
    "version's number when all digits.",
)


@functools.cache
def paginated(serializer_class) -> type:
    """The schema of a paginated list of `serializer_class` (RegistryPagination's shape)."""
    name = serializer_class.__name__.removesuffix("Output")
    return inline_serializer(
        name=f"Paginated{name}List",
        fields={
            "next": serializers.URLField(
                allow_null=True, help_text="The next page (a `cursor` link); null on the last."
            ),
            "previous": serializers.URLField(
                allow_null=True, help_text="The page before; null on the first."
            ),
            "results": serializer_class(many=True),
        },
    )


def page_params(*extra: OpenApiParameter) -> list[OpenApiParameter]:
    return [
        OpenApiParameter(
            "cursor",
            OpenApiTypes.STR,
            description="Opaque position from a `next` or `previous` link; omit for the "
            "first page. 400 `invalid_cursor` when it is not one.",
        ),
        OpenApiParameter("page_size", OpenApiTypes.INT, description="Rows per page (≤ 200)."),
        *extra,
    ]


STAGE_PARAM = OpenApiParameter("stage", OpenApiTypes.STR, enum=Stage.values)


def model_or_404(name: str) -> RegisteredModel:
    if "\x00" in name:  # no name holds NUL, and PostgreSQL refuses it even in a query
        raise NotFound("No model with that name.")
    try:
        return selectors.model_get(name=name)
    except RegisteredModel.DoesNotExist:
        raise NotFound(f"No model named '{name[:100]}'.") from None


def version_or_404(model: RegisteredModel, segment: str) -> ModelVersion:
    if "\x00" in segment:
        raise NotFound(f"{model.name} has no such version.")
    if _NUMBER.fullmatch(segment):
        found = selectors.version_by_number(model=model, number=int(segment))
    else:
        try:
            found = selectors.version_get(model=model, version=segment)
        except ModelVersion.DoesNotExist:
            found = None
    if found is None:
        raise NotFound(f"{model.name} has no version '{segment[:100]}'.")
    return found


# The keyset orderings of the lists: each ends with a unique field, so it is total.
MODEL_ORDER = ("name",)
VERSION_ORDER = ("-precedence", "-id")
AUDIT_ORDER = ("-created_at", "-id")


def paginate(view: APIView, request, queryset, serializer_class, ordering, each=None) -> Response:
    """One keyset page of `queryset` in `ordering`; `each(rows)` may decorate the page's
    rows (a query for the page, never for the table) before they are serialized."""
    paginator = RegistryPagination(ordering)
    page = paginator.paginate_queryset(queryset, request, view=view)
    if each is not None:
        each(page)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


def with_production(qs):
    """Prefetch each model's production version in one extra query for the whole page."""
    return qs.prefetch_related(
        Prefetch(
            "versions",
            queryset=ModelVersion.objects.filter(stage=Stage.PRODUCTION),
            to_attr="production_versions",
        )
    )


def model_output(name: str) -> dict:
    if "\x00" in name:
        raise NotFound("No model with that name.")
    model = selectors.model_by_name(name=name)
    if model is None:
        raise NotFound(f"No model named '{name[:100]}'.")
    production = selectors.production_version(model=model)
    model.production_versions = [production] if production is not None else []
    return ModelOutput(model).data


# --- Models -------------------------------------------------------------------------------


class ModelListView(APIView):
    """List registered models (search, filters, pagination) or create one."""

    @extend_schema(
        operation_id="models_list",
        parameters=page_params(
            OpenApiParameter("search", OpenApiTypes.STR, description="In name or description."),
            OpenApiParameter("team", OpenApiTypes.STR, description="Team slug."),
            OpenApiParameter(
                "origin",
                OpenApiTypes.STR,
                description='Registry id of mirrored entries; "local" for own ones.',
            ),
            OpenApiParameter(
                "tag", OpenApiTypes.STR, many=True, description="key:value; repeat to AND."
            ),
            OpenApiParameter(
                "stage",
                OpenApiTypes.STR,
                enum=Stage.values,
                description="Models with a version in this stage.",
            ),
        ),
        responses={200: paginated(ModelOutput), **errors(400, 404)},
    )
    def get(self, request):
        qs = filters.filter_models(with_production(selectors.model_list()), request.query_params)
        return paginate(self, request, qs, ModelOutput, MODEL_ORDER)

    @extend_schema(
        operation_id="models_create",
        request=ModelCreateInput,
        responses={201: ModelOutput, **errors(400, 403, 404, 409)},
    )
    def post(self, request):
        data = ModelCreateInput.validated(request.data)
        team = team_or_400(data["team"])
        model = services.registered_model_create(
            actor=request.user,
            name=data["name"],
            team=team,
            description=data["description"],
            tags=data["tags"],
        )
        return Response(model_output(model.name), status=status.HTTP_201_CREATED)


def team_or_400(slug: str) -> Team:
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise exceptions.ValidationError({"team": [f"No team with slug '{slug[:50]}'."]})
    return team


class ModelDetailView(APIView):
    """One model with its production version; PATCH edits description and tags."""

    @extend_schema(
        operation_id="models_retrieve",
        parameters=[NAME],
        responses={200: ModelOutput, **errors(404)},
    )
    def get(self, request, name):
        return Response(model_output(name))

    @extend_schema(
        operation_id="models_update",
        parameters=[NAME],
        request=ModelUpdateInput,
        responses={200: ModelOutput, **errors(400, 403, 404)},
    )
    def patch(self, request, name):
        model = model_or_404(name)
        data = ModelUpdateInput.validated(request.data)
        services.registered_model_update(
            actor=request.user,
            model=model,
            description=data.get("description"),
            tags=data.get("tags"),
        )
        return Response(model_output(name))


class ModelRenameView(APIView):
    """Rename a model: admins only, and only a model that was never in production."""

    @extend_schema(
        operation_id="models_rename",
        parameters=[NAME],
        request=ModelRenameInput,
        responses={200: ModelOutput, **errors(400, 403, 404, 409)},
    )
    def post(self, request, name):
        model = model_or_404(name)
        data = ModelRenameInput.validated(request.data)
        try:
            model = services.registered_model_rename(
                actor=request.user, model=model, new_name=data["new_name"]
            )
        except DjangoValidationError as exc:
            # The service names the field "name"; this endpoint's field is "new_name".
            raise exceptions.ValidationError({"new_name": exc.messages}) from exc
        return Response(model_output(model.name))


class ProductionView(APIView):
    """The version in production, for serving systems to poll (ETag, 304, ≤ 3 queries)."""

    @extend_schema(
        operation_id="models_production",
        parameters=[
            NAME,
            OpenApiParameter(
                "If-None-Match",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="The ETag of an earlier answer; 304 when unchanged.",
            ),
        ],
        responses={
            200: OpenApiResponse(ProductionOutput, description="The production version."),
            304: OpenApiResponse(description="Unchanged since the given ETag."),
            **errors(404),
        },
    )
    def get(self, request, name):
        answer = production_answer(name, lambda: production_lookup(name))
        tag = answer["etag"]
        headers = {"ETag": tag, "Cache-Control": "no-cache"}
        if etag_matches(request.headers.get("If-None-Match", ""), tag):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        return Response(answer["data"], headers=headers)


def production_lookup(name: str) -> dict:
    """The production answer of a model from the database (cached by production_answer,
    which every change to the model drops); a missing model or production version is 404."""
    model = model_or_404(name)
    mv = selectors.production_version(model=model)
    if mv is None:
        raise NotFound(f"{model.name} has no version in production.")
    return {"etag": production_etag(mv), "data": dict(ProductionOutput(mv).data)}


def production_etag(mv: ModelVersion) -> str:
    """A strong ETag that changes whenever the answer would: another version, a new stage
    change, or an artifact recorded later."""
    basis = f"{mv.pk}:{mv.stage_changed_at.isoformat()}:{mv.artifact_sha256}:{mv.artifact_uri}"
    return '"' + hashlib.sha256(basis.encode()).hexdigest()[:32] + '"'


def etag_matches(header: str, tag: str) -> bool:
    # If-None-Match uses the weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
    candidates = [t.strip().removeprefix("W/") for t in header.split(",") if t.strip()]
    return "*" in candidates or tag in candidates


# --- Versions -------------------------------------------------------------------------------


class VersionListView(APIView):
    """A model's versions by SemVer precedence, newest first; POST registers one."""

    @extend_schema(
        operation_id="versions_list",
        parameters=[NAME, *page_params(STAGE_PARAM)],
        responses={200: paginated(VersionOutput), **errors(400, 404)},
    )
    def get(self, request, name):
        model = model_or_404(name)
        # The model is known: the page's query joins only the authors. With the model's row
        # joined in, PostgreSQL may walk all of a big model's versions in order to find the
        # few in a rare stage instead of reading them from the (model, stage, …) index.
        qs = ModelVersion.objects.filter(registered_model=model).select_related("created_by")
        qs = filters.filter_versions(qs, request.query_params)

        def of_model(rows: list[ModelVersion]) -> None:
            for row in rows:
                row.registered_model = model

        return paginate(self, request, qs, VersionOutput, VERSION_ORDER, each=of_model)

    @extend_schema(
        operation_id="versions_register",
        parameters=[NAME],
        request=VersionRegisterInput,
        responses={201: VersionOutput, **errors(400, 403, 404, 409)},
    )
    def post(self, request, name):
        model = model_or_404(name)
        data = VersionRegisterInput.validated(request.data)
        mv = services.model_version_register(actor=request.user, model=model, **data)
        # The service's version already holds its model (with team) and author: no re-read.
        return Response(VersionOutput(mv).data, status=status.HTTP_201_CREATED)


class VersionDetailView(APIView):
    """One version; PATCH edits only its description and tags."""

    @extend_schema(
        operation_id="versions_retrieve",
        parameters=[NAME, VERSION],
        responses={200: VersionOutput, **errors(404)},
    )
    def get(self, request, name, version):
        return Response(VersionOutput(version_or_404(model_or_404(name), version)).data)

    @extend_schema(
        operation_id="versions_update",
        parameters=[NAME, VERSION],
        request=VersionUpdateInput,
        responses={200: VersionOutput, **errors(400, 403, 404)},
    )
    def patch(self, request, name, version):
        model = model_or_404(name)
        mv = version_or_404(model, version)
        data = VersionUpdateInput.validated(request.data)
        services.model_version_update(
            actor=request.user,
            version=mv,
            description=data.get("description"),
            tags=data.get("tags"),
        )
        return Response(VersionOutput(version_or_404(model, mv.version)).data)


class ChecksView(APIView):
    """The promotion dry run: every guard with pass/fail and its reason; changes nothing."""

    @extend_schema(
        operation_id="versions_checks",
        description="For a version mirrored from a team registry: the guards that registry "
        "checked when it promoted the version, with `source` naming that promotion; "
        "`ready` is false (it is promoted there, never here).",
        parameters=[NAME, VERSION],
        responses={200: ChecksOutput, **errors(404)},
    )
    def get(self, request, name, version):
        mv = version_or_404(model_or_404(name), version)
        answer = {"model": mv.registered_model.name, "version": mv.version, "stage": mv.stage}
        reader = mirror_reader(mv)
        if reader is not None:
            # Promoted (or not) at its origin: the checks that origin recorded, never a
            # dry run against this registry's policy, which does not apply to it.
            recorded = reader.checks(mv)
            answer |= {
                "ready": False,
                "checks": [r.as_dict() for r in recorded.results],
                "source": {
                    "origin": recorded.origin,
                    "event_id": recorded.event_id,
                    "recorded_at": recorded.recorded_at,
                    "recorded_by": recorded.recorded_by,
                    "reason": recorded.reason,
                },
            }
        else:
            results = selectors.promotion_checks(version=mv)
            answer |= {
                "ready": can_proceed(mv.promote) and all(r.passed for r in results),
                "checks": [r.as_dict() for r in results],
                "source": None,
            }
        return Response(ChecksOutput(answer).data)


class _TransitionView(APIView):
    """POST {"reason"}: one lifecycle transition through its service."""

    service = None

    def post(self, request, name, version):
        model = model_or_404(name)
        mv = version_or_404(model, version)
        data = ReasonInput.validated(request.data)
        type(self).service(actor=request.user, version=mv, reason=data["reason"])
        return Response(VersionOutput(version_or_404(model, mv.version)).data)


def _transition_schema(operation_id: str, what: str):
    return extend_schema(
        operation_id=operation_id,
        description=what,
        parameters=[NAME, VERSION],
        request=ReasonInput,
        responses={200: VersionOutput, **errors(400, 403, 404, 409)},
        examples=[
            OpenApiExample(
                "guards failed",
                response_only=True,
                status_codes=["409"],
                value={
                    "error": {
                        "code": "guards_failed",
                        "message": "Promotion refused: accuracy 0.87 < required 0.9",
                        "details": [
                            {
                                "guard": "threshold:accuracy",
                                "passed": False,
                                "reason": "accuracy 0.87 < required 0.9",
                            }
                        ],
                    }
                },
            )
        ],
    )


class PromoteView(_TransitionView):
    """Promote a staging version; 409 with every guard result when a guard fails."""

    service = staticmethod(services.model_version_promote)

    @_transition_schema(
        "versions_promote",
        "Staging → production once every guard passes; the previous production version "
        "is archived. 409 `guards_failed` lists each guard with its reason.",
    )
    def post(self, request, name, version):
        return super().post(request, name, version)


class ArchiveView(_TransitionView):
    """Archive a staging or production version."""

    service = staticmethod(services.model_version_archive)

    @_transition_schema("versions_archive", "Staging or production → archived.")
    def post(self, request, name, version):
        return super().post(request, name, version)


class DeprecateView(_TransitionView):
    """Deprecate a version for good (never straight from production)."""

    service = staticmethod(services.model_version_deprecate)

    @_transition_schema(
        "versions_deprecate", "Staging, archived or rolled_back → deprecated (terminal)."
    )
    def post(self, request, name, version):
        return super().post(request, name, version)


class RollbackView(APIView):
    """Roll a model back: production → rolled_back, the target → production, atomically."""

    @extend_schema(
        operation_id="models_rollback",
        parameters=[NAME],
        request=RollbackInput,
        responses={200: RollbackOutput, **errors(400, 403, 404, 409)},
    )
    def post(self, request, name):
        model = model_or_404(name)
        data = RollbackInput.validated(request.data)
        # A number as target is the service's to read: it checks permission first.
        target = data.get("to_version")
        before = selectors.production_version(model=model)
        restored = services.registered_model_rollback(
            actor=request.user, model=model, reason=data["reason"], to_version=target or None
        )
        return Response(
            RollbackOutput(
                {
                    "restored": version_or_404(model, restored.version),
                    "rolled_back": before.version if before is not None else None,
                }
            ).data
        )


# --- Artifacts ----------------------------------------------------------------------------


class OctetStreamRenderer(BaseRenderer):
    """Lets clients ask for the artifact with Accept: application/octet-stream."""

    media_type = "application/octet-stream"
    format = "bin"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else b""


class ArtifactView(APIView):
    """PUT streams an upload into the registry's storage (write-once); GET streams it back."""

    renderer_classes = [JSONRenderer, OctetStreamRenderer]

    def perform_content_negotiation(self, request, force=False):
        # GET may be asked for with Accept: application/octet-stream; the upload always
        # answers JSON, whatever Accept or ?format= say.
        if request.method != "GET":
            return JSONRenderer(), JSONRenderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(
        operation_id="versions_artifact_download",
        parameters=[NAME, VERSION],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The artifact bytes; X-Checksum-SHA256 carries the sha256 the "
                "registry computed when it stored them, Content-Length the stored file's size.",
            ),
            **errors(404),
            409: OpenApiResponse(
                ErrorSerializer,
                description="`artifact_mismatch`: the stored file's size differs from the "
                "size recorded at upload; nothing is sent.",
            ),
        },
    )
    def get(self, request, name, version):
        from django.http import FileResponse

        mv = version_or_404(model_or_404(name), version)
        # The headers come from the upload's own record (the size and sha256 the server
        # measured) and from the stored file, never from what a client registered.
        record = storage.upload_record(mv)
        handle = storage.open_stored(record.name) if record else None
        if handle is None:
            raise NotFound(
                f"{mv.registered_model.name} {mv.version} has no artifact uploaded to this "
                "registry"
                + (f" (its artifact_uri is {mv.artifact_uri})." if mv.artifact_uri else ".")
            )
        size = storage.size_of(handle)
        if size != record.size:
            handle.close()
            return error_response(
                409,
                "artifact_mismatch",
                f"The stored artifact of {mv.registered_model.name} {mv.version} does not "
                f"match its record: storage holds {size} bytes, the upload stored "
                f"{record.size}. Nothing was sent; an operator must restore the file.",
                {"recorded_size": record.size, "stored_size": size},
            )
        response = FileResponse(
            handle,
            content_type="application/octet-stream",
            as_attachment=True,
            filename=f"{mv.registered_model.name}-{mv.version}.bin",
        )
        response["X-Checksum-SHA256"] = record.sha256
        response["Content-Length"] = str(size)
        return response

    @extend_schema(
        operation_id="versions_artifact_upload",
        parameters=[
            NAME,
            VERSION,
            OpenApiParameter(
                "X-Checksum-SHA256",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Optional sha256 of the body; 400 and nothing kept on mismatch.",
            ),
        ],
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={201: VersionOutput, **errors(400, 403, 404, 409, 411, 413, 415)},
    )
    def put(self, request, name, version):
        model = model_or_404(name)
        mv = version_or_404(model, version)
        # A version mirrored from a team registry changes only there: refuse before
        # anything else, without reading the body (the service checks again under the lock).
        services.require_owned_here(model)
        media_type = (request.content_type or "").split(";")[0].strip().lower()
        if media_type != "application/octet-stream":
            raise exceptions.UnsupportedMediaType(
                media_type or "none",
                detail=f"Upload the artifact as application/octet-stream, not "
                f"'{media_type[:80] or 'no content type'}'.",
            )
        # Refuse early, before reading a possibly large body; the service checks both again
        # under the model's lock.
        require_permission(request.user, "version.change", mv)
        if mv.artifact_uri or mv.artifact_sha256:
            raise Conflict(
                f"{model.name} {mv.version} already has an artifact; artifacts are write-once. "
                "Register a new version."
            )
        expected = request.headers.get("X-Checksum-SHA256")
        if expected is not None:
            expected = expected.strip().lower()
            try:
                validate_sha256(expected)
            except Exception:
                return error_response(
                    400, "invalid", "X-Checksum-SHA256 must be 64 hexadecimal characters."
                )
        limit = storage.max_artifact_bytes()
        length_header = request.META.get("CONTENT_LENGTH") or ""
        if not length_header:
            raise LengthRequired("Send the artifact with a Content-Length header.")
        if not length_header.isdigit():
            return error_response(400, "invalid", "Content-Length must be a whole number.")
        length = int(length_header)
        if length > limit:
            raise RequestTooLarge(f"The artifact is {length} bytes; the limit is {limit} bytes.")
        # DRF's documented stream of the body (None when it is empty): read in chunks,
        # never whole.
        raw = request.stream

        def chunks():
            received = 0
            while raw is not None:
                chunk = raw.read(storage.CHUNK_SIZE)
                if not chunk:
                    break
                received += len(chunk)
                yield chunk
            if received != length:
                raise exceptions.ParseError(f"The body ended after {received} of {length} bytes.")

        try:
            stored = storage.store_stream(mv, chunks(), limit=limit, expected_sha256=expected)
        except storage.ArtifactTooLarge as exc:
            raise RequestTooLarge(str(exc)) from exc
        except storage.ChecksumMismatch as exc:
            return error_response(
                400,
                "checksum_mismatch",
                str(exc),
                {"expected": exc.expected, "actual": exc.actual},
            )
        try:
            services.model_version_attach_artifact(
                actor=request.user,
                version=mv,
                uri=stored.uri,
                sha256=stored.sha256,
                size=stored.size,
            )
        except BaseException:
            storage.delete_stored(stored.name)
            raise
        return Response(
            VersionOutput(version_or_404(model, mv.version)).data, status=status.HTTP_201_CREATED
        )


# --- Policies -------------------------------------------------------------------------------


def policy_output(model: RegisteredModel) -> dict:
    policy = selectors.effective_policy(model=model)
    if policy.registered_model_id == model.pk:
        scope = "model"
    elif policy.pk is not None:
        scope = "site"
    else:
        scope = "builtin"
    return PolicyOutput(
        {
            "scope": scope,
            "thresholds": policy.thresholds,
            "key_metrics": [
                {"direction": "higher", "tolerance": 0.0, **rule} for rule in policy.key_metrics
            ],
            "required_approvals": policy.required_approvals,
            "required_card_sections": policy.required_card_sections,
            "require_checksum": policy.require_checksum,
            "metric_directions": policy.metric_directions,
            "updated_at": policy.updated_at if policy.pk is not None else None,
        }
    ).data


class PolicyView(APIView):
    """The promotion policy in force for a model; PUT sets the model's own (admins)."""

    @extend_schema(
        operation_id="models_policy_retrieve",
        parameters=[NAME],
        responses={200: PolicyOutput, **errors(404)},
    )
    def get(self, request, name):
        return Response(policy_output(model_or_404(name)))

    @extend_schema(
        operation_id="models_policy_update",
        description="Fields left out keep their current value.",
        parameters=[NAME],
        request=PolicyInput,
        responses={200: PolicyOutput, **errors(400, 403, 404)},
    )
    def put(self, request, name):
        model = model_or_404(name)
        data = PolicyInput.validated(request.data)
        services.policy_update(actor=request.user, model=model, **data)
        return Response(policy_output(model))


# --- Audit ----------------------------------------------------------------------------------

AUDIT_PARAMS = [
    OpenApiParameter("actor", OpenApiTypes.STR, description="Username."),
    OpenApiParameter("action", OpenApiTypes.STR, description="e.g. version.promoted."),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="ISO 8601; inclusive."),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="ISO 8601; exclusive."),
]


class HistoryView(APIView):
    """A model's audit trail, newest first."""

    @extend_schema(
        operation_id="models_history",
        parameters=[
            NAME,
            *page_params(
                OpenApiParameter(
                    "version",
                    OpenApiTypes.STR,
                    description="Only this version's trail (its SemVer string or number).",
                ),
                *AUDIT_PARAMS,
            ),
        ],
        responses={200: paginated(AuditEventOutput), **errors(400, 404)},
    )
    def get(self, request, name):
        model = model_or_404(name)
        params = filters.audit_params(request.query_params)
        params["model_name"] = model.name
        version = filters.one_param(request.query_params, "version")
        if version is not None:
            params["version"] = version_or_404(model, version)
        return paginate(
            self, request, selectors.audit_events(**params), AuditEventOutput, AUDIT_ORDER
        )


class AuditView(APIView):
    """The site-wide audit trail, newest first, filtered by model, actor, action and time."""

    @extend_schema(
        operation_id="audit_list",
        parameters=page_params(
            OpenApiParameter("model", OpenApiTypes.STR, description="Model name."), *AUDIT_PARAMS
        ),
        responses={200: paginated(AuditEventOutput), **errors(400, 404)},
    )
    def get(self, request):
        params = filters.audit_params(request.query_params)
        return paginate(
            self, request, selectors.audit_events(**params), AuditEventOutput, AUDIT_ORDER
        )


# --- Tokens ---------------------------------------------------------------------------------


class TokenView(APIView):
    """POST exchanges a username and password for a token; DELETE revokes the token in use.

    Tokens are django-rest-knox tokens: only a hash is stored, each expires after
    REST_KNOX["TOKEN_TTL"], and each can be revoked on its own. Password guessing is
    limited as at every door that checks a password (registry_site/logins.py): past the
    limit the answer is 429 `locked_out`.
    """

    def get_permissions(self):
        if self.request.method == "POST":
            return [AllowAny()]
        return [IsAuthenticated()]

    @extend_schema(
        operation_id="auth_token_create",
        request=TokenInput,
        responses={201: TokenOutput, **errors(400, 429)},
        auth=[],
    )
    def post(self, request):
        data = TokenInput.validated(request.data)
        credentials = {"username": data["username"], "password": data["password"]}
        user = authenticate(request, **credentials)
        # axes marks the request it was given; that is DRF's request, not the Django
        # request its middleware looks at, so the lock-out answer is given here. It is
        # the one the site's settings name for every door (AXES_LOCKOUT_CALLABLE), so
        # this door does not import the site.
        if getattr(request, "axes_locked_out", False):
            return import_string(settings.AXES_LOCKOUT_CALLABLE)(request, credentials)
        if user is None or not user.is_active:
            raise exceptions.AuthenticationFailed("Wrong username or password.")
        instance, token = accounts.api_token_create(actor=user, user=user)
        return Response(
            TokenOutput(
                {"token": token, "expiry": instance.expiry, "username": user.get_username()}
            ).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        operation_id="auth_token_revoke",
        request=None,
        responses={204: OpenApiResponse(description="The token is revoked."), **errors(400)},
    )
    def delete(self, request):
        if not isinstance(request.auth, AuthToken):
            return error_response(
                400,
                "no_token",
                "This request is not authenticated with a token, so there is none to revoke.",
            )
        accounts.api_token_revoke(actor=request.user, token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)
