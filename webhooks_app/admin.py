"""Admin for webhooks: subscriptions (through the services) and the delivery log.

Saving a subscription calls webhooks_app.services, so the admin checks the URL, writes
history and the audit event exactly as the API does. Nothing here is deletable: the
delivery log is evidence. Deliveries are read-only; the "Redeliver" action queues dead
ones again through the service (audited).
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from models_app.admin import show_instance_values, unbound_form_class
from models_app.admin_lists import LargeListAdmin, choices_filter
from models_app.errors import REFUSALS, answer_for

from . import services
from .events import EVENT_TYPES
from .models import Delivery, DeliveryAttempt, Subscription


class SubscriptionForm(forms.ModelForm):
    """The fields an admin edits; the secret is write-only and generated when left blank."""

    event_types = forms.MultipleChoiceField(
        choices=[(t, t) for t in EVENT_TYPES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event type.",
    )
    new_secret = forms.CharField(
        required=False,
        max_length=128,
        label="Secret",
        help_text="Leave blank to generate one. It is shown once, after saving.",
        widget=forms.PasswordInput(render_value=False),
    )
    rotate_secret = forms.BooleanField(
        required=False,
        help_text="Replace the secret with a new one, shown once after saving. The old "
        "secret keeps signing deliveries beside it for the overlap the settings give "
        "(REGISTRY_WEBHOOK_SECRET_OVERLAP_SECONDS), so receivers can switch in that time.",
    )

    # Not the model's URLField: its validator would refuse some hosts that the registry's
    # check explains better (and accept private ones it must refuse); the service decides.
    url = forms.CharField(
        max_length=2000,
        label="URL",
        help_text="http or https; private, loopback, link-local and metadata addresses "
        "are refused unless the settings allow them.",
    )

    class Meta:
        model = Subscription
        fields = ["description", "event_types", "active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        show_instance_values(self)
        if self.instance.pk is not None:
            self.fields["url"].initial = self.instance.url
        if self.instance.pk is None:
            del self.fields["rotate_secret"]
        else:
            self.fields["new_secret"].help_text = "Leave blank to keep the current secret."

    def clean_url(self):
        try:
            return services.validate_url(self.cleaned_data["url"])
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["url"]) from exc


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    form = SubscriptionForm
    list_display = ["id", "url", "events", "active", "created_by", "created_at", "delivery_log"]
    list_filter = ["active"]
    search_fields = ["url", "description"]
    readonly_fields = [
        "created_by",
        "created_at",
        "updated_at",
        "previous_secret_signs_until",
        "delivery_log",
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The service validates and saves in save_model; the form must not assign to or
        # validate the instance.
        form = super().get_form(request, obj, change=change, **kwargs)
        return unbound_form_class(form, self.model)

    def get_fields(self, request, obj=None):
        fields = ["url", "description", "event_types", "active", "new_secret"]
        if obj is not None:
            fields += [
                "rotate_secret",
                "previous_secret_signs_until",
                "created_by",
                "created_at",
                "updated_at",
                "delivery_log",
            ]
        return fields

    @admin.display(description="Previous secret signs until")
    def previous_secret_signs_until(self, obj):
        # When the replaced secret stops signing; never the secret itself.
        if obj is None or not obj.previous_secret_at(timezone.now()):
            return "—"
        return obj.previous_secret_expires_at

    @admin.display(description="Events")
    def events(self, obj):
        return ", ".join(obj.event_types) or "all"

    @admin.display(description="Delivery log")
    def delivery_log(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        url = reverse("admin:webhooks_app_delivery_changelist")
        return format_html(
            '<a href="{}?subscription__id__exact={}">{} deliveries</a>',
            url,
            obj.pk,
            obj.deliveries.count(),
        )

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        response = super().changeform_view(request, object_id, form_url, extra_context)
        # A refused URL re-shows the form; answer 400 like the API, not 200.
        if (
            request.method == "POST"
            and isinstance(response, TemplateResponse)
            and response.context_data.get("errors")
        ):
            response.status_code = 400
        return response

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        secret = data.get("new_secret") or None
        try:
            if change:
                saved = services.subscription_update(
                    actor=request.user,
                    subscription=obj,
                    url=data["url"],
                    description=data.get("description", ""),
                    event_types=list(data.get("event_types") or []),
                    active=data.get("active", False),
                    secret=secret,
                    rotate_secret=bool(data.get("rotate_secret")),
                )
                shown = secret is not None or data.get("rotate_secret")
            else:
                saved = services.subscription_create(
                    actor=request.user,
                    url=data["url"],
                    description=data.get("description", ""),
                    event_types=list(data.get("event_types") or []),
                    active=data.get("active", False),
                    secret=secret,
                )
                shown = True
        except REFUSALS as exc:
            # The form already ran the same checks; this covers a race between them.
            raise ValidationError(answer_for(exc).text) from exc
        obj.pk = saved.pk
        obj.refresh_from_db()
        if shown and secret is None:
            messages.warning(
                request,
                f"Signing secret for subscription #{saved.pk}: {saved.secret} — copy it now, "
                "it will not be shown again.",
            )
        if change and shown and saved.previous_secret_at(timezone.now()):
            messages.info(
                request,
                f"The previous secret keeps signing deliveries too (header "
                "X-Registry-Signature-Previous) until "
                f"{saved.previous_secret_expires_at.isoformat(timespec='seconds')}: switch the "
                "receiver to the new secret before then.",
            )


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["number", "started_at", "duration_ms", "status_code", "succeeded", "error"]
    readonly_fields = fields
    ordering = ["-number"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.action(description="Redeliver the selected dead or retrying deliveries")
def redeliver(modeladmin, request, queryset):
    done, refused = 0, []
    for delivery in queryset.order_by("event_id", "id"):
        try:
            services.delivery_redeliver(actor=request.user, delivery=delivery)
            done += 1
        except REFUSALS as exc:
            refused.append(answer_for(exc).text)
    if done:
        modeladmin.message_user(request, f"{done} delivery(ies) queued again.", messages.SUCCESS)
    for message in refused:
        modeladmin.message_user(request, message, messages.ERROR)


@admin.register(Delivery)
class DeliveryAdmin(LargeListAdmin, admin.ModelAdmin):
    """The delivery log; filter by subscription for one subscription's log.

    A delivery is kept for every event and subscription, so the list is counted up to a
    cap, the event type filter offers the event types of the code (no DISTINCT over the
    log), and the search matches a delivery's exact idempotency key (its unique index).
    """

    list_display = [
        "id",
        "event_type",
        "subscription",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = [
        "status",
        choices_filter("event_type", [(t, t) for t in EVENT_TYPES], "event type"),
        "subscription",
    ]
    search_fields = ["idempotency_key"]
    search_help_text = (
        "Search by a delivery's exact idempotency key (the X-Registry-Delivery header the "
        "receiver got)."
    )
    list_select_related = ["subscription"]
    actions = [redeliver]
    inlines = [DeliveryAttemptInline]
    readonly_fields = [
        "event",
        "subscription",
        "event_type",
        "ordering_key",
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
    ]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        # Django would compare the key as text, which no index serves; a key is a UUID,
        # looked up in its unique index, and anything else matches no delivery.
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            key = uuid.UUID(term)
        except ValueError:
            return queryset.none(), False
        return queryset.filter(idempotency_key=key), False
