"""Database triggers that hold the audit trail and version identity in the database itself.

ORM code, the admin, a shell or a raw UPDATE all meet the same refusal (PITFALLS 1, 8).
Used by migrations through `RunPython(install(...), uninstall(...))`, so that the SQL fits
the database in use (SQLite or PostgreSQL).
"""

from __future__ import annotations

APPEND_ONLY_MESSAGE = "is append-only: audit rows cannot be changed or deleted"

IDENTITY_COLUMNS = (
    "registered_model_id",
    "version",
    "number",
    "precedence",
    "metrics",
    "params",
    "data_version",
    "code_version",
    "source_run",
    "created_by_id",
)
WRITE_ONCE_COLUMNS = (("artifact_uri", "''"), ("artifact_sha256", "''"), ("artifact_size", None))

_PG_FUNCTIONS = """
CREATE OR REPLACE FUNCTION registry_append_only() RETURNS trigger AS $$
BEGIN
    IF current_setting('registry.maintenance', true) = 'flush' THEN
        IF TG_OP = 'UPDATE' THEN RETURN NEW; END IF;
        RETURN OLD;
    END IF;
    RAISE EXCEPTION '% {message}', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END
$$ LANGUAGE plpgsql;
""".replace("{message}", APPEND_ONLY_MESSAGE)


def _sqlite_append_only(table: str) -> list[str]:
    return [
        f"""CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}
            WHEN NOT EXISTS (SELECT 1 FROM registry_maintenance)
            BEGIN SELECT RAISE(ABORT, '{table} {APPEND_ONLY_MESSAGE}'); END"""
        for op in ("UPDATE", "DELETE")
    ]


def _pg_append_only(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
        f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION registry_append_only()""",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION registry_append_only()""",
    ]


def _identity_condition(new_differs) -> str:
    parts = [new_differs(col) for col in IDENTITY_COLUMNS]
    for col, empty in WRITE_ONCE_COLUMNS:
        was_set = f"OLD.{col} IS NOT NULL" + (f" AND OLD.{col} <> {empty}" if empty else "")
        parts.append(f"({was_set} AND {new_differs(col)})")
    return " OR ".join(parts)


def _statements(vendor: str, tables: list[str], identity: bool) -> list[str]:
    if vendor == "sqlite":
        sql = ["CREATE TABLE IF NOT EXISTS registry_maintenance (reason TEXT)"]
        for table in tables:
            sql += _sqlite_append_only(table)
        if identity:
            condition = _identity_condition(lambda c: f"NEW.{c} IS NOT OLD.{c}")
            sql.append(
                f"""CREATE TRIGGER IF NOT EXISTS modelversion_identity_immutable
                    BEFORE UPDATE ON models_app_modelversion WHEN {condition}
                    BEGIN SELECT RAISE(ABORT,
                      'model version identity fields are immutable after registration'); END"""
            )
        return sql
    if vendor == "postgresql":
        sql = [_PG_FUNCTIONS]
        for table in tables:
            sql += _pg_append_only(table)
        if identity:
            condition = _identity_condition(lambda c: f"NEW.{c} IS DISTINCT FROM OLD.{c}")
            sql += [
                f"""CREATE OR REPLACE FUNCTION registry_modelversion_identity() RETURNS trigger
                AS $$ BEGIN
                    IF {condition} THEN
                        RAISE EXCEPTION
                          'model version identity fields are immutable after registration'
                          USING ERRCODE = 'integrity_constraint_violation';
                    END IF;
                    RETURN NEW;
                END $$ LANGUAGE plpgsql""",
                "DROP TRIGGER IF EXISTS modelversion_identity_immutable ON models_app_modelversion",
                """CREATE TRIGGER modelversion_identity_immutable
                   BEFORE UPDATE ON models_app_modelversion
                   FOR EACH ROW EXECUTE FUNCTION registry_modelversion_identity()""",
            ]
        return sql
    raise NotImplementedError(f"No audit triggers for the {vendor} database.")


def install(tables: list[str], *, identity: bool = False):
    def forward(apps, schema_editor):
        for statement in _statements(schema_editor.connection.vendor, tables, identity):
            schema_editor.execute(statement, params=None)

    return forward


def uninstall(tables: list[str], *, identity: bool = False):
    def backward(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        for table in tables:
            if vendor == "sqlite":
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
            else:
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        if identity:
            suffix = "" if vendor == "sqlite" else " ON models_app_modelversion"
            schema_editor.execute(f"DROP TRIGGER IF EXISTS modelversion_identity_immutable{suffix}")

    return backward
