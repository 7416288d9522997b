"""MLflow's search syntax for registered models and versions, turned into database filters.

The subset MLflow's own SQL store accepts: clauses joined by AND, each `key comparator
value`, where the key is an attribute (`name`, `run_id`, `source_path`, `version_number`,
`creation_timestamp`, `last_updated_timestamp`, optionally prefixed `attribute.`) or a tag
(``tag.key``, ``tags.`key with dots` ``); comparators `=`, `!=`, `LIKE`, `ILIKE` (and `IN`,
`NOT IN`, `<`, `<=`, `>`, `>=` where MLflow has them); values quoted with ' or ".
The client itself appends ``tag.`mlflow.prompt.is_prompt` != 'true'`` to model searches,
which matches models without that tag, as in MLflow. Filtering runs in the database, so a
search costs the same few queries however many rows there are.

Everything here takes time linear in the filter's length: the filter is read by a scanner
that looks at each character a bounded number of times (no regular expression that can
backtrack, no re-splitting of what is left), and LIKE patterns become the database's own
LIKE (or, for case-sensitive LIKE on SQLite, GLOB), never a regular expression. The caps
below keep what reaches the database small.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Lookup, Q, Subquery, Value

from models_app.json_keys import JSONKeyText
from models_app.keyset import RowCompare
from models_app.models import RegisteredModel

from . import wire

PROMPT_TAG = "mlflow.prompt.is_prompt"
_PREFIXES = {
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
}

STRING_OPS = {"=", "!=", "LIKE", "ILIKE"}
LIST_OPS = {"IN", "NOT IN"}
NUMERIC_OPS = {"=", "!=", "<", "<=", ">", ">="}
# A page token longer than this was not made by this server.
MAX_TOKEN_LENGTH = 4096

# A whole filter: GET requests carry it in the URL, and common web servers refuse request
# lines longer than a few KiB, so no working client sends more than this.
MAX_FILTER_LENGTH = 8192
# Clauses of one filter: each becomes a condition of the query; MLflow's client adds one.
MAX_CLAUSES = 50
# A LIKE/ILIKE pattern, in characters as written (escapes included). Model names have at
# most 100 characters and run ids 32; longer artifact URIs are matched by a prefix.
MAX_PATTERN_LENGTH = 256
# `%` and `_` wildcards of one pattern (unescaped, each one counted). Searches use one or
# two (`fraud%`, `%tree%`); the cost of a match grows with the number of `%`.
MAX_PATTERN_WILDCARDS = 16
# Digits of a number: a 64-bit integer has at most 19.
MAX_NUMBER_DIGITS = 20
LIKE_ESCAPE = "\\"


class SearchError(ValidationError):
    """A filter, order or page token the door cannot read (INVALID_PARAMETER_VALUE)."""


# --- Reading a filter --------------------------------------------------------------------------

# Each of these is one character class repeated, matched from a given position: it takes
# time linear in what it consumes and cannot backtrack.
_SPACE = re.compile(r"\s*")
_BARE_KEY = re.compile(r"[\w.\-]+")
_WORD = re.compile(r"[A-Za-z]+")
_DIGITS = re.compile(r"[0-9]+")


def _show(text: str, limit: int = 80) -> str:
    """`text` for an error message, cut short if long."""
    return text if len(text) <= limit else text[:limit] + "…"


class _Scanner:
    """Reads a filter left to right, once; every error names where it stopped."""

    def __init__(self, text: str) -> None:
        self.text, self.pos, self.end = text, 0, len(text)

    def error(self, message: str) -> SearchError:
        return SearchError(f"Invalid filter '{_show(self.text)}': {message}")

    def skip_space(self) -> bool:
        """Skip whitespace; True if there was some."""
        start = self.pos
        self.pos = _SPACE.match(self.text, self.pos).end()
        return self.pos > start

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < self.end else ""

    def rest(self) -> str:
        return _show(self.text[self.pos :], 40)

    def word(self) -> str:
        match = _WORD.match(self.text, self.pos)
        if not match:
            return ""
        self.pos = match.end()
        return match.group().upper()

    def quoted(self, *, doubled: bool) -> str:
        """The text between the quote at `pos` and its closing quote; with `doubled`, a
        quote written twice stands for itself (SQL's 'it''s')."""
        quote = self.text[self.pos]
        parts, start = [], self.pos + 1
        while True:
            close = self.text.find(quote, start)
            if close < 0:
                raise self.error(f"unterminated quote {quote}.")
            parts.append(self.text[start:close])
            if doubled and self.text.startswith(quote, close + 1):
                parts.append(quote)
                start = close + 2
                continue
            self.pos = close + 1
            return "".join(parts)

    def key(self) -> tuple[str, str]:
        """(kind, key) of a clause: `attribute` or `tag`, and the unquoted key."""
        if self.peek() in ("`", '"'):
            name = self.quoted(doubled=False)
            if not name:
                raise self.error("a quoted key must not be empty.")
            return "attribute", name
        match = _BARE_KEY.match(self.text, self.pos)
        if not match:
            raise self.error(f"expected a key at '{self.rest()}'.")
        bare, self.pos = match.group(), match.end()
        if bare.endswith(".") and self.peek() in ("`", '"'):
            head, name = bare[:-1], self.quoted(doubled=False)
            if not name:
                raise self.error("a quoted key must not be empty.")
            if head.lower() in _PREFIXES:
                return _PREFIXES[head.lower()], name
            return "attribute", f"{head}.{name}"
        head, dot, rest = bare.partition(".")
        if dot and rest and head.lower() in _PREFIXES:
            return _PREFIXES[head.lower()], rest
        return "attribute", bare

    def operator(self) -> str:
        for op in ("!=", "<=", ">=", "=", "<", ">"):
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        word = self.word()
        if word in ("LIKE", "ILIKE", "IN"):
            return word
        if word == "NOT" and self.skip_space() and self.word() == "IN":
            return "NOT IN"
        raise self.error(
            "expected a comparator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN) "
            f"at '{self.rest()}'."
        )

    def string(self) -> str | None:
        if self.peek() in ("'", '"'):
            return self.quoted(doubled=True)
        return None

    def number(self) -> int | None:
        start = self.pos
        if self.peek() == "-":
            self.pos += 1
        match = _DIGITS.match(self.text, self.pos)
        if not match:
            self.pos = start
            return None
        if len(match.group()) > MAX_NUMBER_DIGITS:
            raise self.error(f"the number {_show(match.group(), 20)} is out of range.")
        self.pos = match.end()
        return int(self.text[start : self.pos])

    def string_list(self, op: str) -> list[str]:
        message = f"'{op}' needs a parenthesised list of quoted strings."
        if self.peek() != "(":
            raise self.error(message)
        self.pos += 1
        values = []
        while True:
            self.skip_space()
            value = self.string()
            if value is None:
                raise self.error(message)
            values.append(value)
            self.skip_space()
            char = self.peek()
            self.pos += 1
            if char == ")":
                return values
            if char != ",":
                raise self.error(message)

    def value(self, op: str):
        if op in LIST_OPS:
            return self.string_list(op)
        value = self.string()
        if value is None:
            value = self.number()
        if value is None:
            raise self.error(f"invalid value at '{self.rest()}': quote strings with ' or \".")
        return value

    def clauses(self) -> list[dict]:
        clauses = []
        while True:
            self.skip_space()
            if len(clauses) == MAX_CLAUSES:
                raise self.error(f"a filter has at most {MAX_CLAUSES} clauses.")
            kind, key = self.key()
            self.skip_space()
            op = self.operator()
            self.skip_space()
            value = self.value(op)
            clauses.append({"type": kind, "key": key, "op": op, "value": value})
            self.skip_space()
            if self.pos == self.end:
                return clauses
            where = self.rest()
            joiner = self.word()
            if joiner == "AND" and self.skip_space() and self.pos < self.end:
                continue
            if joiner == "AND":
                raise self.error("expected another clause after AND.")
            hint = " (OR is not supported; join clauses with AND)" if joiner == "OR" else ""
            raise self.error(f"expected AND and another clause at '{where}'{hint}.")


def parse_filter(text: str | None) -> list[dict]:
    """[{"type": "attribute"|"tag", "key", "op", "value"}] for an MLflow filter string."""
    if not text:
        return []
    if len(text) > MAX_FILTER_LENGTH:
        raise SearchError(
            f"Invalid filter: it has {len(text)} characters, at most {MAX_FILTER_LENGTH} "
            "are accepted."
        )
    if "\x00" in text:
        raise SearchError("Invalid filter: it contains a NUL character.")
    if not text.strip():
        return []
    return _Scanner(text).clauses()


# --- LIKE and ILIKE ----------------------------------------------------------------------------


def like_parts(pattern: str) -> list[str]:
    """An MLflow LIKE pattern read once: each item is `%` (any run of characters), `_` (one
    character) or a literal character prefixed by the escape character `\\`. A `\\` in the
    pattern makes the next character literal (`\\%`, `\\_`, `\\\\`); runs of `%` become
    one. Refuses patterns over the caps and a pattern that ends with a lone `\\`."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise SearchError(
            f"Invalid LIKE pattern: it has {len(pattern)} characters, at most "
            f"{MAX_PATTERN_LENGTH} are accepted."
        )
    parts: list[str] = []
    wildcards, escaped = 0, False
    for char in pattern:
        if escaped:
            parts.append(LIKE_ESCAPE + char)
            escaped = False
        elif char == LIKE_ESCAPE:
            escaped = True
        elif char in "%_":
            wildcards += 1
            if not (char == "%" and parts and parts[-1] == "%"):
                parts.append(char)
        else:
            parts.append(LIKE_ESCAPE + char)
    if escaped:
        raise SearchError(
            f"Invalid LIKE pattern '{_show(pattern)}': it ends with the escape character "
            "\\; write \\\\ for a backslash."
        )
    if wildcards > MAX_PATTERN_WILDCARDS:
        raise SearchError(
            f"Invalid LIKE pattern '{_show(pattern)}': it has {wildcards} wildcards (% and _), "
            f"at most {MAX_PATTERN_WILDCARDS} are accepted; escape literal ones as \\% and \\_."
        )
    return parts


def like_sql_pattern(pattern: str) -> str:
    """The pattern for SQL `LIKE … ESCAPE '\\'`: the escape only where it is needed."""
    out = []
    for part in like_parts(pattern):
        if part in ("%", "_") or part[1] in ("%", "_", LIKE_ESCAPE):
            out.append(part)
        else:
            out.append(part[1])
    return "".join(out)


def like_glob_pattern(pattern: str) -> str:
    """The same pattern for SQLite's GLOB (case-sensitive): `*` and `?` for the wildcards,
    GLOB's own special characters in brackets, which make them literal."""
    out = []
    for part in like_parts(pattern):
        if part == "%":
            out.append("*")
        elif part == "_":
            out.append("?")
        elif part[1] in ("*", "?", "["):
            out.append(f"[{part[1]}]")
        else:
            out.append(part[1])
    return "".join(out)


@models.CharField.register_lookup
@models.TextField.register_lookup
class MlflowLike(Lookup):
    """MLflow's case-sensitive LIKE (`field__mlflow_like=pattern`), the same on every
    database: SQL `LIKE … ESCAPE '\\'` on PostgreSQL, whose LIKE is case-sensitive, and
    `GLOB` on SQLite, whose LIKE ignores ASCII case. Neither wraps the column in a
    function, so a pattern with a literal prefix can use an index on the column."""

    lookup_name = "mlflow_like"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} LIKE %s ESCAPE '\\'", [*params, like_sql_pattern(self.rhs)]

    def as_sqlite(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} GLOB %s", [*params, like_glob_pattern(self.rhs)]


