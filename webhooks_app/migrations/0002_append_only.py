"""The delivery attempt log and the subscriptions' history are append-only in the database."""

from django.db import migrations

from models_app.dbtriggers import install, uninstall

TABLES = ["webhooks_app_historicalsubscription", "webhooks_app_deliveryattempt"]


class Migration(migrations.Migration):
    dependencies = [("webhooks_app", "0001_initial"), ("models_app", "0002_audit_triggers")]

    operations = [migrations.RunPython(install(TABLES), uninstall(TABLES))]
