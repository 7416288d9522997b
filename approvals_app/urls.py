"""Dashboard routes for the version workspace: version page, its forms, compare, inbox.

The version page and the lifecycle's actions on it are models_app's views
(models_app.lifecycle_views); their routes stay here, under the names templates use.
"""

from django.urls import path

from models_app import lifecycle_views

from . import views

app_name = "approvals"

_version = "models/<str:name>/versions/<str:version>/"

urlpatterns = [
    path("reviews/", views.inbox, name="inbox"),
    path("models/<str:name>/compare/", views.compare, name="compare"),
    path(_version, lifecycle_views.version_detail, name="version"),
    path(_version + "review/", views.version_review, name="review"),
    path(_version + "request-review/", views.version_request_review, name="request_review"),
    path(_version + "card/", views.card_edit, name="card_edit"),
    path(_version + "promote/", lifecycle_views.version_promote, name="promote"),
    path(_version + "archive/", lifecycle_views.version_archive, name="archive"),
    path(_version + "deprecate/", lifecycle_views.version_deprecate, name="deprecate"),
]
