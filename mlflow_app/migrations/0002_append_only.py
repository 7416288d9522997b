"""The history of aliases and of MLflow-door deletions is append-only in the database."""

from django.db import migrations

from models_app.dbtriggers import install, uninstall

TABLES = [
    "mlflow_app_historicalmodelalias",
    "mlflow_app_historicaldeletedmodel",
    "mlflow_app_historicaldeletedversion",
]


class Migration(migrations.Migration):
    dependencies = [("mlflow_app", "0001_initial"), ("models_app", "0002_audit_triggers")]

    operations = [migrations.RunPython(install(TABLES), uninstall(TABLES))]
