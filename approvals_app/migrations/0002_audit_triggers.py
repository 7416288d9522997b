"""Card revisions, reviews and their history are append-only in the database."""

from django.db import migrations

from models_app.dbtriggers import install, uninstall

TABLES = [
    "approvals_app_cardrevision",
    "approvals_app_review",
    "approvals_app_historicalmodelcard",
    "approvals_app_historicalreview",
]


class Migration(migrations.Migration):
    dependencies = [("approvals_app", "0001_initial"), ("models_app", "0002_audit_triggers")]

    operations = [migrations.RunPython(install(TABLES), uninstall(TABLES))]
