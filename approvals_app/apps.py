from django.apps import AppConfig


class ApprovalsAppConfig(AppConfig):
    name = "approvals_app"
    verbose_name = "Approvals"

    def ready(self) -> None:
        from models_app.guards import register_guard_provider
        from models_app.signals import version_registered

        from . import checks, guards, services  # noqa: F401  (checks registers itself)

        register_guard_provider(guards.approval_guards)
        version_registered.connect(services.card_create_for_new_version, dispatch_uid="card")
