"""The text of one key of a JSON object column, for filters on tags.

Django's `KT("tags__owner")` reads a path: "__" in it separates nested keys, so a tag key
like "a__b" would be read as key "b" inside key "a". Tag keys may contain "__", so this
expression takes the key as one SQL parameter and never splits it. It is written with
Django's documented query-expression API (`Func.as_sql` and its per-database variants).
"""

from __future__ import annotations

from django.db.models import F, Func, TextField


class JSONKeyText(Func):
    """`JSONKeyText("tags", "owner")`: the text of key "owner" of the JSON object in the
    column "tags", or NULL when the key is absent. Keys are taken literally; a key that
    looks like a number is still a key, not an array index."""

    output_field = TextField()

    def __init__(self, field: str, key: str):
        super().__init__(F(field))
        self.key = key

    def as_sql(self, compiler, connection, **extra_context):
        # PostgreSQL: `->>` with a text operand reads that object key as text.
        (column,) = self.get_source_expressions()
        sql, params = compiler.compile(column)
        return f"({sql} ->> %s::text)", (*params, self.key)

    def as_sqlite(self, compiler, connection, **extra_context):
        # SQLite: its JSON paths cannot quote every key (a '"' ends a quoted label), so
        # look the key up among the object's entries instead; tag values are strings,
        # which json_each returns as text.
        (column,) = self.get_source_expressions()
        sql, params = compiler.compile(column)
        return (
            f"(SELECT tag.value FROM json_each({sql}) AS tag WHERE tag.key = %s)",  # noqa: S608
            (*params, self.key),
        )
