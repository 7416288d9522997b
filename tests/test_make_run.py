"""`make run` serves the address it prints: the demo logins, the "Serving the demo at"
line and runserver all use the same HOST and PORT.

Read from `make -n run` (a dry run: make prints the commands and runs none of them)."""

from __future__ import annotations

import re
import shutil
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def dry_run(*variables: str) -> list[str]:
    make = shutil.which("make")
    if make is None:
        pytest.fail("make is not installed; the Makefile's commands cannot be read")
    done = subprocess.run(
        [make, "-n", "run", *variables],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.splitlines()


def the_line(lines: list[str], pattern: str) -> re.Match:
    found = [m for m in (re.search(pattern, line) for line in lines) if m]
    assert len(found) == 1, (pattern, lines)
    return found[0]


@pytest.mark.parametrize(
    ("variables", "address"),
    [
        ((), "127.0.0.1:8000"),
        (("PORT=8001",), "127.0.0.1:8001"),
        (("HOST=0.0.0.0", "PORT=9123"), "0.0.0.0:9123"),
    ],
)
def test_make_run_prints_the_address_runserver_serves(variables, address):
    lines = dry_run(*variables)
    served = the_line(lines, r"manage\.py runserver (\S+)$").group(1)
    echoed = the_line(lines, r"Serving the demo at (http://\S+/) ").group(1)
    logins = the_line(lines, r"manage\.py seed_demo --url (\S+)$").group(1)
    assert served == address
    assert echoed == logins == f"http://{address}/"


@pytest.mark.django_db
def test_seed_demo_prints_the_address_it_is_given():
    out = StringIO()
    with override_settings(DEBUG=True):
        call_command("seed_demo", "--url", "http://127.0.0.1:8001", stdout=out)
    text = out.getvalue()
    assert "Dashboard: http://127.0.0.1:8001/\n" in text
    assert "Admin:     http://127.0.0.1:8001/admin/\n" in text
    assert "8000" not in text
