from django.apps import AppConfig


class ModelsAppConfig(AppConfig):
    name = "models_app"
    verbose_name = "Model registry"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import accounts, audit, roles  # noqa: F401  (audit connects the history signal handlers)

        accounts.connect()
        post_migrate.connect(roles.restore_roles, dispatch_uid="ensure_roles")
