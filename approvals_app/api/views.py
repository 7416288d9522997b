"""Model cards and reviews through the REST API; writes go through approvals_app.services."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals_app import selectors, services
from approvals_app.cards import parse_markdown, render_sections, to_markdown
from models_app.api.views import (
    NAME,
    VERSION,
    errors,
    model_or_404,
    page_params,
    paginate,
    paginated,
    version_or_404,
)
from models_app.exceptions import NotFound
from models_app.mirrors import mirror_reader

from .serializers import (
    REVIEW_SUBMIT_SCHEMA,
    CardOutput,
    CardUpdateInput,
    MirroredReviewOutput,
    ReviewOutput,
    ReviewRequestInput,
    ReviewSubmitInput,
)


def card_output(version) -> dict:
    reader = mirror_reader(version)
    if reader is not None:
        return _origin_card_output(version, reader)
    card = selectors.card_for(version)
    if card is None or card.current_revision is None:
        raise NotFound(f"{version} has no model card.")
    revision = card.current_revision
    sections = revision.sections()
    return CardOutput(
        {
            "model": version.registered_model.name,
            "version": version.version,
            "revision": revision.number,
            "sha256": revision.sha256,
            "sections": sections,
            "markdown": to_markdown(sections),
            "html": render_sections(sections),
            "edited_by": revision.author_username,
            "edited_at": revision.created_at,
            "review_requested_at": card.review_requested_at,
            "source": None,
        }
    ).data


def _origin_card_output(version, reader) -> dict:
    """The card of a mirrored version: the current revision its origin holds."""
    card = reader.card(version)
    if card is None:
        raise NotFound(
            f"{version} has no model card from {version.registered_model.origin} yet: it "
            "comes with that registry's next sync."
        )
    return CardOutput(
        {
            "model": version.registered_model.name,
            "version": version.version,
            "revision": card.number,
            "sha256": card.sha256,
            "sections": card.sections,
            "markdown": to_markdown(card.sections),
            "html": render_sections(card.sections),
            "edited_by": card.author_username,
            "edited_at": None,
            "review_requested_at": None,
            "source": {
                "origin": card.origin,
                "origin_id": card.origin_id,
                "synced_at": card.synced_at,
            },
        }
    ).data


class CardView(APIView):
    """A version's model card: Markdown, sanitised HTML, revision and sha256."""

    @extend_schema(
        operation_id="versions_card_retrieve",
        description="For a version mirrored from a team registry, the card that registry "
        "holds, with `source` naming it.",
        parameters=[NAME, VERSION],
        responses={200: CardOutput, **errors(404)},
    )
    def get(self, request, name, version):
        return Response(card_output(version_or_404(model_or_404(name), version)))

    @extend_schema(
        operation_id="versions_card_update",
        description="A change makes a new revision, which voids earlier approvals.",
        parameters=[NAME, VERSION],
        request=CardUpdateInput,
        responses={200: CardOutput, **errors(400, 403, 404, 409)},
    )
    def put(self, request, name, version):
        mv = version_or_404(model_or_404(name), version)
        data = CardUpdateInput.validated(request.data)
        sections = parse_markdown(data["markdown"]) if "markdown" in data else data["sections"]
        services.card_update(
            actor=request.user, version=mv, sections=sections, reason=data["reason"]
        )
        return Response(card_output(mv))


class ReviewRequestView(APIView):
    """A contributor asks reviewers to review the current card (puts it in their inbox)."""

    @extend_schema(
        operation_id="versions_request_review",
        parameters=[NAME, VERSION],
        request=ReviewRequestInput,
        responses={200: CardOutput, **errors(400, 403, 404, 409)},
    )
    def post(self, request, name, version):
        mv = version_or_404(model_or_404(name), version)
        data = ReviewRequestInput.validated(request.data)
        services.review_request(actor=request.user, version=mv, reason=data["reason"])
        return Response(card_output(mv))


# Oldest first; the id breaks ties between reviews recorded in the same instant.
REVIEW_ORDER = ("created_at", "id")


class ReviewListView(APIView):
    """A version's reviews, oldest first; POST records a reviewer's decision."""

    @extend_schema(
        operation_id="versions_reviews_list",
        description="For a version mirrored from a team registry, the reviews made there, "
        "each with `source` naming it.",
        parameters=[NAME, VERSION, *page_params()],
        responses={200: paginated(ReviewOutput), **errors(400, 404)},
    )
    def get(self, request, name, version):
        mv = version_or_404(model_or_404(name), version)
        reader = mirror_reader(mv)
        if reader is not None:
            return paginate(self, request, reader.reviews(mv), MirroredReviewOutput, REVIEW_ORDER)
        return paginate(self, request, selectors.reviews_of(mv), ReviewOutput, REVIEW_ORDER)

    @extend_schema(
        operation_id="versions_reviews_create",
        description="An approval must send `revision_sha256`, the sha256 of the card "
        "revision read (400 without it); a reject or change request may. When given and the "
        "card has changed since, 409, naming the current revision and its sha256.",
        parameters=[NAME, VERSION],
        request=REVIEW_SUBMIT_SCHEMA,
        responses={201: ReviewOutput, **errors(400, 403, 404, 409)},
    )
    def post(self, request, name, version):
        mv = version_or_404(model_or_404(name), version)
        data = ReviewSubmitInput.validated(request.data)
        review = services.review_submit(actor=request.user, version=mv, **data)
        review = selectors.reviews_of(mv).get(pk=review.pk)
        return Response(ReviewOutput(review).data, status=status.HTTP_201_CREATED)