@models.CharField.register_lookup
@models.TextField.register_lookup
class MlflowILike(Lookup):
    """MLflow's case-insensitive ILIKE (`field__mlflow_ilike=pattern`): PostgreSQL's ILIKE,
    SQLite's LIKE (which folds ASCII letters only); see docs/mlflow.md."""

    lookup_name = "mlflow_ilike"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} LIKE %s ESCAPE '\\'", [*params, like_sql_pattern(self.rhs)]

    def as_postgresql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} ILIKE %s ESCAPE '\\'", [*params, like_sql_pattern(self.rhs)]


# --- Filters -----------------------------------------------------------------------------------


def _string_q(field, op: str, value, *, what: str) -> Q:
    """A comparison of a text expression or field name with MLflow's string comparators."""
    expr = F(field) if isinstance(field, str) else field
    if op in LIST_OPS:  # fields only: tags take no lists
        q = Q(**{f"{field}__in": value})
        return ~q if op == "NOT IN" else q
    if not isinstance(value, str):
        raise SearchError(f"{what} compares with a quoted string, not {value!r}.")
    if op in ("=", "!="):
        # A field by name (none of them is nullable), an expression by its exact lookup.
        if isinstance(field, str):
            q = Q(**{field: value})
        else:
            q = Q(expr.get_lookup("exact")(expr, value))
        return ~q if op == "!=" else q
    if op in ("LIKE", "ILIKE"):
        like_parts(value)  # refuse a bad pattern now, before any query runs
        return Q((MlflowLike if op == "LIKE" else MlflowILike)(expr, value))
    raise SearchError(f"Comparator '{op}' is not supported for {what}.")


