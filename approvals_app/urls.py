"""Dashboard routes for the version workspace: version page, its forms, compare, inbox."""

from django.urls import path

from . import views

app_name = "approvals"

_version = "models/<str:name>/versions/<str:version>/"

urlpatterns = [
    path("reviews/", views.inbox, name="inbox"),
    path("models/<str:name>/compare/", views.compare, name="compare"),
    path(_version, views.version_detail, name="version"),
    path(_version + "review/", views.version_review, name="review"),
    path(_version + "request-review/", views.version_request_review, name="request_review"),
    path(_version + "card/", views.card_edit, name="card_edit"),
    path(_version + "promote/", views.version_promote, name="promote"),
    path(_version + "archive/", views.version_archive, name="archive"),
    path(_version + "deprecate/", views.version_deprecate, name="deprecate"),
]
