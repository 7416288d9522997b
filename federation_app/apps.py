from django.apps import AppConfig


class FederationAppConfig(AppConfig):
    name = "federation_app"
    verbose_name = "Team registries and the central catalog"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers itself)
