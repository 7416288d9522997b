"""Model card content: Markdown in and out, sanitised HTML, hashing.

The sections themselves (names, titles, order) are defined once, in
models_app.card_sections; SECTION_TITLES here is that module's.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re

import markdown
import nh3

from models_app.card_sections import SECTION_NAMES, SECTION_TITLES

_TITLE_TO_KEY = {title.lower(): key for key, title in SECTION_TITLES.items()}
_HEADING = re.compile(r"^#{1,3}\s+(.+?)\s*#*\s*$")


def content_sha256(sections: dict[str, str]) -> str:
    canonical = json.dumps(
        {key: sections.get(key, "") for key in SECTION_NAMES},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def to_markdown(sections: dict[str, str]) -> str:
    parts = []
    for key, title in SECTION_TITLES.items():
        parts.append(f"## {title}\n\n{sections.get(key, '').strip()}\n")
    return "\n".join(parts)


def parse_markdown(text: str) -> dict[str, str]:
    """Split a Markdown document into the card sections by their headings.

    Headings that name a section (`## Intended use`, any level 1–3, any case) start it;
    text before the first such heading, or under unknown headings, goes to the section
    before it, or to the first section (intended use) when there is none.
    """
    sections = {key: [] for key in SECTION_NAMES}
    current = SECTION_NAMES[0]
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match and match.group(1).strip().lower() in _TITLE_TO_KEY:
            current = _TITLE_TO_KEY[match.group(1).strip().lower()]
            continue
        sections[current].append(line)
    return {key: "\n".join(lines).strip() for key, lines in sections.items()}


_ALLOWED_TAGS = {
    "p",
    "br",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "strong",
    "em",
    "b",
    "i",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}


def render_markdown(text: str) -> str:
    """Markdown → HTML with no scripts, no event attributes and only safe link schemes.

    Python-Markdown passes raw HTML through, so its output is sanitised by
    nh3 with an allow-list of tags, attributes and URL schemes.
    """
    html = markdown.markdown(text, extensions=["tables", "fenced_code"], output_format="html")
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes={"a": {"href", "title"}, "th": {"align"}, "td": {"align"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def render_sections(sections: dict[str, str]) -> str:
    return render_markdown(to_markdown(sections))


def section_diffs(old: dict[str, str], new: dict[str, str]) -> list[dict]:
    """What changed between two revisions' sections, section by section: for each section
    whose text differs, its key, its title and a unified diff of its source text as
    (kind, line) rows, kind being "hunk", "add", "del" or "ctx". The lines are the
    Markdown as written, for escaped output, never rendered."""
    changes = []
    for key, title in SECTION_TITLES.items():
        before = (old.get(key) or "").splitlines()
        after = (new.get(key) or "").splitlines()
        if before == after:
            continue
        rows = []
        lines = difflib.unified_diff(before, after, lineterm="", n=2)
        for line in lines:
            if line.startswith(("---", "+++")) and not rows:
                continue  # the two file headers, before the first hunk
            rows.append((diff_line_kind(line), line))
        changes.append({"key": key, "title": title, "rows": rows})
    return changes


def diff_line_kind(line: str) -> str:
    """What one line of a unified diff after its two file headers is: "hunk", "add", "del"
    or "ctx", for the templates that show diffs escaped, line by line. (A removed line
    "---" is a deletion there, not a header.)"""
    if line.startswith("@@"):
        return "hunk"
    if line.startswith("+"):
        return "add"
    if line.startswith("-"):
        return "del"
    return "ctx"
