"""The central catalog's federation endpoints under /api/v1/federation/.

POST push/ is what a team registry's `sync_catalog` calls (only users with the
federation_app.push_catalog permission, and for an origin only the service user it is
bound to), after GET limits/ (how large a push may be); POST registries/<name>/rebind/
gives an origin to another service user. The other GET endpoints show which registries
push here and what was mirrored that has no place in the native API (card content,
reviews, the origin audit trail). Mirrored models and versions themselves are listed by
the native API, filtered with ?origin=.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from models_app.api.common import RequestTooLarge, parse_json_body
from models_app.api.filters import _one
from models_app.api.views import errors, model_or_404, page_params, paginate, paginated
from models_app.exceptions import NotAllowed, NotFound

from . import services
from .models import (
    MirroredAuditEvent,
    MirroredCard,
    MirroredReview,
    MirroredVersion,
    OriginRegistry,
)


class PushInput(serializers.Serializer):
    """One batch from a team registry: its id and up to 500 items."""

    origin = serializers.CharField(max_length=40, help_text="The team registry's REGISTRY_ID.")
    items = serializers.ListField(
        child=serializers.DictField(), min_length=1, max_length=services.MAX_ITEMS
    )


COUNTS = inline_serializer(
    name="FederationPushCounts",
    fields={key: serializers.IntegerField() for key in services.COUNT_KEYS},
)


class StaleItemOutput(serializers.Serializer):
    """A model snapshot skipped because the catalog holds a newer one of that model."""

    kind = serializers.CharField()
    id = serializers.IntegerField(help_text="The model's id at its origin.")
    seq = serializers.IntegerField(help_text="The change sequence the item carried.")
    held_seq = serializers.IntegerField(
        help_text="The change sequence of the snapshot the catalog holds."
    )


class PushJSONParser(BaseParser):
    """The push's JSON, checked as every JSON body is, but capped by
    REGISTRY_MAX_PUSH_BYTES rather than the site-wide DATA_UPLOAD_MAX_MEMORY_SIZE: one
    model with all its versions, cards and reviews is one item of a push. (DRF reads the
    whole body through Django's site-wide cap for JSONParser subclasses only, so this
    parser reads the stream itself.)"""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        return parse_json_body(
            stream,
            encoding=parser_context.get("encoding", settings.DEFAULT_CHARSET),
            limit=settings.REGISTRY_MAX_PUSH_BYTES,
            too_large=lambda limit: RequestTooLarge(
                f"A catalog push may be at most {limit} bytes, and this one is larger. Send "
                "smaller batches (sync_catalog --batch-size), or raise "
                "REGISTRY_MAX_PUSH_BYTES on the central registry.",
                limit=limit,
                setting="REGISTRY_MAX_PUSH_BYTES",
            ),
        )


class PushView(APIView):
    """Upsert one batch of a team registry's catalog; sending it twice changes nothing."""

    parser_classes = [PushJSONParser]

    @extend_schema(
        operation_id="federation_push",
        request=PushInput,
        responses={
            200: inline_serializer(
                "FederationPushOutput",
                {"applied": COUNTS, "stale": StaleItemOutput(many=True)},
            ),
            **errors(400, 403, 409, 413),
        },
    )
    def post(self, request):
        # Permission before parsing the items: nobody else learns anything from the answer.
        services.sync_user_check(request.user)
        data = PushInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.catalog_push(
            actor=request.user,
            origin=data.validated_data["origin"],
            items=data.validated_data["items"],
        )
        return Response({"applied": result.applied, "stale": result.stale})


class LimitsView(APIView):
    """What one push may hold here, so that a team registry sizes its batches (and splits
    its models) to fit: the largest body in bytes (REGISTRY_MAX_PUSH_BYTES) and the most
    items. For whoever may push."""

    @extend_schema(
        operation_id="federation_limits",
        responses={
            200: inline_serializer(
                "FederationLimitsOutput",
                {
                    "max_push_bytes": serializers.IntegerField(),
                    "max_items": serializers.IntegerField(),
                },
            ),
            **errors(403),
        },
    )
    def get(self, request):
        services.sync_user_check(request.user)
        return Response(
            {"max_push_bytes": settings.REGISTRY_MAX_PUSH_BYTES, "max_items": services.MAX_ITEMS}
        )


