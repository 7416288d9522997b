from django.apps import AppConfig


class FederationAppConfig(AppConfig):
    name = "federation_app"
    verbose_name = "Team registries and the central catalog"

    def ready(self) -> None:
        from models_app.mirrors import register_mirror_reader

        from . import checks, selectors  # noqa: F401  (checks registers itself)

        # The doors show a mirrored version's card, reviews and promotion checks as its
        # origin recorded them (models_app.mirrors).
        register_mirror_reader(selectors.READER)
