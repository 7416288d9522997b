"""Read-only admin pages: which registries push here, and this registry's sync state.

Nothing is editable: mirrored data changes only through a push, and the sync state only
through sync_catalog (an admin who wants a full re-push deletes the SyncState row).
"""

from django.contrib import admin

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


@admin.register(MirroredAuditEvent)
class MirroredAuditEventAdmin(ReadOnlyAdmin):
    list_display = ("origin", "origin_id", "created_at", "action", "actor_username", "model_name")
    list_filter = ("origin", "action")
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
