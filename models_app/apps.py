from django.apps import AppConfig


class ModelsAppConfig(AppConfig):
    name = "models_app"
    verbose_name = "Model registry"

    def ready(self) -> None:
        from . import audit  # noqa: F401  (connects the history signal handlers)
