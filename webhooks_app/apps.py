from django.apps import AppConfig


class WebhooksAppConfig(AppConfig):
    name = "webhooks_app"
    verbose_name = "Events and webhooks"

    def ready(self) -> None:
        # Connects the post_save receiver that turns audit events into deliveries.
        from . import outbox  # noqa: F401
