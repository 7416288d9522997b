from django.apps import AppConfig


class ModelsAppConfig(AppConfig):
    name = "models_app"
    verbose_name = "Model registry"

    def ready(self) -> None:
        from . import accounts, audit  # noqa: F401  (audit connects the history signal handlers)

        accounts.connect()
