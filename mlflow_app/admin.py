"""The MLflow door's tables in the admin: view-only, since only that door's services write them."""

from django.contrib import admin

from models_app.admin import ViewOnlyAdmin, register_history

from .models import DeletedModel, DeletedVersion, ModelAlias


@admin.register(ModelAlias)
class ModelAliasAdmin(ViewOnlyAdmin):
    list_display = ("registered_model", "alias", "model_version", "updated_by", "updated_at")
    list_select_related = ("registered_model", "model_version__registered_model", "updated_by")
    search_fields = ("registered_model__name", "alias")


@admin.register(DeletedModel)
class DeletedModelAdmin(ViewOnlyAdmin):
    list_display = ("registered_model", "deleted_by", "deleted_at", "reason")
    list_select_related = ("registered_model", "deleted_by")
    search_fields = ("registered_model__name",)


@admin.register(DeletedVersion)
class DeletedVersionAdmin(ViewOnlyAdmin):
    list_display = ("model_version", "deleted_by", "deleted_at", "reason")
    list_select_related = ("model_version__registered_model", "deleted_by")
    search_fields = ("model_version__registered_model__name",)


for _model in (ModelAlias, DeletedModel, DeletedVersion):
    register_history(_model)
