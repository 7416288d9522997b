"""The federation endpoints, under the REST API's /api/v1/federation/."""

from django.urls import path

from . import api

urlpatterns = [
    path("api/v1/federation/push/", api.PushView.as_view(), name="api-federation-push"),
    path("api/v1/federation/limits/", api.LimitsView.as_view(), name="api-federation-limits"),
    path(
        "api/v1/federation/registries/",
        api.RegistryListView.as_view(),
        name="api-federation-registries",
    ),
    path(
        "api/v1/federation/registries/<str:name>/",
        api.RegistryDetailView.as_view(),
        name="api-federation-registry",
    ),
    path(
        "api/v1/federation/registries/<str:name>/rebind/",
        api.RebindView.as_view(),
        name="api-federation-rebind",
    ),
    path(
        "api/v1/federation/models/<str:name>/",
        api.MirroredModelView.as_view(),
        name="api-federation-model",
    ),
    path("api/v1/federation/audit/", api.MirroredAuditView.as_view(), name="api-federation-audit"),
]
