from django.apps import AppConfig


class RegistrySiteConfig(AppConfig):
    """The site wiring as an app, so that its metrics are connected in every process (the
    web workers, `manage.py run_worker`, the other commands)."""

    name = "registry_site"
    verbose_name = "Registry site"

    def ready(self) -> None:
        from . import metrics

        metrics.connect()
