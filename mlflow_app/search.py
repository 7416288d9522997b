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
from django.db.models import F, Q
from django.db.models.fields.json import HasKey, KeyTextTransform
from django.db.models.lookups import Exact, IRegex, Regex

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
    match = _STRING_RE.match(raw.strip())
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
                if _NUMBER_RE.match(raw.strip()):
                    value = int(raw.strip())
                else:
                    raise SearchError(
                        f"Invalid value {raw.strip()} in '{part.strip()}': quote strings "
                        "with ' or \"."
                    )
        clauses.append({"type": kind, "key": key, "op": op, "value": value})
    return clauses


def like_to_regex(pattern: str) -> str:
    """SQL LIKE (% any run, _ one character) as an anchored regular expression."""
    out = []
    for char in pattern:
        if char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return "^" + "".join(out) + "$"


def _string_q(field, op: str, value, *, what: str) -> Q:
    """A comparison of a text expression or field name with MLflow's string comparators."""
    expr = F(field) if isinstance(field, str) else field
    if op in LIST_OPS:
        q = Q(*[Q(Exact(expr, v)) for v in value], _connector=Q.OR)
        return ~q if op == "NOT IN" else q
    if not isinstance(value, str):
        raise SearchError(f"{what} compares with a quoted string, not {value!r}.")
    if op == "=":
        return Q(Exact(expr, value))
    if op == "!=":
        return ~Q(Exact(expr, value))
    if op == "LIKE":
        return Q(Regex(expr, like_to_regex(value)))
    if op == "ILIKE":
        return Q(IRegex(expr, like_to_regex(value)))
    raise SearchError(f"Comparator '{op}' is not supported for {what}.")


def _tag_q(key: str, op: str, value) -> Q:
    if op not in STRING_OPS:
        raise SearchError(f"Comparator '{op}' is not supported for tags; use =, !=, LIKE, ILIKE.")
    present = Q(HasKey(F("tags"), key))
    q = present & _string_q(KeyTextTransform(key, "tags"), op, value, what=f"tag '{key}'")
    # Models carry no prompt tag, so MLflow counts "is_prompt != 'true'" as a match for them.
    if key == PROMPT_TAG and ((op == "!=" and value == "true") or (op == "=" and value == "false")):
        q |= ~present
    return q


def _timestamp_q(field: str, op: str, value) -> Q:
    if op not in NUMERIC_OPS or not isinstance(value, int):
        raise SearchError("Timestamps compare with =, !=, <, <=, >, >= and a number in ms.")
    when = datetime.fromtimestamp(value / 1000, tz=UTC)
    return _numeric_q(field, op, when)


def _numeric_q(field: str, op: str, value) -> Q:
    lookup = {"=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
    if op == "!=":
        return ~Q(**{field: value})
    if op not in lookup:
        raise SearchError(f"Comparator '{op}' is not supported for {field}.")
    return Q(**{f"{field}__{lookup[op]}": value})


def model_filter(text: str | None) -> Q:
    """Filter for RegisteredModel rows."""
    q = Q()
    for clause in parse_filter(text):
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
                f"Invalid attribute key '{key}' specified. Valid keys are "
                "'name', 'creation_timestamp', 'last_updated_timestamp' and tags."
            )
    return q


def version_filter(text: str | None) -> Q:
    """Filter for ModelVersion rows."""
    q = Q()
    fields = {"name": "registered_model__name", "run_id": "source_run"}
    for clause in parse_filter(text):
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
            if isinstance(value, str) and _NUMBER_RE.match(value):
                value = int(value)
            if not isinstance(value, int) or op not in NUMERIC_OPS:
                raise SearchError("version_number compares with a whole number.")
            q &= _numeric_q("number", op, value)
        elif key == "creation_timestamp":
            q &= _timestamp_q("created_at", op, value)
        elif key == "last_updated_timestamp":
            q &= _timestamp_q("stage_changed_at", op, value)
        else:
            raise SearchError(
                f"Invalid attribute key '{key}' specified. Valid keys are 'name', 'run_id', "
                "'source_path', 'version_number', 'creation_timestamp', "
                "'last_updated_timestamp' and tags."
            )
    return q


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
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise SearchError("Invalid page token: it was not made by this server.")
    return offset