def _is_prompt_exclusion(key: str, op: str, value) -> bool:
    """The clause MLflow's client adds to model searches, which models without the tag match."""
    return key == PROMPT_TAG and (
        (op == "!=" and value == "true") or (op == "=" and value == "false")
    )


def _tag_q(key: str, op: str, value) -> Q:
    if op not in STRING_OPS:
        raise SearchError(f"Comparator '{op}' is not supported for tags; use =, !=, LIKE, ILIKE.")
    text = JSONKeyText("tags", key)
    present = Q(text.get_lookup("isnull")(text, False))  # tag values are never null
    q = present & _string_q(text, op, value, what=f"tag '{key}'")
    # Models carry no prompt tag, so MLflow counts "is_prompt != 'true'" as a match for them.
    if _is_prompt_exclusion(key, op, value):
        q |= ~present
    return q


def _timestamp_q(field: str, op: str, value) -> Q:
    if op not in NUMERIC_OPS or not isinstance(value, int):
        raise SearchError("Timestamps compare with =, !=, <, <=, >, >= and a number in ms.")
    try:
        when = datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise SearchError(f"Timestamp {value} is out of range.") from exc
    return _numeric_q(field, op, when)


def _numeric_q(field: str, op: str, value) -> Q:
    lookup = {"=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
    if op == "!=":
        return ~Q(**{field: value})
    if op not in lookup:
        raise SearchError(f"Comparator '{op}' is not supported for {field}.")
    return Q(**{f"{field}__{lookup[op]}": value})


def _model_q(clauses: list[dict]) -> Q:
    q = Q()
    for clause in clauses:
        key, op, value = clause["key"], clause["op"], clause["value"]
        if clause["type"] == "tag":
            q &= _tag_q(key, op, value)
        elif key == "name":
            q &= _string_q("name", op, value, what="name")
        elif key == "creation_timestamp":
            q &= _timestamp_q("created_at", op, value)
        elif key == "last_updated_timestamp":
            q &= _timestamp_q("updated_at", op, value)
        else:
            raise SearchError(
                f"Invalid attribute key '{_show(key)}' specified. Valid keys are "
                "'name', 'creation_timestamp', 'last_updated_timestamp' and tags."
            )
    return q


def _version_q(clauses: list[dict]) -> Q:
    q = Q()
    fields = {"name": "registered_model__name", "run_id": "source_run"}
    for clause in clauses:
        key, op, value = clause["key"], clause["op"], clause["value"]
        if clause["type"] == "tag":
            q &= _tag_q(key, op, value)
        elif key in fields:
            q &= _string_q(fields[key], op, value, what=key)
        elif key == "source_path":
            if op in LIST_OPS:
                raise SearchError("source_path compares with =, !=, LIKE or ILIKE.")
            q &= _string_q("artifact_uri", op, value, what=key)
        elif key == "version_number":
            if op in LIST_OPS:
                raise SearchError("version_number compares with =, !=, <, <=, >, >=.")
            digits = value.removeprefix("-") if isinstance(value, str) else ""
            if digits.isascii() and digits.isdigit():
                if len(digits) > MAX_NUMBER_DIGITS:
                    raise SearchError(f"version_number {_show(value, 20)} is out of range.")
                value = int(value)
            if not isinstance(value, int) or op not in NUMERIC_OPS:
                raise SearchError("version_number compares with a whole number.")
            if not _INT64[0] <= value <= _INT64[1]:
                raise SearchError(f"version_number {value} is out of range.")
            q &= _numeric_q("number", op, value)
        elif key == "creation_timestamp":
            q &= _timestamp_q("created_at", op, value)
        elif key == "last_updated_timestamp":
            q &= _timestamp_q("stage_changed_at", op, value)
        else:
            raise SearchError(
                f"Invalid attribute key '{_show(key)}' specified. Valid keys are 'name', "
                "'run_id', 'source_path', 'version_number', 'creation_timestamp', "
                "'last_updated_timestamp' and tags."
            )
    return q


_INT64 = (-(2**63), 2**63 - 1)


def model_filter(text: str | None) -> Q:
    """Filter for RegisteredModel rows."""
    return _model_q(parse_filter(text))


def version_filter(text: str | None) -> Q:
    """Filter for ModelVersion rows."""
    return _version_q(parse_filter(text))


# --- Pages ---------------------------------------------------------------------------------------
#
# Pages are read by keyset: a page token holds the sort key of the last row of the page
# before (the values of the ordering's fields, ending with a unique one), and the next
# page is the rows after that key in the same ordering. The database starts reading at the
# key in the index that serves the ordering, so page 1,000 costs what page 1 costs; an
# offset would make it read and skip every row before. Tokens are signed with the site's
# secret and bound to the search (kind, ordering and filter) that made them.


def _field(model, path: str) -> models.Field:
    """The field a (possibly related, `a__b`) ordering name ends at."""
    field = None
    for part in path.split("__"):
        field = model._meta.pk if part == "pk" else model._meta.get_field(part)
        if field.is_relation:
            model = field.related_model
    return field


def keyset_after(model, ordering: list[str], key: list) -> Q:
    """The rows after `key` in `ordering` (field names, `-` for descending).

    Fields that run in the same direction are compared as one row, which an index over
    them answers as a range; where the direction changes, the rows equal on what came
    before are compared on what follows. The first run's bound is repeated on its own so
    that the index is entered at the key whatever follows.
    """
    runs: list[tuple[bool, list, list]] = []
    for name, value in zip(ordering, key, strict=True):
        descending = name.startswith("-")
        path = name.removeprefix("-")
        column = F(path)
        bound = Value(value, output_field=_field(model, path))
        if runs and runs[-1][0] == descending:
            runs[-1][1].append(column)
            runs[-1][2].append(bound)
        else:
            runs.append((descending, [column], [bound]))
    condition = None
    for descending, columns, values in reversed(runs):
        after = Q(RowCompare(columns, "<" if descending else ">", values))
        if condition is not None:
            after |= Q(RowCompare(columns, "=", values)) & condition
        condition = after
    if len(runs) > 1:
        descending, columns, values = runs[0]
        condition &= Q(RowCompare(columns, "<=" if descending else ">=", values))
    return condition


_PAGE_SALT = "mlflow_app.search.page_token"
_NOT_OURS = "Invalid page token: it was not made by this server."


def _search_id(kind: str, ordering: list[str], text: str | None) -> str:
    """What a token is bound to: the kind of rows, their ordering and the filter."""
    digest = hashlib.sha256(f"{kind}\n{' '.join(ordering)}\n{text or ''}".encode()).hexdigest()
    return digest[:32]


def make_page_token(kind: str, ordering: list[str], text: str | None, key: list) -> str:
    """A signed token for the page after the row whose sort key is `key`."""
    values = [v.isoformat() if isinstance(v, datetime) else v for v in key]
    return signing.dumps({"s": _search_id(kind, ordering, text), "k": values}, salt=_PAGE_SALT)


def read_page_token(
    token: str | None, *, kind: str, model, ordering: list[str], text: str | None
) -> list | None:
    """The sort key a token holds, as typed values of the ordering's fields, or None for the
    first page. Refuses (SearchError) a token that is forged, damaged, made for another
    search (another ordering or filter) or holds values of the wrong type."""
    if not token:
        return None
    if len(token) > MAX_TOKEN_LENGTH:
        raise SearchError(_NOT_OURS)
    try:
        data = signing.loads(token, salt=_PAGE_SALT)
    except (signing.BadSignature, ValueError, UnicodeError) as exc:
        raise SearchError(_NOT_OURS) from exc
    if not isinstance(data, dict) or not isinstance(data.get("k"), list):
        raise SearchError(_NOT_OURS)
    if data.get("s") != _search_id(kind, ordering, text):
        raise SearchError(
            "Invalid page token: it belongs to another search; send the same filter and "
            "order_by as for the first page."
        )
    values = data["k"]
    if len(values) != len(ordering):
        raise SearchError(_NOT_OURS)
    key = []
    for name, value in zip(ordering, values, strict=True):
        field = _field(model, name.removeprefix("-"))
        if isinstance(field, models.DateTimeField):
            ok = isinstance(value, str)
        elif isinstance(field, models.IntegerField):
            ok = isinstance(value, int) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str) and "\x00" not in value
        try:
            typed = field.to_python(value) if ok else None
        except ValidationError as exc:
            raise SearchError(_NOT_OURS) from exc
        if typed is None or (isinstance(typed, datetime) and typed.tzinfo is None):
            raise SearchError(_NOT_OURS)
        key.append(typed)
    return key


