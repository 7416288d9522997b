"""Card and review routes under /api/v1/models/<name>/versions/<version>/."""

from django.urls import path

from . import views

urlpatterns = [
    path("card/", views.CardView.as_view(), name="api-card"),
    path("reviews/", views.ReviewListView.as_view(), name="api-reviews"),
    path("request-review/", views.ReviewRequestView.as_view(), name="api-request-review"),
]
