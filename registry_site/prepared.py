"""Querysets compiled to SQL once and run many times with new values.

Turning a queryset into SQL is most of the cost of a small read in Django: for the
registry's hot lookups (a token with its user, a version with its model, team and author)
the compiler takes about a millisecond and the database a few hundredths of one. A
`PreparedQuery` builds its queryset once, with `Param` placeholders where the values go,
keeps the compiled SQL and the compiler's column map, and for each call only swaps the
values in, runs the SQL and turns the rows into model instances exactly as the queryset
would (the same converters, `select_related` objects and annotations).

The SQL depends on the database backend, so it is compiled once per connection alias
and vendor. What Django writes into the SQL text itself (LIMIT and OFFSET of a slice,
the number of alternatives in an OR, JSON key paths) belongs to the shape: `build`
takes it as keyword arguments, and each distinct shape is compiled once (`shapes`
bounds how many are kept, oldest out first).

Only lookups that pass their right-hand side through as a placeholder may take a `Param`
(exact and comparisons; `__in` does not, an OR of exact lookups does): each call must
give a value for exactly the Params found in the compiled SQL, so a Param that a lookup
swallowed is an error, not a silent mismatch. As in Django's own exact lookups, an
integer outside the range of its column matches nothing, and the query is not run: keep
integers from clients in exact lookups, or check their range first. A queryset of
`values_list()` yields its rows as tuples: the fields in order, then the annotations.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from threading import Lock
from typing import Any

from django.db import connections, models
from django.db.models import Q
from django.db.models.expressions import Expression
from django.db.models.query import QuerySet, get_related_populators
from django.db.transaction import TransactionManagementError


class Param(Expression):
    """A named placeholder for a value of type `output_field` in a prepared queryset."""

    def __init__(self, name: str, output_field: models.Field) -> None:
        super().__init__(output_field=output_field)
        self.name = name

    def __repr__(self) -> str:
        return f"Param({self.name!r})"

    def as_sql(self, compiler, connection):
        return "%s", [self]


class _Compiled:
    """One shape's SQL, the positions of its parameters, and what turns rows into objects."""

    def __init__(self, queryset: QuerySet) -> None:
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        self.sql, self.params = sql, list(params)
        self.slots = [
            (i, p.name, p.output_field) for i, p in enumerate(params) if isinstance(p, Param)
        ]
        self.names = frozenset(name for _i, name, _field in self.slots)
        self.compiler = compiler
        self.for_update = queryset.query.select_for_update
        columns = [column[0] for column in compiler.select[: compiler.col_count]]
        if compiler.has_composite_fields(columns):
            raise ValueError("prepared query: composite primary keys are not supported")
        self.converters = compiler.get_converters(columns)
        # values_list(): plain rows, the fields first, then the annotations.
        self.model = None if queryset.query.values_select else compiler.klass_info["model"]
        if self.model is None:
            return
        klass_info = compiler.klass_info
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        self.fields = (start, end)
        self.init_list = [f[0].target.attname for f in compiler.select[start:end]]
        self.populators = get_related_populators(klass_info, compiler.select, queryset.db)
        self.annotations = dict(compiler.annotation_col_map or {})


