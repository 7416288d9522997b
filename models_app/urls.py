"""Dashboard routes for models, the audit log, API tokens and signing in and out."""

from django.urls import path

from . import views

app_name = "models"

urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
    path("", views.model_list, name="list"),
    path("models/<str:name>/", views.model_detail, name="model"),
    path("models/<str:name>/rollback/", views.model_rollback, name="rollback"),
    path("audit/", views.audit_log, name="audit"),
    path("audit/export.csv", views.audit_export, {"fmt": "csv"}, name="audit_csv"),
    path("audit/export.json", views.audit_export, {"fmt": "json"}, name="audit_json"),
    path("account/tokens/", views.tokens, name="tokens"),
    path("account/tokens/revoke/", views.token_revoke, name="token_revoke"),
]
