from django.apps import AppConfig


class ApprovalsAppConfig(AppConfig):
    name = "approvals_app"
    verbose_name = "Approvals"

    def ready(self) -> None:
        from models_app.guards import register_bulk_guard_provider
        from models_app.lifecycle_views import register_version_part
        from models_app.signals import version_registered
        from models_app.views import register_production_evidence

        from . import checks, guards, services, views  # noqa: F401  (checks registers itself)

        register_bulk_guard_provider(guards.approval_guards, guards.approval_reports)
        register_version_part(views.CARD_PART)
        register_production_evidence(views.approving_reviews)
        version_registered.connect(services.card_create_for_new_version, dispatch_uid="card")
