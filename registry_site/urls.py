"""The three doors: the dashboard (/), the admin (/admin/) and the REST API (/api/)."""

from django.contrib import admin
from django.urls import include, path

from .health import healthz, readyz
from .metrics import metrics

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    # First: MLflow's paths start with api/ too, and its clients call them most.
    path("", include("mlflow_app.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("registry_site.api_urls")),
    path("", include("federation_app.urls")),
    path("", include("approvals_app.urls")),
    path("", include("webhooks_app.urls")),
    path("", include("models_app.urls")),
]
