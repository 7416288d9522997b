"""Dashboard pages for webhooks (admins only): subscriptions and each one's delivery log.

Views only translate: reads are plain queries over the outbox, the one write (redeliver)
goes through webhooks_app.services, and a refusal becomes a message and a 4xx.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from models_app.errors import REFUSALS, answer_for
from models_app.paging import CappedPaginator

from . import services
from .models import Delivery, DeliveryStatus, Subscription

DELIVERIES_PER_PAGE = 50


def _require_admin(request):
    """Anonymous → the sign-in page; signed in without the permission → 403."""
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not services.can_manage(request.user):
        raise PermissionDenied("Only admins may see webhooks.")
    return None


@require_GET
def subscription_list(request):
    """Every subscription with the number of its deliveries in each state."""
    if (response := _require_admin(request)) is not None:
        return response
    subscriptions = Subscription.objects.order_by("id").annotate(
        n_succeeded=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.SUCCEEDED)),
        n_waiting=Count(
            "deliveries",
            filter=Q(
                deliveries__status__in=(
                    DeliveryStatus.PENDING,
                    DeliveryStatus.DELIVERING,
                    DeliveryStatus.FAILED_RETRYING,
                )
            ),
        ),
        n_dead=Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.DEAD)),
    )
    return render(request, "webhooks_app/subscription_list.html", {"subscriptions": subscriptions})


@require_GET
def subscription_detail(request, pk: int):
    """One subscription's delivery log, newest event first; ?status= filters."""
    if (response := _require_admin(request)) is not None:
        return response
    subscription = get_object_or_404(Subscription, pk=pk)
    return _detail_page(request, subscription)


def _detail_page(request, subscription: Subscription, *, status_code: int = 200):
    deliveries = subscription.deliveries.order_by("-event_id", "-id")
    status = request.GET.get("status", "")
    if status in DeliveryStatus.values:
        deliveries = deliveries.filter(status=status)
    else:
        status = ""
    page = CappedPaginator(deliveries, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "webhooks_app/subscription_detail.html",
        {
            "subscription": subscription,
            # After a rotation: until when the replaced secret signs too (never the secret).
            "previous_secret_signs_until": (
                subscription.previous_secret_expires_at
                if subscription.previous_secret_at(timezone.now())
                else None
            ),
            "page": page,
            "status": status,
            "statuses": DeliveryStatus.choices,
        },
        status=status_code,
    )


@require_POST
def delivery_redeliver(request, pk: int):
    """Queue a dead or retrying delivery again (POST with CSRF), then back to the log."""
    if (response := _require_admin(request)) is not None:
        return response
    delivery = get_object_or_404(Delivery, pk=pk)
    try:
        services.delivery_redeliver(actor=request.user, delivery=delivery)
    except REFUSALS as exc:
        # Refused (e.g. it was already queued again): say why, on the log, with its 4xx.
        answer = answer_for(exc)
        messages.error(request, answer.text)
        return _detail_page(request, delivery.subscription, status_code=answer.status)
    messages.success(
        request,
        f"Delivery {delivery.pk} ({delivery.event_type}) is queued again; the worker sends it "
        "on its next round.",
    )
    response = redirect("webhooks:detail", pk=delivery.subscription_id)
    response.status_code = 303
    return response