class PageQuery:
    """One page of a search: the query of its rows, and how to read it.

    The page is read in one query: the rows after the token's key in the ordering, with
    every column the answer shows (`fields`, joined columns included) and the sort key.
    """

    def __init__(
        self, rows, ordering: list[str], kind: str, text, token, limit: int, fields: list[str]
    ) -> None:
        self.ordering, self.kind, self.text, self.limit = ordering, kind, text, limit
        key = read_page_token(token, kind=kind, model=rows.model, ordering=ordering, text=text)
        if key is not None:
            rows = rows.filter(keyset_after(rows.model, ordering, key))
        self.names = [name.removeprefix("-") for name in ordering]
        # limit + 1 rows: the one after the page tells whether there is a next page.
        columns = list(dict.fromkeys([*fields, *self.names]))
        self.query = rows.order_by(*ordering).values(*columns)[: limit + 1]

    def read(self) -> tuple[list[dict], str | None]:
        """(rows of the page, token of the next page or None), in one query that starts
        reading where the token left off."""
        found = list(self.query)
        next_token = None
        if len(found) > self.limit:
            found = found[: self.limit]
            key = [found[-1][name] for name in self.names]
            next_token = make_page_token(self.kind, self.ordering, self.text, key)
        return found, next_token


def model_page(text: str | None, order_by: list[str], token: str | None, limit: int):
    """A page of models, each a row of wire.model_fields with its latest versions' ids."""
    condition = model_filter(text)  # every check of the filter, before anything runs
    ordering = model_ordering(order_by)
    rows = wire.with_top_versions(wire.visible_models().filter(condition))
    return PageQuery(rows, ordering, "models", text, token, limit, wire.model_fields())


