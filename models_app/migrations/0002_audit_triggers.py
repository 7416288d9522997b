"""Append-only audit tables and immutable version identity, enforced by the database."""

from django.db import migrations

from models_app.dbtriggers import install, uninstall

TABLES = [
    "models_app_auditevent",
    "models_app_historicalteam",
    "models_app_historicalmembership",
    "models_app_historicalregisteredmodel",
    "models_app_historicalmodelversion",
    "models_app_historicalpromotionpolicy",
]


class Migration(migrations.Migration):
    dependencies = [("models_app", "0001_initial")]

    operations = [
        migrations.RunPython(install(TABLES, identity=True), uninstall(TABLES, identity=True)),
    ]
