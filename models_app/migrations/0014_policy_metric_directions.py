"""PromotionPolicy.metric_directions: which way metrics the key metrics do not rank improve.

SQLite cannot add a NOT NULL column with a default in place, so Django rebuilds the
policy's history table, and a rebuilt table loses its triggers: the append-only triggers
of migration 0002 are installed again afterwards for that table (idempotent: CREATE …
IF NOT EXISTS). PostgreSQL adds the column in place and keeps its triggers.

The SQL is written out here as it stood when this migration was made, and nothing is
imported from the project: a migration must do the same on every database it runs on,
whatever later becomes of the code.
"""

from django.db import migrations, models

TABLE = "models_app_historicalpromotionpolicy"

# As in migrations 0002 and 0003: the table refuses UPDATE and DELETE unless
# registry_maintenance has a row (only while the database is flushed).
SQLITE_MAINTENANCE = "CREATE TABLE IF NOT EXISTS registry_maintenance (reason TEXT)"
SQLITE_APPEND_ONLY = """CREATE TRIGGER IF NOT EXISTS {table}_no_{op_name} BEFORE {op} ON {table}
            WHEN NOT EXISTS (SELECT 1 FROM registry_maintenance)
            BEGIN SELECT RAISE(ABORT, '{table} is append-only: audit rows cannot be changed or deleted'); END"""


def reinstall_append_only(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    schema_editor.execute(SQLITE_MAINTENANCE, params=None)
    for op in ("UPDATE", "DELETE"):
        statement = SQLITE_APPEND_ONLY.format(table=TABLE, op=op, op_name=op.lower())
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("models_app", "0013_auditevent_action_without_choices"),
    ]

    operations = [
        migrations.AddField(
            model_name="historicalpromotionpolicy",
            name="metric_directions",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="promotionpolicy",
            name="metric_directions",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(reinstall_append_only, migrations.RunPython.noop),
    ]
