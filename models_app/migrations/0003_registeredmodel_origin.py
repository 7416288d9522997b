"""RegisteredModel.origin: the team registry a mirrored catalog entry came from (SPEC §11).

SQLite cannot add a NOT NULL column with a default in place, so Django rebuilds the two
tables, and a rebuilt table loses its triggers: the append-only triggers of migration 0002
are installed again afterwards (they are idempotent: CREATE … IF NOT EXISTS / DROP … IF
EXISTS).
"""

from django.db import migrations, models

from models_app.dbtriggers import install

# The same tables as migration 0002.
TABLES = [
    "models_app_auditevent",
    "models_app_historicalteam",
    "models_app_historicalmembership",
    "models_app_historicalregisteredmodel",
    "models_app_historicalmodelversion",
    "models_app_historicalpromotionpolicy",
]


class Migration(migrations.Migration):
    dependencies = [
        ("models_app", "0002_audit_triggers"),
    ]

    operations = [
        migrations.AddField(
            model_name="historicalregisteredmodel",
            name="origin",
            field=models.CharField(blank=True, db_index=True, default="", max_length=40),
        ),
        migrations.AddField(
            model_name="registeredmodel",
            name="origin",
            field=models.CharField(blank=True, db_index=True, default="", max_length=40),
        ),
        migrations.RunPython(install(TABLES, identity=True), migrations.RunPython.noop),
    ]