class PreparedQuery:
    """`build(**shape, **context)` returns a queryset with `Param`s in it; calling the
    prepared query with a value for each Param (and the shape) returns what the queryset
    would: model instances, or tuples for `values_list()`.

    `context` reaches `build` only when a shape is compiled: it is for arguments that do
    not change the SQL of a given shape (a search's parsed clauses, say).

        by_name = PreparedQuery(
            lambda: RegisteredModel.objects.filter(name=Param("name", CharField()))[:1]
        )
        by_name.first(name="fraud_detector")  # the model, or None
    """

    def __init__(self, build: Callable[..., QuerySet], *, shapes: int = 64) -> None:
        self.build = build
        self.shapes = shapes
        self._compiled: OrderedDict[tuple, _Compiled] = OrderedDict()
        self._lock = Lock()

    def prepare(
        self, *, using: str = "default", shape: dict | None = None, context: dict | None = None
    ) -> _Compiled:
        shape = shape or {}
        key = (using, connections[using].vendor, tuple(sorted(shape.items())))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = _Compiled(self.build(**shape, **(context or {})).using(using))
            with self._lock:
                self._compiled[key] = compiled
                while len(self._compiled) > self.shapes:
                    self._compiled.popitem(last=False)
        return compiled

    def __call__(self, **kwargs) -> list:
        return list(self.iterate(**kwargs))

    def first(self, **kwargs):
        """The first object, or None; `build` should slice to one row."""
        for obj in self.iterate(**kwargs):
            return obj
        return None

    def iterate(
        self,
        *,
        using: str = "default",
        shape: dict | None = None,
        context: dict | None = None,
        **values,
    ) -> Iterator:
        compiled = self.prepare(using=using, shape=shape, context=context)
        if values.keys() != compiled.names:
            raise TypeError(
                f"prepared query: values for {sorted(values)} given, the SQL has "
                f"{sorted(compiled.names)}; a Param must sit in a lookup that passes it "
                "through as a placeholder"
            )
        connection = connections[using]
        if (
            compiled.for_update
            and connection.features.has_select_for_update
            and connection.get_autocommit()
        ):
            # What Django checks when it compiles such a query, checked on every run here.
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        params = list(compiled.params)
        for index, name, field in compiled.slots:
            value = _db_value(field, values[name], connection)
            if value is _OUT_OF_RANGE:
                return
            params[index] = value
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            rows = cursor.fetchall()
        if compiled.converters:
            rows = compiled.compiler.apply_converters(rows, compiled.converters)
        if compiled.model is None:
            yield from map(tuple, rows)
            return
        start, end = compiled.fields
        for row in rows:
            obj = compiled.model.from_db(using, compiled.init_list, row[start:end])
            for populator in compiled.populators:
                populator.populate(row, obj)
            for attr, position in compiled.annotations.items():
                setattr(obj, attr, row[position])
            yield obj


def numbered(prefix: str, count: int, output_field: models.Field | None = None):
    """Names `prefix0` … `prefix{count-1}`, or the Params of those names for `output_field`."""
    names = tuple(f"{prefix}{i}" for i in range(count))
    if output_field is None:
        return names
    return [Param(name, output_field) for name in names]


def one_of(field: str, values: list) -> Q:
    """`field` equal to one of `values`: an OR of exact lookups for Params (which `__in`
    does not take), `__in` for plain values (SQLite limits how deep an OR may nest)."""
    if not any(isinstance(value, Param) for value in values):
        return Q(**{f"{field}__in": values})
    condition = Q()
    for value in values:
        condition |= Q(**{field: value})
    return condition


_OUT_OF_RANGE = object()


def _db_value(field: models.Field, value: Any, connection) -> Any:
    if value is None:
        return None
    value = field.get_db_prep_value(value, connection, prepared=False)
    if isinstance(field, models.IntegerField):
        low, high = connection.ops.integer_field_range(field.get_internal_type())
        if (low is not None and value < low) or (high is not None and value > high):
            return _OUT_OF_RANGE
    return value


# --- Writes ----------------------------------------------------------------------------------


class _Insert:
    """One model's INSERT of one list of columns, as Django compiled it for a first row."""

    def __init__(self, compiler, sql: str, returning_fields) -> None:
        self.compiler, self.sql = compiler, sql
        self.returning_fields = list(returning_fields or ())
        self.returning_params = tuple(getattr(compiler, "returning_params", ()))
        table = compiler.query.get_meta().db_table
        self.table = table
        self.converters = compiler.get_converters(
            [field.get_col(table) for field in self.returning_fields]
        )

    def run(self, connection, params: list) -> list:
        """Django's InsertCompiler.execute_sql for one row, with this statement."""
        with connection.cursor() as cursor:
            cursor.execute(self.sql, [*params, *self.returning_params])
            if not self.returning_fields:
                return []
            if connection.features.can_return_columns_from_insert:
                rows = [connection.ops.fetch_returned_insert_columns(cursor, ())]
            else:
                column = self.returning_fields[0].column
                rows = [(connection.ops.last_insert_id(cursor, self.table, column),)]
        if self.converters:
            rows = self.compiler.apply_converters(rows, self.converters)
        return list(rows)


_WRITES: dict[tuple, object] = {}
_WRITES_LOCK = Lock()
_NOT_REUSABLE = object()


def _remember(key: tuple, statement) -> None:
    with _WRITES_LOCK:
        _WRITES[key] = statement


