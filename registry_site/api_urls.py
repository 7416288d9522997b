"""The REST API under /api/: version 1, its OpenAPI schema and the interactive docs.

The docs page is SpectacularSwaggerSplitView: its start-up script is served as a separate
file, so the Content-Security-Policy needs no 'unsafe-inline'; the Swagger UI files come
from drf-spectacular-sidecar, served as our own static files (no CDN).
"""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

urlpatterns = [
    path("v1/", include("models_app.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]
