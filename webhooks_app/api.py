"""REST API for webhook subscriptions and their delivery log (admins only).

    GET, POST   /api/v1/webhooks/                          list / create (secret shown once)
    GET, PATCH  /api/v1/webhooks/{id}/                     one subscription / change it
    POST        /api/v1/webhooks/{id}/rotate-secret/        new secret, shown once; the old
                                                           one signs too for an overlap
    GET         /api/v1/webhooks/{id}/deliveries/           its delivery log, newest first
    GET         /api/v1/webhooks/deliveries/{id}/           one delivery with its attempts
    POST        /api/v1/webhooks/deliveries/{id}/redeliver/ queue a dead delivery again
    GET         /api/v1/webhooks/event-types/               the event types

Every write goes through webhooks_app.services. Errors have the one error shape of the API.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from models_app.api.common import ErrorSerializer
from models_app.api.views import page_params, paginate, paginated

from . import services
from .events import EVENT_TYPES
from .models import Delivery, DeliveryAttempt, DeliveryStatus, Subscription


class IsWebhookAdmin(BasePermission):
    message = "Only admins may manage webhook subscriptions."

    def has_permission(self, request, view) -> bool:
        return services.can_manage(request.user)


# --- Serializers ----------------------------------------------------------------------------


class SubscriptionInput(serializers.Serializer):
    url = serializers.CharField(max_length=2000, trim_whitespace=True)
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, allow_empty=True
    )
    active = serializers.BooleanField(required=False)
    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True, trim_whitespace=False
    )
    secret = serializers.CharField(
        max_length=128, required=False, write_only=True, trim_whitespace=False
    )


class SubscriptionPatchInput(SubscriptionInput):
    url = serializers.CharField(max_length=2000, required=False)


class SubscriptionOutput(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    deliveries_url = serializers.SerializerMethodField()
    previous_secret_expires_at = serializers.SerializerMethodField(
        help_text="After a rotation: until when the replaced secret still signs every "
        "delivery too (X-Registry-Signature-Previous); null when it no longer does. The "
        "replaced secret itself is never shown."
    )

    class Meta:
        model = Subscription
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "active",
            "created_by",
            "created_at",
            "updated_at",
            "previous_secret_expires_at",
            "deliveries_url",
        ]

    def get_deliveries_url(self, obj) -> str:
        return f"/api/v1/webhooks/{obj.pk}/deliveries/"

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_previous_secret_expires_at(self, obj):
        if not obj.previous_secret_at(timezone.now()):
            return None
        return serializers.DateTimeField().to_representation(obj.previous_secret_expires_at)


class SubscriptionWithSecretOutput(SubscriptionOutput):
    """Returned on creation and rotation only: the one time the secret is shown."""

    secret = serializers.CharField()

    class Meta(SubscriptionOutput.Meta):
        fields = [*SubscriptionOutput.Meta.fields, "secret"]


class DeliveryAttemptOutput(serializers.ModelSerializer):
    """One HTTP attempt: when, how long, the answer's status code (null when no answer
    came) or what went wrong, and the start of the answer's body."""

    class Meta:
        model = DeliveryAttempt
        fields = [
            "number",
            "started_at",
            "duration_ms",
            "status_code",
            "succeeded",
            "error",
            "response_snippet",
        ]


class DeliveryOutput(serializers.ModelSerializer):
    event_id = serializers.IntegerField()
    attempt_log = DeliveryAttemptOutput(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "idempotency_key",
            "created_at",
            "updated_at",
            "delivered_at",
            "payload",
            "attempt_log",
        ]


def with_attempts(qs):
    """Deliveries with their attempts, newest first, in one extra query for them all."""
    return qs.prefetch_related(
        Prefetch("attempt_log", queryset=DeliveryAttempt.objects.order_by("-started_at", "-id"))
    )


class RedeliverInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True)


def errors(*codes: int) -> dict:
    """Schema entries for the error answers (all in the API's one error shape)."""
    text = {
        400: "Invalid input (e.g. a refused URL); `details` maps fields to messages.",
        401: "Not authenticated.",
        403: "Not an admin.",
        404: "No such subscription or delivery.",
        409: "The delivery is not dead or retrying.",
    }
    return {c: OpenApiResponse(ErrorSerializer, description=text[c]) for c in (401, 403, *codes)}


class EventTypesOutput(serializers.Serializer):
    event_types = serializers.ListField(child=serializers.CharField())


# --- Views ----------------------------------------------------------------------------------


class _Base(APIView):
    # Errors take the API's one error shape through the project-wide REST_FRAMEWORK handler.
    permission_classes = [IsWebhookAdmin]


