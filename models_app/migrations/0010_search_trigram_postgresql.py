"""On PostgreSQL, trigram indexes for the models list's ?search= (a case-insensitive
substring of the name or the description).

Django compiles `icontains` to UPPER(column::text) LIKE UPPER(%s) on PostgreSQL; a GIN
index over UPPER(column::text) with pg_trgm's operator class serves that LIKE. When the
database user may not create the pg_trgm extension, the indexes are skipped (the search
still works, reading the models table) and the migration says so. Other databases get
nothing: there the search reads the models table, one row per model.
"""

from django.db import migrations, transaction

TABLE = "models_app_registeredmodel"
INDEXES = {
    "registeredmodel_name_trgm": "name",
    "registeredmodel_description_trgm": "description",
}


def create(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as exc:  # no right to create the extension: search works unindexed
        print(f"\n  pg_trgm is not available ({exc}); ?search= will not be indexed.")
        return
    with connection.cursor() as cursor:
        for name, column in INDEXES.items():
            cursor.execute(
                f'CREATE INDEX IF NOT EXISTS "{name}" ON "{TABLE}" '
                f'USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
            )


def drop(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for name in INDEXES:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [
        ("models_app", "0009_keyset_indexes"),
    ]

    operations = [migrations.RunPython(create, drop)]
