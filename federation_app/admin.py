"""Read-only admin pages: which registries push here, and this registry's sync state.

Nothing is editable: mirrored data changes only through a push, and the sync state only
through sync_catalog (an admin who wants a full re-push deletes the SyncState row).
"""

from django.contrib import admin

from models_app.admin_lists import LargeListAdmin, choices_filter
from models_app.enums import Action

from .models import MirroredAuditEvent, OriginRegistry, SyncState


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(OriginRegistry)
class OriginRegistryAdmin(ReadOnlyAdmin):
    list_display = ("name", "first_push_at", "last_push_at", "batches")
    search_fields = ("name",)

    def has_delete_permission(self, request, obj=None):
        return False


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
