"""Production health signals in the REST API: post a signal on a version, list a
version's signals, read the latest value of each metric.

Each answer is given twice: under a version (`…/versions/<version>/signals/`) and under
the model (`…/models/<name>/signals/`), where the version is the production one unless
the body's or the query's `version` names another. Every signal is stored by
models_app.services.signal_record, whichever door it came through.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from models_app import selectors, services
from models_app.exceptions import Conflict
from models_app.models import ModelVersion, RegisteredModel
from models_app.permissions import require_permission

from . import filters
from .serializers import LatestSignalsOutput, ModelSignalInput, SignalInput, SignalOutput
from .views import NAME, VERSION, errors, model_or_404, page_params, paginate, paginated
from .views import version_or_404 as _version_or_404

SIGNAL_ORDER = ("-observed_at", "-id")

METRIC_PARAM = OpenApiParameter("metric", OpenApiTypes.STR, description="Only this metric.")
VERSION_PARAM = OpenApiParameter(
    "version",
    OpenApiTypes.STR,
    description="The version's SemVer string or number; default: the production version.",
)
EXAMPLE = OpenApiExample(
    "A drift score over ten minutes",
    value={"metric": "drift_psi", "value": 0.21, "window": "10m", "source": "drift-job"},
    request_only=True,
)


def production_or_409(model: RegisteredModel) -> ModelVersion:
    production = selectors.production_version(model=model)
    if production is None:
        raise Conflict(
            f"{model.name} has no version in production: name the version the signal is about."
        )
    return production


def version_of(model: RegisteredModel, segment: str | None) -> ModelVersion:
    """The version a path segment or a `version` field names, or the production one."""
    if segment is None:
        return production_or_409(model)
    return _version_or_404(model, segment)


def _post(request, mv: ModelVersion, data: dict) -> Response:
    signal = services.signal_record(
        actor=request.user,
        version=mv,
        metric=data["metric"],
        value=data["value"],
        window=data.get("window", 0),
        source=data.get("source", ""),
        observed_at=data.get("observed_at"),
    )
    return Response(SignalOutput(signal).data, status=status.HTTP_201_CREATED)


def _list(view, request, mv: ModelVersion) -> Response:
    metric = filters.one_param(request.query_params, "metric")
    qs = selectors.signals_of_version(version=mv, metric=metric)

    def of_version(rows) -> None:
        for row in rows:
            row.model_version = mv

    return paginate(view, request, qs, SignalOutput, SIGNAL_ORDER, each=of_version)


def _latest(mv: ModelVersion) -> Response:
    answer = {
        "model": mv.registered_model.name,
        "version": mv.version,
        "stage": mv.stage,
        "metrics": selectors.signals_latest(version=mv),
    }
    return Response(LatestSignalsOutput(answer).data)


class VersionSignalsView(APIView):
    """A version's signals, newest first; POST stores one."""

    @extend_schema(
        operation_id="signals_list",
        parameters=[NAME, VERSION, *page_params(METRIC_PARAM)],
        responses={200: paginated(SignalOutput), **errors(400, 404)},
    )
    def get(self, request, name, version):
        return _list(self, request, _version_or_404(model_or_404(name), version))

    @extend_schema(
        operation_id="signals_create",
        parameters=[NAME, VERSION],
        request=SignalInput,
        examples=[EXAMPLE],
        responses={201: SignalOutput, **errors(400, 403, 404)},
    )
    def post(self, request, name, version):
        # Permission first: the rule is the same for every model and version.
        require_permission(request.user, "signal.post")
        mv = _version_or_404(model_or_404(name), version)
        return _post(request, mv, SignalInput.validated(request.data))


class VersionLatestSignalsView(APIView):
    """The newest value of each metric reported on a version."""

    @extend_schema(
        operation_id="signals_latest",
        parameters=[NAME, VERSION],
        responses={200: LatestSignalsOutput, **errors(404)},
    )
    def get(self, request, name, version):
        return _latest(_version_or_404(model_or_404(name), version))


class ModelSignalsView(APIView):
    """A model's production version's signals (or those of `version`); POST stores one."""

    @extend_schema(
        operation_id="model_signals_list",
        parameters=[NAME, *page_params(VERSION_PARAM, METRIC_PARAM)],
        responses={200: paginated(SignalOutput), **errors(400, 404, 409)},
    )
    def get(self, request, name):
        model = model_or_404(name)
        mv = version_of(model, filters.one_param(request.query_params, "version"))
        return _list(self, request, mv)

    @extend_schema(
        operation_id="model_signals_create",
        parameters=[NAME],
        request=ModelSignalInput,
        examples=[EXAMPLE],
        responses={201: SignalOutput, **errors(400, 403, 404, 409)},
    )
    def post(self, request, name):
        require_permission(request.user, "signal.post")
        model = model_or_404(name)
        data = ModelSignalInput.validated(request.data)
        return _post(request, version_of(model, data.pop("version", None)), data)


class ModelLatestSignalsView(APIView):
    """The newest value of each metric on a model's production version (or `version`)."""

    @extend_schema(
        operation_id="model_signals_latest",
        parameters=[NAME, VERSION_PARAM],
        responses={200: LatestSignalsOutput, **errors(400, 404, 409)},
    )
    def get(self, request, name):
        model = model_or_404(name)
        return _latest(version_of(model, filters.one_param(request.query_params, "version")))
