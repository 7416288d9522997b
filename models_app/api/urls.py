"""Routes of the models API under /api/v1/."""

from django.urls import include, path

from . import alertmanager, signals, views

version_patterns = [
    path("", views.VersionDetailView.as_view(), name="api-version"),
    path("checks/", views.ChecksView.as_view(), name="api-checks"),
    path("promote/", views.PromoteView.as_view(), name="api-promote"),
    path("archive/", views.ArchiveView.as_view(), name="api-archive"),
    path("deprecate/", views.DeprecateView.as_view(), name="api-deprecate"),
    path("artifact/", views.ArtifactView.as_view(), name="api-artifact"),
    path("signals/", signals.VersionSignalsView.as_view(), name="api-version-signals"),
    path(
        "signals/latest/",
        signals.VersionLatestSignalsView.as_view(),
        name="api-version-signals-latest",
    ),
    path("", include("approvals_app.api.urls")),
]

urlpatterns = [
    path("models/", views.ModelListView.as_view(), name="api-models"),
    path("models/<str:name>/", views.ModelDetailView.as_view(), name="api-model"),
    path("models/<str:name>/versions/", views.VersionListView.as_view(), name="api-versions"),
    path("models/<str:name>/versions/<str:version>/", include(version_patterns)),
    path("models/<str:name>/production/", views.ProductionView.as_view(), name="api-production"),
    path("models/<str:name>/rename/", views.ModelRenameView.as_view(), name="api-rename"),
    path("models/<str:name>/rollback/", views.RollbackView.as_view(), name="api-rollback"),
    path("models/<str:name>/policy/", views.PolicyView.as_view(), name="api-policy"),
    path("models/<str:name>/history/", views.HistoryView.as_view(), name="api-history"),
    path("models/<str:name>/signals/", signals.ModelSignalsView.as_view(), name="api-signals"),
    path(
        "models/<str:name>/signals/latest/",
        signals.ModelLatestSignalsView.as_view(),
        name="api-signals-latest",
    ),
    path("alertmanager/", alertmanager.AlertmanagerView.as_view(), name="api-alertmanager"),
    path("audit/", views.AuditView.as_view(), name="api-audit"),
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
]
