"""MLflow's search syntax for registered models and versions, turned into database filters.

The subset MLflow's own SQL store accepts: clauses joined by AND, each `key comparator
value`, where the key is an attribute (`name`, `run_id`, `source_path`, `version_number`,
`creation_timestamp`, `last_updated_timestamp`, optionally prefixed `attribute.`) or a tag
(``tag.key``, ``tags.`key with dots` ``); comparators `=`, `!=`, `LIKE`, `ILIKE` (and `IN`,
`NOT IN`, `<`, `<=`, `>`, `>=` where MLflow has them); values quoted with ' or ".
The client itself appends ``tag.`mlflow.prompt.is_prompt` != 'true'`` to model searches,
which matches models without that tag, as in MLflow. Filtering runs in the database, so a
search costs the same few queries however many rows there are.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.fields.json import HasKey, KeyTextTransform
from django.db.models.lookups import Exact, IRegex, Regex

from registry_site.prepared import Param, PreparedQuery

from . import wire

PROMPT_TAG = "mlflow.prompt.is_prompt"
_PREFIXES = {
    "tag": "tag",
    "tags": "tag",
    "attribute": "attribute",
    "attributes": "attribute",
    "attr": "attribute",
}
_CLAUSE_RE = re.compile(
    r"""^\s*(?P<key>(?:[A-Za-z_]\w*\.)?(?:`[^`]+`|"[^"]+"|[\w.\-]+))\s*
        (?P<op>!=|<=|>=|=|<|>|NOT\s+IN\b|ILIKE\b|LIKE\b|IN\b)\s*
        (?P<value>.+?)\s*$""",
    re.IGNORECASE | re.VERBOSE | re.DOTALL,
)
_STRING_RE = re.compile(r"""^(?:'(?P<s>(?:[^']|'')*)'|"(?P<d>(?:[^"]|"")*)")$""", re.DOTALL)
_NUMBER_RE = re.compile(r"^-?\d+$")

STRING_OPS = {"=", "!=", "LIKE", "ILIKE"}
LIST_OPS = {"IN", "NOT IN"}
NUMERIC_OPS = {"=", "!=", "<", "<=", ">", ">="}
# Page tokens carry an offset; beyond this one no page has rows.
MAX_OFFSET = 2**31


class SearchError(ValidationError):
    """A filter, order or page token the door cannot read (INVALID_PARAMETER_VALUE)."""


def _split_and(text: str) -> list[str]:
    """Split on AND outside quotes."""
    parts, buf, quote, i = [], [], None, 0
    while i < len(text):
        char = text[i]
        if quote:
            buf.append(char)
            if char == quote:
                quote = None
            i += 1
            continue
        if char in "'\"`":
            quote = char
            buf.append(char)
            i += 1
            continue
        match = re.match(r"\s+AND\s+", text[i:], re.IGNORECASE)
        if match:
            parts.append("".join(buf))
            buf = []
            i += match.end()
            continue
        buf.append(char)
        i += 1
    if quote:
        raise SearchError(f"Invalid filter '{text}': unterminated quote {quote}.")
    parts.append("".join(buf))
    return [p for p in parts if p.strip()]


def _unquote_string(raw: str) -> str | None:
    match = _STRING_RE.fullmatch(raw.strip())
    if not match:
        return None
    if match["s"] is not None:
        return match["s"].replace("''", "'")
    return match["d"].replace('""', '"')


def _unquote_key(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in '`"':
        return raw[1:-1]
    return raw


def parse_filter(text: str | None) -> list[dict]:
    """[{"type": "attribute"|"tag", "key", "op", "value"}] for an MLflow filter string."""
    if not text or not text.strip():
        return []
    clauses = []
    for part in _split_and(text):
        match = _CLAUSE_RE.match(part)
        if not match:
            hint = " (OR is not supported; join clauses with AND)" if " or " in part.lower() else ""
            raise SearchError(f"Invalid clause '{part.strip()}' in filter '{text}'{hint}.")
        key, op, raw = match["key"], re.sub(r"\s+", " ", match["op"].upper()), match["value"]
        kind = "attribute"
        head, dot, rest = key.partition(".")
        if dot and head.lower() in _PREFIXES and rest:
            kind, key = _PREFIXES[head.lower()], _unquote_key(rest)
        else:
            key = _unquote_key(key)
        if op in LIST_OPS:
            inner = raw.strip()
            if not (inner.startswith("(") and inner.endswith(")")):
                raise SearchError(f"'{op}' needs a parenthesised list of quoted strings: {part}.")
            items = [s for s in re.split(r",(?=(?:[^']*'[^']*')*[^']*$)", inner[1:-1]) if s.strip()]
            values = [_unquote_string(s) for s in items]
            if not values or any(v is None for v in values):
                raise SearchError(f"'{op}' needs a parenthesised list of quoted strings: {part}.")
            value: object = values
        else:
            value = _unquote_string(raw)
            if value is None:
                if _NUMBER_RE.fullmatch(raw.strip()):
                    value = int(raw.strip())
                else:
                    raise SearchError(
                        f"Invalid value {raw.strip()} in '{part.strip()}': quote strings "
                        "with ' or \"."
                    )
        clauses.append({"type": kind, "key": key, "op": op, "value": value})
    return clauses


def like_to_regex(pattern: str) -> str:
    """SQL LIKE (% any run, _ one character) as an anchored regular expression.

    Anchored with \\A and \\Z, which PostgreSQL and Python (SQLite's REGEXP) both read as
    the ends of the text; "$" would also match before a final newline in Python.
    """
    out = []
    for char in pattern:
        if char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return r"\A" + "".join(out) + r"\Z"


class _Bind:
    """Where a filter's values go: into the Q itself (plain), or into `values` with a Param
    standing in for each (prepared), in the order the filter is built."""

    def __init__(self, *, prepared: bool) -> None:
        self.prepared = prepared
        self.values: dict[str, object] = {}

    def __call__(self, value, field):
        name = f"p{len(self.values)}"
        self.values[name] = value
        return Param(name, field) if self.prepared else value


_TEXT, _NUMBER, _WHEN = models.TextField(), models.BigIntegerField(), models.DateTimeField()
_INT64 = (-(2**63), 2**63 - 1)


def _string_q(field, op: str, value, *, what: str, bind: _Bind) -> Q:
    """A comparison of a text expression or field name with MLflow's string comparators."""
    expr = F(field) if isinstance(field, str) else field
    if op in LIST_OPS:
        q = Q(*[Q(Exact(expr, bind(v, _TEXT))) for v in value], _connector=Q.OR)
        return ~q if op == "NOT IN" else q
    if not isinstance(value, str):
        raise SearchError(f"{what} compares with a quoted string, not {value!r}.")
    if op == "=":
        return Q(Exact(expr, bind(value, _TEXT)))
    if op == "!=":
        return ~Q(Exact(expr, bind(value, _TEXT)))
    if op == "LIKE":
        return Q(Regex(expr, bind(like_to_regex(value), _TEXT)))
    if op == "ILIKE":
        return Q(IRegex(expr, bind(like_to_regex(value), _TEXT)))
    raise SearchError(f"Comparator '{op}' is not supported for {what}.")


def _is_prompt_exclusion(key: str, op: str, value) -> bool:
    """The clause MLflow's client adds to model searches, which models without the tag match."""
    return key == PROMPT_TAG and (
        (op == "!=" and value == "true") or (op == "=" and value == "false")
    )


def _tag_q(key: str, op: str, value, *, bind: _Bind) -> Q:
    if op not in STRING_OPS:
        raise SearchError(f"Comparator '{op}' is not supported for tags; use =, !=, LIKE, ILIKE.")
    present = Q(HasKey(F("tags"), key))
    q = present & _string_q(
        KeyTextTransform(key, "tags"), op, value, what=f"tag '{key}'", bind=bind
    )
    # Models carry no prompt tag, so MLflow counts "is_prompt != 'true'" as a match for them.
    if _is_prompt_exclusion(key, op, value):
        q |= ~present
    return q


def _timestamp_q(field: str, op: str, value, *, bind: _Bind) -> Q:
    if op not in NUMERIC_OPS or not isinstance(value, int):
        raise SearchError("Timestamps compare with =, !=, <, <=, >, >= and a number in ms.")
    try:
        when = datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise SearchError(f"Timestamp {value} is out of range.") from exc
    return _numeric_q(field, op, bind(when, _WHEN))


def _numeric_q(field: str, op: str, value) -> Q:
    lookup = {"=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
    if op == "!=":
        return ~Q(**{field: value})
    if op not in lookup:
        raise SearchError(f"Comparator '{op}' is not supported for {field}.")
    return Q(**{f"{field}__{lookup[op]}": value})


def _model_q(clauses: list[dict], bind: _Bind) -> Q:
    q = Q()
    for clause in clauses:
        key, op, value = clause["key"], clause["op"], clause["value"]
        if clause["type"] == "tag":
            q &= _tag_q(key, op, value, bind=bind)
        elif key == "name":
            q &= _string_q("name", op, value, what="name", bind=bind)
        elif key == "creation_timestamp":
            q &= _timestamp_q("created_at", op, value, bind=bind)
        elif key == "last_updated_timestamp":
            q &= _timestamp_q("updated_at", op, value, bind=bind)
        else:
            raise SearchError(
                f"Invalid attribute key '{key}' specified. Valid keys are "
                "'name', 'creation_timestamp', 'last_updated_timestamp' and tags."
            )
    return q


def _version_q(clauses: list[dict], bind: _Bind) -> Q:
    q = Q()
    fields = {"name": "registered_model__name", "run_id": "source_run"}
    for clause in clauses:
        key, op, value = clause["key"], clause["op"], clause["value"]
        if clause["type"] == "tag":
            q &= _tag_q(key, op, value, bind=bind)
        elif key in fields:
            q &= _string_q(fields[key], op, value, what=key, bind=bind)
        elif key == "source_path":
            if op in LIST_OPS:
                raise SearchError("source_path compares with =, !=, LIKE or ILIKE.")
            q &= _string_q("artifact_uri", op, value, what=key, bind=bind)
        elif key == "version_number":
            if op in LIST_OPS:
                raise SearchError("version_number compares with =, !=, <, <=, >, >=.")
            if isinstance(value, str) and _NUMBER_RE.fullmatch(value):
                value = int(value)
            if not isinstance(value, int) or op not in NUMERIC_OPS:
                raise SearchError("version_number compares with a whole number.")
            if not _INT64[0] <= value <= _INT64[1]:
                raise SearchError(f"version_number {value} is out of range.")
            q &= _numeric_q("number", op, bind(value, _NUMBER))
        elif key == "creation_timestamp":
            q &= _timestamp_q("created_at", op, value, bind=bind)
        elif key == "last_updated_timestamp":
            q &= _timestamp_q("stage_changed_at", op, value, bind=bind)
        else:
            raise SearchError(
                f"Invalid attribute key '{key}' specified. Valid keys are 'name', 'run_id', "
                "'source_path', 'version_number', 'creation_timestamp', "
                "'last_updated_timestamp' and tags."
            )
    return q


def model_filter(text: str | None) -> Q:
    """Filter for RegisteredModel rows."""
    return _model_q(parse_filter(text), _Bind(prepared=False))


def version_filter(text: str | None) -> Q:
    """Filter for ModelVersion rows."""
    return _version_q(parse_filter(text), _Bind(prepared=False))


def _skeleton(clauses: list[dict]) -> tuple:
    """What decides the SQL of a filter: its clauses without the values that become
    parameters (tag keys and the prompt-tag exclusion stay: they are part of the SQL)."""
    out = []
    for clause in clauses:
        value = clause["value"]
        kind = len(value) if isinstance(value, list) else type(value).__name__
        exclusion = _is_prompt_exclusion(clause["key"], clause["op"], value)
        out.append((clause["type"], clause["key"], clause["op"], kind, exclusion))
    return tuple(out)


def _search(prepared: PreparedQuery, build_q, *, text, ordering, offset, limit) -> list[int]:
    """The ids `prepared` selects with the filter `text`, in `ordering`, sliced."""
    clauses = parse_filter(text)
    bind = _Bind(prepared=False)
    build_q(clauses, bind)  # every check of the clauses and values, before anything runs
    shape = {
        "skeleton": _skeleton(clauses),
        "ordering": tuple(ordering),
        "offset": offset,
        "limit": limit,
    }
    return [pk for (pk,) in prepared(shape=shape, context={"clauses": clauses}, **bind.values)]


def _prepared_search(rows, build_q) -> PreparedQuery:
    """The ids of `rows()` filtered, ordered and sliced, compiled once per filter shape and
    page. Only ids: the database sorts narrow rows (a model's versions can be thousands),
    and the page's rows with their model, team and author are read by id afterwards."""
    return PreparedQuery(
        lambda skeleton, ordering, offset, limit, clauses: (
            rows()
            .filter(build_q(clauses, _Bind(prepared=True)))
            .order_by(*ordering)
            .values_list("pk")[offset : offset + limit]
        ),
        shapes=256,
    )


_MODEL_SEARCH = _prepared_search(wire.visible_models, _model_q)
_VERSION_SEARCH = _prepared_search(wire.visible_versions, _version_q)


def find_models(text: str | None, order_by: list[str], offset: int, limit: int) -> list:
    """Visible models matching an MLflow filter, in its order_by, `limit` from `offset`."""
    ids = _search(
        _MODEL_SEARCH,
        _model_q,
        text=text,
        ordering=model_ordering(order_by),
        offset=offset,
        limit=limit,
    )
    return wire.models_by_id(ids)


def find_versions(text: str | None, order_by: list[str], offset: int, limit: int) -> list:
    """Visible versions matching an MLflow filter, in its order_by, `limit` from `offset`."""
    ids = _search(
        _VERSION_SEARCH,
        _version_q,
        text=text,
        ordering=version_ordering(order_by),
        offset=offset,
        limit=limit,
    )
    return wire.versions_by_id(ids)


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


def _ordering(order_by: list[str], valid: dict[str, str], tail: list[tuple[str, bool]]):
    fields, seen = [], set()
    for clause in order_by:
        field, ascending = _parse_order(clause, valid)
        if field in seen:
            raise SearchError(f"`order_by` contains duplicate fields: {order_by}")
        seen.add(field)
        fields.append(field if ascending else f"-{field}")
    for field, ascending in tail:
        if field not in seen:
            fields.append(field if ascending else f"-{field}")
    return [*fields, "pk"]


def model_ordering(order_by: list[str]) -> list[str]:
    valid = {
        "name": "name",
        "creation_timestamp": "created_at",
        "last_updated_timestamp": "updated_at",
        "timestamp": "updated_at",
    }
    return _ordering(order_by, valid, [("name", True)])


def version_ordering(order_by: list[str]) -> list[str]:
    valid = {
        "name": "registered_model__name",
        "version_number": "number",
        "creation_timestamp": "created_at",
        "last_updated_timestamp": "stage_changed_at",
    }
    order_by = order_by or ["last_updated_timestamp DESC", "name ASC", "version_number DESC"]
    return _ordering(order_by, valid, [("registered_model__name", True), ("number", False)])


def make_page_token(offset: int) -> str:
    """MLflow's token format: base64 of {"offset": n}."""
    return base64.b64encode(json.dumps({"offset": offset}).encode()).decode()


def read_page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.b64decode(token, validate=True))
        offset = data["offset"]
    except (binascii.Error, ValueError, TypeError, KeyError) as exc:
        raise SearchError("Invalid page token: it was not made by this server.") from exc
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise SearchError("Invalid page token: it was not made by this server.")
    return offset
