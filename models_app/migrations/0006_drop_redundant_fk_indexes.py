# Drops the single-column indexes of three foreign keys that other indexes already lead with
# (modelversion: every index in Meta; auditevent: audit_by_model, audit_by_version).
#
# Only the indexes go, by name: Django would alter these fields on SQLite by rebuilding the
# whole table, which would also drop the audit table's append-only triggers (migration
# 0002). The names are those Django gave the indexes, alike on SQLite and PostgreSQL.

import django.db.models.deletion
from django.db import migrations, models

INDEXES = [
    ("models_app_auditevent_model_version_id_b5e57b5f", "models_app_auditevent", "model_version_id"),
    ("models_app_auditevent_registered_model_id_4fdf8735", "models_app_auditevent", "registered_model_id"),
    ("models_app_modelversion_registered_model_id_b47639bb", "models_app_modelversion", "registered_model_id"),
]


class Migration(migrations.Migration):

    dependencies = [
        ('models_app', '0005_version_stage_number_index'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{name}"',
                    reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}")',
                )
                for name, table, column in INDEXES
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='auditevent',
                    name='model_version',
                    field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='audit_events', to='models_app.modelversion'),
                ),
                migrations.AlterField(
                    model_name='auditevent',
                    name='registered_model',
                    field=models.ForeignKey(blank=True, db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='audit_events', to='models_app.registeredmodel'),
                ),
                migrations.AlterField(
                    model_name='modelversion',
                    name='registered_model',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='versions', to='models_app.registeredmodel'),
                ),
            ],
        ),
    ]
