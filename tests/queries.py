"""Counting the SQL statements a block runs, through Django's documented execute_wrapper."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections


@contextmanager
def captured_queries(using: str = "default") -> Iterator[list[str]]:
    """The SQL of every statement run on `using` inside the block, in order."""
    queries: list[str] = []

    def record(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connections[using].execute_wrapper(record):
        yield queries
