"""Small presentation helpers for the dashboard templates.

Everything user-given goes through format_html, which escapes it.
"""

from __future__ import annotations

import datetime as dt
import json
import re

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from models_app.enums import Stage

register = template.Library()

_STAGE_LABELS = dict(Stage.choices)


@register.simple_tag
def stage_badge(stage: str):
    """A stage as a badge: colour plus the stage's name, so colour is never alone."""
    return format_html(
        '<span class="badge badge-{}">{}</span>', stage, _STAGE_LABELS.get(stage, stage)
    )


@register.filter
def metric(value) -> str:
    """A metric value as people write it (0.9123, 42, 1.2e-05); a dash when missing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.4g}"


@register.simple_tag
def delta(cell):
    """A change against production with its sign, an arrow, a colour and a word."""
    if cell is None or cell.get("delta") is None:
        return ""
    change = cell["delta"]
    if change == 0:
        return mark_safe('<span class="delta delta-same">= same</span>')
    sign = "+" if change > 0 else "−"
    arrow = "▲" if change > 0 else "▼"
    better = cell.get("better")
    if better is None:
        kind, word = "neutral", "higher" if change > 0 else "lower"
    else:
        kind = word = "better" if better else "worse"
    return format_html(
        '<span class="delta delta-{}">{} {}{} <span class="delta-word">{}</span></span>',
        kind,
        arrow,
        sign,
        f"{abs(change):.4g}",
        word,
    )


@register.filter
def as_json(value) -> str:
    """A compact JSON rendering for params and field changes (escaped by the template)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@register.filter
def words(value) -> str:
    """A field key as words: intended_use -> intended use."""
    return str(value).replace("_", " ")


@register.filter
def change(pair, limit: int = 120) -> str:
    """A field change [before, after] as words: "a → b", "set to b" or "cleared (was a)";
    a moment (an ISO 8601 text, as the audit trail stores times) is shown as every time
    is, with its zone (`when`). Everything else is escaped."""

    def short(value):
        if isinstance(value, str) and _ISO_MOMENT.fullmatch(value) and _utc(value):
            return when(value)
        text = as_json(value)
        return text if len(text) <= limit else text[: limit - 1] + "…"

    try:
        before, after = pair
    except (TypeError, ValueError):
        return format_html("{}", short(pair))
    if before in (None, "", [], {}):
        return format_html("set to {}", short(after))
    if after in (None, "", [], {}):
        return format_html("cleared (was {})", short(before))
    return format_html("{} → {}", short(before), short(after))


_ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")


@register.filter
def age(value) -> str:
    """How long ago `value` was, in days once it is a day or more ("12 days"), else in
    hours or minutes; the text of a time that is to come is "0 minutes"."""
    if not value:
        return ""
    seconds = max(int((timezone.now() - value).total_seconds()), 0)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size or unit == "minute":
            n = seconds // size
            return f"{n}\xa0{unit}{'s' if n != 1 else ''}"
    return ""


def _utc(value) -> dt.datetime | None:
    """`value` (an aware or naive datetime, a date, or ISO text) as an aware UTC datetime;
    None for anything else. A naive datetime is taken to be UTC, as the server stores."""
    if isinstance(value, str):
        try:
            value = parse_datetime(value.strip())
        except ValueError:  # well formed but not a real moment
            return None
    elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time.min)
    if not isinstance(value, dt.datetime):
        return None
    if timezone.is_naive(value):
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


@register.filter
def when(value, shown: str = ""):
    """A moment as the dashboard shows every time: a <time> element whose datetime is
    ISO 8601 in UTC, whose title is the exact time in UTC, and whose text is the time to
    the minute with its zone ("2026-12-07 21:40 UTC"); `when:"age"` shows how long ago
    instead ("12 days"), the exact time still in the title. A dash when missing."""
    moment = _utc(value)
    if moment is None:
        return "—" if value in (None, "") else str(value)
    text = age(moment) if shown == "age" else f"{moment:%Y-%m-%d %H:%M} UTC"
    return format_html(
        '<time datetime="{}" title="{} UTC">{}</time>',
        f"{moment:%Y-%m-%dT%H:%M:%S}Z",
        f"{moment:%Y-%m-%d %H:%M:%S}",
        text,
    )
