from django.apps import AppConfig


class DemoAppConfig(AppConfig):
    """The demo data (`manage.py seed_demo`): built through every app's services, so it
    sits above them all and nothing imports it."""

    name = "demo_app"
    verbose_name = "Demo data"