def find_models(text: str | None, order_by: list[str], token: str | None, limit: int):
    """(visible models matching an MLflow filter in its order_by, at most `limit` of them
    from where `token` left off, as rows of wire.model_fields; the next page's token or
    None)."""
    return model_page(text, order_by, token, limit).read()


def _one_model_name(clauses: list[dict]) -> str | None:
    """The model name a filter pins with `name = '…'`, if it does."""
    for clause in clauses:
        pins = clause["type"] == "attribute" and clause["key"] == "name" and clause["op"] == "="
        if pins and isinstance(clause["value"], str):
            return clause["value"]
    return None


def version_page(text: str | None, order_by: list[str], token: str | None, limit: int):
    """A page of versions, each a row of wire.version_fields. A filter that names one model
    (`name = '…'`) reads that model's versions by the model's id, so the (model, …) indexes
    serve the page: a model with 100,000 versions pages as fast as one with ten."""
    clauses = parse_filter(text)
    condition = _version_q(clauses)
    name = _one_model_name(clauses)
    ordering = version_ordering(order_by, one_model=name is not None)
    rows = wire.visible_versions().filter(condition)
    if name is not None:
        model_id = RegisteredModel.objects.filter(name=name).values("pk")[:1]
        rows = rows.filter(registered_model_id=Subquery(model_id))
    return PageQuery(rows, ordering, "versions", text, token, limit, wire.version_fields())


