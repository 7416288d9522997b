from django.apps import AppConfig


class MlflowAppConfig(AppConfig):
    name = "mlflow_app"
    verbose_name = "MLflow compatibility"
