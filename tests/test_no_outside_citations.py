"""The project explains itself: no file cites a document that is not part of it (the
specification's sections, the list of library pitfalls, the style guide) or an issue by
number. What a reader needs is said where it is needed, or in docs/."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Spelled in pieces, so that this file does not cite them itself.
CITATION = re.compile(
    "|".join(
        [
            r"\b" + "SP" + r"EC\b(?!TACULAR)",
            "PIT" + "FALLS",
            "STY" + r"LE\.md",
            r"\b[Ii]" + r"ssue [0-9]+\b",
            "\u00a7" + r"\s*[0-9]",
        ]
    )
)
# The one section sign we keep: the HTTP standard's, named with its RFC.
ALLOWED = re.compile(r"RFC [0-9]+ \u00a7")
SUFFIXES = {".py", ".md", ".html", ".txt", ".toml", ".yml", ".yaml", ".sh", ".cfg", ".js", ".css"}


def tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    names = [line for line in out.splitlines() if line]
    return [
        ROOT / n for n in names if Path(n).suffix in SUFFIXES or Path(n).name in {"Makefile", "run"}
    ]


def test_no_file_cites_an_outside_document_or_an_issue():
    found = []
    for path in tracked_files():
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if CITATION.search(ALLOWED.sub("", line)):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert found == []


def test_the_check_sees_a_citation():
    assert CITATION.search("the guards of " + "SP" + "EC \u00a74")
    assert CITATION.search("see " + "PIT" + "FALLS 5")
    assert CITATION.search("(i" + "ssue 12)")
    assert not CITATION.search(ALLOWED.sub("", "RFC 9110 \u00a713.1.2"))
    assert not CITATION.search("SPECTACULAR_SETTINGS")