def find_versions(text: str | None, order_by: list[str], token: str | None, limit: int):
    """(visible versions matching an MLflow filter in its order_by, at most `limit` of them
    from where `token` left off, as rows of wire.version_fields; the next page's token or
    None)."""
    return version_page(text, order_by, token, limit).read()


def _parse_order(clause: str, valid: dict[str, str]) -> tuple[str, bool]:
    parts = clause.strip().split()
    if not parts or len(parts) > 2:
        raise SearchError(f"Invalid order_by clause '{clause}'.")
    key = parts[0]
    if key.lower().startswith("attribute."):
        key = key.split(".", 1)[1]
    direction = parts[1].upper() if len(parts) == 2 else "ASC"
    if key not in valid or direction not in ("ASC", "DESC"):
        raise SearchError(
            f"Invalid order by key '{clause}' specified. Valid keys are "
            f"{', '.join(sorted(valid))}, each optionally followed by ASC or DESC."
        )
    return valid[key], direction == "ASC"


def _ordering(
    order_by: list[str], valid: dict[str, str], tail: list[tuple[str, bool]], unique: set[str]
) -> list[str]:
    """The fields to order by: those asked for, then `tail`, stopping as soon as the fields
    so far include all of `unique` (together they tell every row apart), else ending with
    the primary key. The shorter the ordering, the more indexes can serve it."""
    asked, names = [], set()
    for clause in order_by:
        field, ascending = _parse_order(clause, valid)
        if field in names:
            raise SearchError(f"`order_by` contains duplicate fields: {order_by}")
        names.add(field)
        asked.append((field, ascending))
    fields, seen = [], set()
    for field, ascending in [*asked, *tail]:
        if field not in seen:
            seen.add(field)
            fields.append(field if ascending else f"-{field}")
            if unique and unique <= seen:
                return fields
    return [*fields, "pk"]


def model_ordering(order_by: list[str]) -> list[str]:
    valid = {
        "name": "name",
        "creation_timestamp": "created_at",
        "last_updated_timestamp": "updated_at",
        "timestamp": "updated_at",
    }
    return _ordering(order_by, valid, [("name", True)], {"name"})


def version_ordering(order_by: list[str], *, one_model: bool = False) -> list[str]:
    """The fields to order versions by. For the versions of one model the model's name is
    the same on every row and is left out, and the number tells them apart."""
    valid = {
        "name": "registered_model__name",
        "version_number": "number",
        "creation_timestamp": "created_at",
        "last_updated_timestamp": "stage_changed_at",
    }
    order_by = order_by or ["last_updated_timestamp DESC", "name ASC", "version_number DESC"]
    if one_model:
        # Read (and refused if bad) as written; the name then orders nothing.
        _ordering(order_by, valid, [], set())
        order_by = [c for c in order_by if _parse_order(c, valid)[0] != valid["name"]]
        return _ordering(order_by, valid, [("number", False)], {"number"})
    return _ordering(
        order_by,
        valid,
        [("registered_model__name", True), ("number", False)],
        {"registered_model__name", "number"},
    )
