"""Keyset (cursor) pages: the rows after a known sort key, read from an index.

An offset makes the database read and skip every row before the page, so deep pages of a
large table get slower and slower; a sort key lets it start reading in an index exactly
where the previous page ended, so every page costs the same.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Expression


class RowCompare(Expression):
    """`(a, b, …) op (x, y, …)`: SQL's row comparison, which PostgreSQL's b-tree indexes
    answer as a range (and SQLite reads the same way). `op` is one of < <= > >= =."""

    output_field = models.BooleanField()
    OPERATORS = ("<", "<=", ">", ">=", "=")

    def __init__(self, columns: list, op: str, values: list) -> None:
        if op not in self.OPERATORS or len(columns) != len(values) or not columns:
            raise ValueError("a row comparison needs an operator and as many values as columns")
        super().__init__()
        self.columns, self.op, self.values = list(columns), op, list(values)

    def get_source_expressions(self):
        return [*self.columns, *self.values]

    def set_source_expressions(self, exprs):
        n = len(self.columns)
        self.columns, self.values = list(exprs[:n]), list(exprs[n:])

    def as_sql(self, compiler, connection):
        sides, params = [], []
        for side in (self.columns, self.values):
            parts = []
            for expr in side:
                sql, expr_params = compiler.compile(expr)
                parts.append(sql)
                params.extend(expr_params)
            sides.append(f"({', '.join(parts)})")
        return f"{sides[0]} {self.op} {sides[1]}", params


def keyset_page(
    rows: models.QuerySet, fields: tuple[str, ...], size: int, direction: str = "", at=None
) -> tuple[list, bool, bool]:
    """One page of `rows`, newest first by `fields` (the last one unique): the first page
    when `direction` is "", else the page just "older" or "newer" than the row whose values
    of `fields` are `at`. Returns (rows newest first, more older rows, more newer rows). The
    row at the cursor lies on the side its link came from."""
    newest_first = tuple(f"-{name}" for name in fields)
    if not direction:
        page = list(rows.order_by(*newest_first)[: size + 1])
        return page[:size], len(page) > size, False
    key = [models.F(name) for name in fields]
    values = [models.Value(value) for value in at]
    if direction == "older":
        rows = rows.filter(RowCompare(key, "<", values)).order_by(*newest_first)
    else:
        rows = rows.filter(RowCompare(key, ">", values)).order_by(*fields)
    page = list(rows[: size + 1])
    more = len(page) > size
    page = page[:size]
    if direction == "newer":
        page.reverse()
        return page, True, more
    return page, more, True
