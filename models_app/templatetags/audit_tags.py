"""The audit trail in words: a policy change as a diff a reviewer can read.

A `policy.changed` event stores {field: [before, after]} for each field that changed
(models_app.services.policy_update); these helpers say what changed in it: a number or a
switch as "old → new", a list as what was added and what was removed, and a metric's
rule as the rule before and after. Everything is plain text, escaped by the template.
"""

from __future__ import annotations

from django import template

from models_app.card_sections import SECTION_TITLES
from models_app.enums import Direction

register = template.Library()

POLICY_FIELDS = {
    "thresholds": "Thresholds",
    "key_metrics": "Key metrics",
    "required_approvals": "Required approvals",
    "required_card_sections": "Required card sections",
    "require_checksum": "Checksum required",
}


def _number(value) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:g}"


def _threshold(rule: dict) -> str:
    if "min" in rule:
        return f"at least {_number(rule['min'])}"
    if "max" in rule:
        return f"at most {_number(rule['max'])}"
    return "no bound"


def _key_metric(rule: dict) -> str:
    direction = rule.get("direction", Direction.HIGHER)
    better = "lower is better" if direction == Direction.LOWER else "higher is better"
    return f"{better}, tolerance {_number(rule.get('tolerance', 0.0))}"


RULE_WORDS = {"thresholds": _threshold, "key_metrics": _key_metric}


def _scalar(field: str, value) -> str:
    if value is None or value == "":
        return "none"
    if field == "require_checksum" or isinstance(value, bool):
        return "yes" if value else "no"
    return _number(value)


def _rules(value) -> dict[str, dict]:
    """A list of per-metric rules by metric name (an entry without one by its position)."""
    rules = {}
    for i, rule in enumerate(value if isinstance(value, list) else []):
        if isinstance(rule, dict):
            rules[str(rule.get("metric", f"#{i + 1}"))] = rule
    return rules


def _rule_lines(field: str, before, after) -> list[str]:
    words = RULE_WORDS[field]
    old, new = _rules(before), _rules(after)
    lines = []
    for metric in [m for m in new if m not in old]:
        lines.append(f"added {metric}: {words(new[metric])}")
    for metric in [m for m in old if m not in new]:
        lines.append(f"removed {metric}: {words(old[metric])}")
    for metric in [m for m in new if m in old and new[m] != old[m]]:
        lines.append(f"{metric}: {words(old[metric])} → {words(new[metric])}")
    return lines


def _item_lines(field: str, before, after) -> list[str]:
    old = [x for x in (before or []) if x is not None] if isinstance(before, list) else []
    new = [x for x in (after or []) if x is not None] if isinstance(after, list) else []

    def name(item) -> str:
        text = str(item)
        return SECTION_TITLES.get(text, text) if field == "required_card_sections" else text

    lines = []
    added = [name(x) for x in new if x not in old]
    removed = [name(x) for x in old if x not in new]
    if added:
        lines.append("added " + ", ".join(added))
    if removed:
        lines.append("removed " + ", ".join(removed))
    if not lines and old != new:
        lines.append("reordered")
    return lines


@register.filter
def policy_changes(changes) -> list[dict]:
    """Each changed field of a policy as {"field": its name in words, "lines": what changed}.

    Lists read as what was added and what was removed; a threshold or a key metric changed
    in place reads as its rule before and after; anything else as "old → new"."""
    if not isinstance(changes, dict):
        return []
    rows = []
    for field, pair in changes.items():
        try:
            before, after = pair
        except (TypeError, ValueError):
            before, after = None, pair
        if field in RULE_WORDS:
            lines = _rule_lines(field, before, after)
        elif isinstance(before, list) or isinstance(after, list):
            lines = _item_lines(field, before, after)
        elif before is None:  # the policy was created
            lines = [f"set to {_scalar(field, after)}"]
        else:
            lines = [f"{_scalar(field, before)} → {_scalar(field, after)}"]
        if lines:
            rows.append({"field": POLICY_FIELDS.get(field, field), "lines": lines})
    return rows


@register.filter
def short_request_id(request_id: str, keep: int = 10) -> str:
    """A request id short enough for a table cell: its end, which tells apart the ids of
    one client (a uuid's last digits, a run's step number); the page links the full id."""
    text = str(request_id or "")
    return text if len(text) <= keep + 2 else "…" + text[-keep:]