class PreparedWrites(models.Model):
    """Saves whose INSERT and UPDATE are compiled once per model and list of columns.

    `Model.save()` compiles its statement anew for every row; for the registry's writes
    (a version, its card and revision, their history rows, the audit event) that was most
    of their cost. This base class keeps everything `save()` does (pre_save values such as
    auto_now, signals, simple-history, returned primary keys, `update_fields`) and swaps
    only the two methods that run the statement, `_do_insert` and `_do_update`, for ones
    that reuse the compiled SQL. Whatever a reused statement could not express (an
    expression as a value, a field with a placeholder of its own, raw saves of fixtures,
    `select_on_save`) goes Django's own way.
    """

    class Meta:
        abstract = True

    def _do_insert(self, manager, using, fields, returning_fields, raw):
        connection = connections[using]
        key = (
            "insert",
            manager.model,
            using,
            connection.vendor,
            tuple(f.attname for f in fields),
            tuple(f.attname for f in returning_fields or ()),
        )
        statement = _WRITES.get(key)
        if raw or not fields or statement is _NOT_REUSABLE:
            return super()._do_insert(manager, using, fields, returning_fields, raw)
        if statement is None:
            statement = _prepare_insert(manager.model, fields, returning_fields, using)
            if statement is None:
                _remember(key, _NOT_REUSABLE)
                return super()._do_insert(manager, using, fields, returning_fields, raw)
            _remember(key, statement)
        # What InsertCompiler.prepare_value(field, pre_save_val(field, obj)) does for a plain
        # value. An expression (set on the object, or given by a pre_save) needs the
        # compiler's checks and SQL of its own: that row goes Django's way, whose pre_save
        # then runs once more (auto_now takes a new time; nothing else here has effects).
        params = []
        for field in fields:
            value = field.pre_save(self, True)
            if hasattr(value, "resolve_expression"):
                return super()._do_insert(manager, using, fields, returning_fields, raw)
            params.append(field.get_db_prep_save(value, connection=connection))
        return statement.run(connection, params)

    def _do_update(self, base_qs, using, pk_val, values, update_fields, forced_update):
        if (
            not values
            or self._meta.select_on_save
            or base_qs.query.where
            or any(
                hasattr(field, "get_placeholder")
                or hasattr(value, "resolve_expression")
                or hasattr(value, "prepare_database_save")
                for field, _model, value in values
            )
        ):
            return super()._do_update(base_qs, using, pk_val, values, update_fields, forced_update)
        connection = connections[using]
        fields = [field for field, _model, _value in values]
        key = ("update", base_qs.model, using, connection.vendor, tuple(f.attname for f in fields))
        statement = _WRITES.get(key)
        if statement is None:
            statement = _prepare_update(base_qs, fields, using)
            _remember(key, statement)
        sql, pk_position = statement
        params = [
            field.get_db_prep_save(value, connection=connection) for field, _m, value in values
        ]
        params.insert(
            pk_position,
            base_qs.model._meta.pk.get_db_prep_value(pk_val, connection, prepared=False),
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount > 0


def _prepare_insert(model, fields: list, returning_fields, using: str) -> _Insert | None:
    """The INSERT Django compiles for `fields` of `model`, if each column is one plain
    placeholder (no field of these has a placeholder of its own); else None."""
    if any(hasattr(f, "get_placeholder") for f in fields):
        return None
    query = models.sql.InsertQuery(model)
    # A stand-in row: the SQL does not depend on plain values, and pre_save must run only
    # once, on the real row, when its values are taken.
    query.insert_values(fields, [_Placeholders(fields)])
    compiler = query.get_compiler(using=using)
    compiler.returning_fields = returning_fields
    try:
        statements = compiler.as_sql()
    except (TypeError, ValueError):
        return None
    if len(statements) != 1:
        return None
    sql, params = statements[0]
    returning_params = tuple(getattr(compiler, "returning_params", ()))
    if len(params) != len(fields) + len(returning_params):
        return None
    return _Insert(compiler, sql, returning_fields)


class _Placeholders:
    """A row whose every field is None, for compiling an INSERT without a real row."""

    def __init__(self, fields) -> None:
        for field in fields:
            setattr(self, field.attname, None)


def _prepare_update(base_qs, fields: list, using: str) -> tuple[str, int]:
    """UPDATE … SET each field = %s WHERE pk = %s, compiled with Params for the values;
    returns the SQL and where the primary key goes among the parameters."""
    query = base_qs.filter(pk=Param("pk", base_qs.model._meta.pk)).query.chain(
        models.sql.UpdateQuery
    )
    query.add_update_fields([(f, None, Param(f"v{i}", f)) for i, f in enumerate(fields)])
    sql, params = query.get_compiler(using).as_sql()
    names = [p.name if isinstance(p, Param) else None for p in params]
    if names[:-1] != [f"v{i}" for i in range(len(fields))] or names[-1] != "pk":
        raise ValueError(f"prepared update of {base_qs.model.__name__}: unexpected SQL {sql}")
    return sql, len(fields)