class SubscriptionListView(_Base):
    """List subscriptions, or create one (the response shows the secret, once)."""

    @extend_schema(
        operation_id="webhooks_list",
        parameters=page_params(),
        responses={200: paginated(SubscriptionOutput), **errors(400)},
    )
    def get(self, request):
        qs = Subscription.objects.select_related("created_by")
        return paginate(self, request, qs, SubscriptionOutput, ("id",))

    @extend_schema(
        operation_id="webhooks_create",
        request=SubscriptionInput,
        responses={201: SubscriptionWithSecretOutput, **errors(400)},
    )
    def post(self, request):
        data = SubscriptionInput(data=request.data)
        data.is_valid(raise_exception=True)
        sub = services.subscription_create(actor=request.user, **data.validated_data)
        return Response(SubscriptionWithSecretOutput(sub).data, status=status.HTTP_201_CREATED)


class SubscriptionDetailView(_Base):
    """One subscription; PATCH changes its URL, event types, description or active flag."""

    @extend_schema(
        operation_id="webhooks_retrieve", responses={200: SubscriptionOutput, **errors(404)}
    )
    def get(self, request, pk: int):
        sub = get_object_or_404(Subscription.objects.select_related("created_by"), pk=pk)
        return Response(SubscriptionOutput(sub).data)

    @extend_schema(
        operation_id="webhooks_update",
        request=SubscriptionPatchInput,
        responses={200: SubscriptionOutput, **errors(400, 404)},
    )
    def patch(self, request, pk: int):
        sub = get_object_or_404(Subscription, pk=pk)
        data = SubscriptionPatchInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        sub = services.subscription_update(actor=request.user, subscription=sub, **values)
        out = SubscriptionWithSecretOutput if "secret" in values else SubscriptionOutput
        return Response(out(sub).data)


class SubscriptionRotateSecretView(_Base):
    """Replace the subscription's secret with a new one, shown in this response only. The
    replaced secret keeps signing deliveries beside it until `previous_secret_expires_at`
    (X-Registry-Signature-Previous), so that receivers can switch without losing any."""

    @extend_schema(
        operation_id="webhooks_rotate_secret",
        request=None,
        responses={200: SubscriptionWithSecretOutput, **errors(404)},
    )
    def post(self, request, pk: int):
        sub = get_object_or_404(Subscription, pk=pk)
        sub = services.subscription_update(actor=request.user, subscription=sub, rotate_secret=True)
        return Response(SubscriptionWithSecretOutput(sub).data)


class DeliveryListView(_Base):
    """A subscription's delivery log, newest event first, each delivery with its attempts
    (newest first); ?status= filters."""

    @extend_schema(
        operation_id="webhooks_deliveries",
        parameters=page_params(
            OpenApiParameter(
                "status", OpenApiTypes.STR, enum=DeliveryStatus.values, description="Only these."
            )
        ),
        responses={200: paginated(DeliveryOutput), **errors(400, 404)},
    )
    def get(self, request, pk: int):
        sub = get_object_or_404(Subscription, pk=pk)
        qs = with_attempts(sub.deliveries.all())
        wanted = request.query_params.get("status")
        if wanted:
            if wanted not in DeliveryStatus.values:
                raise serializers.ValidationError(
                    {"status": [f"One of: {', '.join(DeliveryStatus.values)}."]}
                )
            qs = qs.filter(status=wanted)
        return paginate(self, request, qs, DeliveryOutput, ("-event_id", "-id"))


class DeliveryDetailView(_Base):
    """One delivery with every attempt made of it, newest first."""

    @extend_schema(
        operation_id="webhooks_delivery_retrieve",
        responses={200: DeliveryOutput, **errors(404)},
    )
    def get(self, request, pk: int):
        delivery = get_object_or_404(with_attempts(Delivery.objects.all()), pk=pk)
        return Response(DeliveryOutput(delivery).data)


class RedeliverView(_Base):
    """Queue a dead (or retrying) delivery again, due now, with the same idempotency key."""

    @extend_schema(
        operation_id="webhooks_redeliver",
        request=RedeliverInput,
        responses={200: DeliveryOutput, **errors(400, 404, 409)},
    )
    def post(self, request, pk: int):
        delivery = get_object_or_404(Delivery, pk=pk)
        data = RedeliverInput(data=request.data)
        data.is_valid(raise_exception=True)
        delivery = services.delivery_redeliver(
            actor=request.user, delivery=delivery, reason=data.validated_data.get("reason", "")
        )
        delivery = with_attempts(Delivery.objects.all()).get(pk=delivery.pk)
        return Response(DeliveryOutput(delivery).data)


class EventTypesView(_Base):
    """The event types a subscription can name."""

    @extend_schema(operation_id="webhooks_event_types", responses={200: EventTypesOutput})
    def get(self, request):
        return Response({"event_types": list(EVENT_TYPES)})