class RebindInput(serializers.Serializer):
    """The service user that will push the origin from now on, and why."""

    username = serializers.CharField(max_length=150)
    reason = serializers.CharField(max_length=2000)


class RebindView(APIView):
    """Bind a team registry's origin to another service user (its credentials changed);
    only for whoever may change origin registries. Audited as origin.rebound."""

    @extend_schema(
        operation_id="federation_rebind",
        request=RebindInput,
        responses={
            200: inline_serializer(
                "FederationRebindOutput",
                {"origin": serializers.CharField(), "bound_user": serializers.CharField()},
            ),
            **errors(400, 403, 404),
        },
    )
    def post(self, request, name: str):
        if not services.may_rebind(request.user):
            raise NotAllowed(
                f"{request.user.get_username()} may not re-bind origins: the "
                "federation_app.change_originregistry permission is needed."
            )
        data = RebindInput(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["username"]
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise ValidationError({"username": [f"No user named {username}."]})
        registry = services.origin_rebind(
            actor=request.user, origin=name, user=user, reason=data.validated_data["reason"]
        )
        return Response({"origin": registry.name, "bound_user": user.get_username()})


class RegistryOutput(serializers.Serializer):
    """A team registry that pushes here, and how its pushes went."""

    name = serializers.CharField()
    first_push_at = serializers.DateTimeField()
    last_push_at = serializers.DateTimeField()
    seconds_since_last_push = serializers.IntegerField()
    batches = serializers.IntegerField(help_text="Batches applied.")
    models = serializers.IntegerField(source="n_models")
    last_seq = serializers.IntegerField(
        allow_null=True,
        help_text="The highest change sequence of a model snapshot applied from it "
        "(null until it pushes one).",
    )
    stale_items = serializers.IntegerField(
        help_text="Model snapshots skipped because the catalog held a newer one."
    )
    last_stale_at = serializers.DateTimeField(allow_null=True)
    last_refused_at = serializers.DateTimeField(allow_null=True)
    last_refusal_status = serializers.IntegerField(
        allow_null=True, help_text="The HTTP status of the last refused push."
    )
    last_refusal = serializers.CharField(help_text="What the last refused push was told.")


class RegistryListView(APIView):
    """The team registries that push to this catalog."""

    @extend_schema(
        operation_id="federation_registries",
        parameters=page_params(),
        responses={200: paginated(RegistryOutput), **errors(400)},
    )
    def get(self, request):
        return paginate(
            self, request, OriginRegistry.objects.all(), RegistryOutput, ("name",), each=_counted
        )


class RegistryDetailView(APIView):
    """One team registry that pushes here, and how its pushes went."""

    @extend_schema(
        operation_id="federation_registry", responses={200: RegistryOutput, **errors(404)}
    )
    def get(self, request, name: str):
        # No registry name holds NUL, and PostgreSQL refuses it even in a query.
        registry = None if "\x00" in name else OriginRegistry.objects.filter(name=name).first()
        if registry is None:
            raise NotFound(f"No team registry named {name[:40]} has pushed here.")
        _counted([registry])
        return Response(RegistryOutput(registry).data)


def _counted(registries: list[OriginRegistry]) -> None:
    """Each registry's number of mirrored models, for this page's registries only, and
    the seconds since its last push."""
    from models_app.models import RegisteredModel

    counts = dict(
        RegisteredModel.objects.filter(origin__in=[r.name for r in registries])
        .order_by()
        .values_list("origin")
        .annotate(n=Count("id"))
        .values_list("origin", "n")
    )
    now = timezone.now()
    for registry in registries:
        registry.n_models = counts.get(registry.name, 0)
        registry.seconds_since_last_push = max(
            0, int((now - registry.last_push_at).total_seconds())
        )


class MirroredCardOutput(serializers.Serializer):
    revision = serializers.IntegerField()
    sha256 = serializers.CharField()
    sections = serializers.JSONField()
    author = serializers.CharField(source="author_username")


class MirroredReviewOutput(serializers.Serializer):
    reviewer = serializers.CharField(source="reviewer_username")
    decision = serializers.CharField()
    comment = serializers.CharField()
    revision = serializers.IntegerField()
    revision_sha256 = serializers.CharField()
    created_at = serializers.DateTimeField()


class MirroredVersionOutput(serializers.Serializer):
    version = serializers.CharField(source="model_version.version")
    number = serializers.IntegerField(source="model_version.number")
    stage = serializers.CharField(source="model_version.stage")
    origin_stage = serializers.CharField()
    origin_stage_changed_at = serializers.DateTimeField(allow_null=True)
    origin_stage_event_id = serializers.IntegerField(allow_null=True)
    origin_created_by = serializers.CharField()
    card = serializers.SerializerMethodField()
    reviews = serializers.SerializerMethodField()

    def get_card(self, obj) -> dict | None:
        card = self.context["cards"].get(obj.model_version_id)
        return MirroredCardOutput(card).data if card else None

    def get_reviews(self, obj) -> list:
        return MirroredReviewOutput(
            self.context["reviews"].get(obj.model_version_id, []), many=True
        ).data


class MirroredModelView(APIView):
    """Where a mirrored model came from, and its versions' cards and reviews."""

    @extend_schema(
        operation_id="federation_model",
        responses={
            200: inline_serializer(
                "FederationModelOutput",
                {
                    "name": serializers.CharField(),
                    "origin": serializers.CharField(),
                    "origin_name": serializers.CharField(),
                    "synced_at": serializers.DateTimeField(),
                    "versions": MirroredVersionOutput(many=True),
                },
            ),
            **errors(404),
        },
    )
    def get(self, request, name: str):
        model = model_or_404(name)
        mirror = getattr(model, "mirror", None) if model.origin else None
        if mirror is None:
            raise NotFound(f"{model.name} is not mirrored from a team registry.")
        versions = list(
            MirroredVersion.objects.filter(model_version__registered_model=model)
            .select_related("model_version")
            .order_by("-model_version__precedence")
        )
        cards = {
            c.model_version_id: c
            for c in MirroredCard.objects.filter(model_version__registered_model=model)
        }
        reviews: dict = {}
        for review in MirroredReview.objects.filter(model_version__registered_model=model):
            reviews.setdefault(review.model_version_id, []).append(review)
        context = {"cards": cards, "reviews": reviews}
        return Response(
            {
                "name": model.name,
                "origin": model.origin,
                "origin_name": mirror.origin_name,
                "synced_at": mirror.synced_at,
                "versions": MirroredVersionOutput(versions, many=True, context=context).data,
            }
        )


class MirroredAuditOutput(serializers.Serializer):
    origin = serializers.CharField()
    origin_id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    action = serializers.CharField()
    actor = serializers.CharField(source="actor_username")
    model = serializers.CharField(source="model_name")
    version = serializers.CharField(source="version_label")
    from_stage = serializers.CharField()
    to_stage = serializers.CharField()
    reason = serializers.CharField()
    changes = serializers.JSONField()
    payload = serializers.JSONField()


class MirroredAuditView(APIView):
    """The team registries' own audit trails, as pushed (?origin=, ?model=, ?action=)."""

    @extend_schema(
        operation_id="federation_audit",
        parameters=page_params(
            OpenApiParameter("origin", str),
            OpenApiParameter("model", str, description="The model's name at its origin."),
            OpenApiParameter("action", str),
        ),
        responses={200: paginated(MirroredAuditOutput), **errors(400)},
    )
    def get(self, request):
        qs = MirroredAuditEvent.objects.all()
        params = request.query_params
        for key, field in (("origin", "origin"), ("model", "model_name"), ("action", "action")):
            value = _one(params, key)
            if value:
                qs = qs.filter(**{field: value})
        return paginate(self, request, qs, MirroredAuditOutput, ("origin", "origin_id"))
