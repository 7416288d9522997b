"""Webhook routes: the subscription API under /api/v1/webhooks/ and the dashboard pages."""

from django.urls import path

from . import api, views

app_name = "webhooks"

urlpatterns = [
    path("api/v1/webhooks/", api.SubscriptionListView.as_view(), name="api-list"),
    path("api/v1/webhooks/event-types/", api.EventTypesView.as_view(), name="api-event-types"),
    path("api/v1/webhooks/<int:pk>/", api.SubscriptionDetailView.as_view(), name="api-detail"),
    path(
        "api/v1/webhooks/<int:pk>/rotate-secret/",
        api.SubscriptionRotateSecretView.as_view(),
        name="api-rotate-secret",
    ),
    path(
        "api/v1/webhooks/<int:pk>/deliveries/",
        api.DeliveryListView.as_view(),
        name="api-deliveries",
    ),
    path(
        "api/v1/webhooks/deliveries/<int:pk>/",
        api.DeliveryDetailView.as_view(),
        name="api-delivery-detail",
    ),
    path(
        "api/v1/webhooks/deliveries/<int:pk>/redeliver/",
        api.RedeliverView.as_view(),
        name="api-redeliver",
    ),
    path("webhooks/", views.subscription_list, name="list"),
    path("webhooks/<int:pk>/", views.subscription_detail, name="detail"),
    path(
        "webhooks/deliveries/<int:pk>/redeliver/",
        views.delivery_redeliver,
        name="redeliver",
    ),
]
