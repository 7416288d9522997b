"""The Prometheus Alertmanager receiver: `POST /api/v1/alertmanager/`.

Alertmanager's webhook (`webhook_configs`, payload version "4") posts groups of alerts.
Each alert whose labels name a model becomes a health signal on that model's version:

- the model: label `model`; the version: label `version`, else the production version;
- the metric: label `metric`, else the alert's name (`alertname`);
- the value: annotation (or label) `value` when it holds a number, else 1 (firing);
- the window: annotation or label `window` (seconds or "10m"), else 0;
- the observation time: the alert's `startsAt` (the time received, when it is older than
  the retention period or the alert was already open with another value).

A firing alert already open with the same value is a repeat (Alertmanager re-sends every
`repeat_interval`) and stores nothing. A resolved alert closes every open signal with its
fingerprint. The answer lists the outcome of each alert: one alert naming an unknown model
never refuses the others.
"""

from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from models_app import selectors, services
from models_app.errors import answer_for
from models_app.exceptions import NotFound, RegistryError
from models_app.permissions import require_permission

from .signals import version_of
from .views import errors, model_or_404

# The module's description above is the endpoint's description in the API schema.
DESCRIPTION = __doc__
MAX_ALERTS = 1000

OUTCOMES = ("recorded", "duplicate", "resolved", "not_open", "ignored", "refused")

AlertResults = inline_serializer(
    name="AlertmanagerAlertResult",
    many=True,
    fields={
        "index": serializers.IntegerField(help_text="The alert's place in `alerts`."),
        "fingerprint": serializers.CharField(),
        "outcome": serializers.ChoiceField(choices=OUTCOMES),
        "signal_ids": serializers.ListField(child=serializers.IntegerField()),
        "code": serializers.CharField(required=False, help_text="Why it was refused."),
        "message": serializers.CharField(required=False),
    },
)
AlertmanagerAnswer = inline_serializer(
    name="AlertmanagerAnswer",
    fields={
        "received": serializers.IntegerField(),
        "results": AlertResults,
    },
)
AlertmanagerBody = inline_serializer(
    name="AlertmanagerWebhook",
    fields={
        "version": serializers.CharField(),
        "receiver": serializers.CharField(required=False),
        "status": serializers.CharField(required=False),
        "alerts": serializers.ListField(child=serializers.DictField()),
    },
)


def _bad(message: str) -> ValidationError:
    return ValidationError({"alerts": [message]})


def _text(mapping: object, key: str) -> str | None:
    if not isinstance(mapping, dict):
        return None
    value = mapping.get(key)
    return value if isinstance(value, str) and value else None


def _value(alert: dict) -> float:
    text = _text(alert.get("annotations"), "value") or _text(alert.get("labels"), "value")
    if text is None:
        return 1.0
    try:
        number = float(text)
    except ValueError:
        raise ValidationError({"value": [f"value '{text[:40]}' is not a number."]}) from None
    if not math.isfinite(number):
        raise ValidationError({"value": ["value must be a finite number."]})
    return number


def _time(alert: dict, key: str):
    text = alert.get(key)
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = parse_datetime(text)
    except ValueError:
        moment = None
    if moment is None or timezone.is_naive(moment) or moment.year < 2000:
        return None  # Alertmanager's "0001-01-01T00:00:00Z" means "not set"
    return moment


def _handle(actor, alert: object) -> dict:
    if not isinstance(alert, dict):
        raise _bad("Each alert must be an object.")
    labels = alert.get("labels") if isinstance(alert.get("labels"), dict) else {}
    fingerprint = _text(alert, "fingerprint") or ""
    if alert.get("status") == "resolved":
        closed = services.signal_resolve(
            actor=actor, fingerprint=fingerprint, resolved_at=_time(alert, "endsAt")
        )
        return {
            "outcome": "resolved" if closed else "not_open",
            "signal_ids": [s.pk for s in closed],
        }
    name = _text(labels, "model")
    if name is None:
        return {"outcome": "ignored", "message": "The alert has no 'model' label."}
    try:
        model = model_or_404(name)
    except NotFound as exc:
        return {"outcome": "refused", "code": "unknown_model", "message": exc.message}
    try:
        mv = version_of(model, _text(labels, "version"))
    except NotFound as exc:
        return {"outcome": "refused", "code": "unknown_version", "message": exc.message}
    metric = _text(labels, "metric") or _text(labels, "alertname")
    value = _value(alert)
    window = _text(alert.get("annotations"), "window") or _text(labels, "window") or 0
    source = _text(alert.get("annotations"), "source") or _text(labels, "source")
    open_signal = selectors.signal_open(fingerprint=fingerprint)
    if (
        open_signal is not None
        and open_signal.model_version_id == mv.pk
        and open_signal.metric == metric
        and open_signal.value == value
    ):
        return {"outcome": "duplicate", "signal_ids": [open_signal.pk]}
    now = timezone.now()
    observed_at = _time(alert, "startsAt")
    oldest = now - timedelta(days=settings.REGISTRY_SIGNAL_RETENTION_DAYS) + timedelta(minutes=1)
    if open_signal is not None or observed_at is None or not oldest <= observed_at <= now:
        observed_at = now
    signal = services.signal_record(
        actor=actor,
        version=mv,
        metric=metric,
        value=value,
        window=window,
        source=source or "alertmanager",
        observed_at=observed_at,
        fingerprint=fingerprint[: services.FINGERPRINT_MAX],
    )
    return {"outcome": "recorded", "signal_ids": [signal.pk]}


class AlertmanagerView(APIView):
    """Prometheus Alertmanager's webhook: alerts naming a model become health signals."""

    @extend_schema(
        operation_id="alertmanager_receive",
        description=DESCRIPTION,
        request=AlertmanagerBody,
        examples=[
            OpenApiExample(
                "One firing alert",
                request_only=True,
                value={
                    "version": "4",
                    "receiver": "model-registry",
                    "status": "firing",
                    "alerts": [
                        {
                            "status": "firing",
                            "labels": {
                                "alertname": "FalsePositiveRateHigh",
                                "model": "fraud_detector",
                                "metric": "false_positive_rate",
                            },
                            "annotations": {"value": "0.031", "window": "10m"},
                            "startsAt": "2026-01-05T10:00:00Z",
                            "endsAt": "0001-01-01T00:00:00Z",
                            "generatorURL": "http://prometheus:9090/graph",
                            "fingerprint": "c6eadffa33fcdf37",
                        }
                    ],
                },
            )
        ],
        responses={200: AlertmanagerAnswer, **errors(400, 403)},
    )
    def post(self, request):
        require_permission(request.user, "signal.post")
        body = request.data
        if not isinstance(body, dict) or not isinstance(body.get("alerts"), list):
            raise _bad("The body must be Alertmanager's webhook JSON, with a list of alerts.")
        alerts = body["alerts"]
        if len(alerts) > MAX_ALERTS:
            raise _bad(
                f"At most {MAX_ALERTS} alerts per request; set max_alerts in Alertmanager's "
                "webhook_config."
            )
        results = []
        for index, alert in enumerate(alerts):
            fingerprint = _text(alert, "fingerprint") or ""
            try:
                outcome = _handle(request.user, alert)
            except (RegistryError, ValidationError) as exc:
                answer = answer_for(exc)
                outcome = {"outcome": "refused", "code": answer.code, "message": answer.message}
            results.append(
                {"index": index, "fingerprint": fingerprint, "signal_ids": [], **outcome}
            )
        return Response({"received": len(alerts), "results": results})
