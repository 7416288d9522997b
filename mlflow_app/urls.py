"""MLflow's REST paths: the model registry API 2.0, under /api/ and /ajax-api/ alike."""

from django.urls import re_path

from . import views

app_name = "mlflow"

urlpatterns = [
    re_path(r"^(?:api|ajax-api)/2\.0/mlflow/(?P<path>.*)$", views.endpoint, name="endpoint"),
]
