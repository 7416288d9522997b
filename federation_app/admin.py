"""Admin pages: which registries push here, and this registry's sync state.

Mirrored data changes only through a push, and the sync state only through sync_catalog
(an admin who wants a full re-push deletes the SyncState row). The one thing an admin
changes here is which service user an origin is bound to, with a reason, when a team
registry's credentials change (federation_app.services.origin_rebind, audited).
"""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from models_app.admin_lists import LargeListAdmin, choices_filter
from models_app.enums import Action

from . import services
from .models import MirroredAuditEvent, OriginRegistry, SyncState


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RebindForm(forms.ModelForm):
    """Give the origin to another service user: the user and a reason, both required."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the origin changes account, e.g. the team registry's new token "
        "belongs to another service user. Kept in the audit trail.",
    )

    class Meta:
        model = OriginRegistry
        fields = ["bound_user"]
        help_texts = {
            "bound_user": "The only account whose pushes for this origin are accepted.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "bound_user" in self.fields:  # absent from a view-only page
            self.fields["bound_user"].required = True
            self.fields["bound_user"].queryset = get_user_model().objects.filter(is_active=True)

    def clean(self):
        cleaned = super().clean()
        user, reason = cleaned.get("bound_user"), cleaned.get("reason", "")
        if user is not None and reason:
            current = OriginRegistry.objects.get(pk=self.instance.pk)
            try:
                cleaned["reason"] = services.rebind_check(current, user, reason)
            except ValidationError as exc:
                for field, messages in exc.message_dict.items():
                    self.add_error(field, messages)
        return cleaned


@admin.register(OriginRegistry)
class OriginRegistryAdmin(admin.ModelAdmin):
    """Read-only but for the re-binding form on an origin's page."""

    form = RebindForm
    list_display = (
        "name",
        "bound_user",
        "last_push_at",
        "batches",
        "last_seq",
        "stale_items",
        "last_refused_at",
    )
    list_select_related = ("bound_user",)
    search_fields = ("name",)
    # How the origin's pushes went: read-only, shown under the binding.
    STATUS = (
        "bound_at",
        "first_push_at",
        "last_push_at",
        "seconds_since_last_push",
        "batches",
        "last_seq",
        "stale_items",
        "last_stale_at",
        "last_refused_at",
        "last_refusal_status",
        "last_refusal",
    )
    readonly_fields = ("name", *STATUS)
    fields = ("name", "bound_user", "reason", *STATUS)

    @admin.display(description="seconds since last push")
    def seconds_since_last_push(self, obj):
        return max(0, int((timezone.now() - obj.last_push_at).total_seconds()))

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if not self.has_change_permission(request, obj):  # a view-only page: no form
            fields = [name for name in fields if name != "reason"]
        return fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return services.may_rebind(request.user)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        services.origin_rebind(
            actor=request.user,
            origin=obj.name,
            user=form.cleaned_data["bound_user"],
            reason=form.cleaned_data["reason"],
        )


class OriginFilter(admin.SimpleListFilter):
    """The registries that have pushed, from their own small table: Django's filter for
    a text column would list the origins with a DISTINCT over every mirrored event."""

    title = "origin"
    parameter_name = "origin__exact"

    def lookups(self, request, model_admin):
        return [(name, name) for name in OriginRegistry.objects.values_list("name", flat=True)]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset if value is None else queryset.filter(origin=value)


@admin.register(MirroredAuditEvent)
class MirroredAuditEventAdmin(LargeListAdmin, ReadOnlyAdmin):
    """Every team registry's audit trail: counted up to a cap, the action filter's
    choices from the code (no DISTINCT over the mirrored trail)."""

    list_display = ("origin", "origin_id", "created_at", "action", "actor_username", "model_name")
    list_filter = (OriginFilter, choices_filter("action", Action.choices, "action"))
    search_fields = ("model_name", "actor_username", "reason")

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SyncState)
class SyncStateAdmin(ReadOnlyAdmin):
    list_display = (
        "registry_id",
        "central_url",
        "audit_cursor",
        "last_success_at",
        "last_attempt_at",
        "last_error",
    )
