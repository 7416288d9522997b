"""REGISTRY_SIGNAL_RETENTION_DAYS is read at start-up and refused when not a whole number
of at least 1; prune_signals refuses a retention of less than a day."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parent.parent


def _retention_in_fresh_process(**env_vars) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(DEBUG="1", DJANGO_SETTINGS_MODULE="registry_site.settings", **env_vars)
    code = "from registry_site import settings as s; print(s.REGISTRY_SIGNAL_RETENTION_DAYS)"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )


@pytest.mark.slow  # settings read in a subprocess
def test_retention_comes_from_the_environment():
    assert _retention_in_fresh_process().stdout.strip() == "30"
    assert _retention_in_fresh_process(REGISTRY_SIGNAL_RETENTION_DAYS="7").stdout.strip() == "7"


@pytest.mark.slow  # settings read in a subprocess
@pytest.mark.parametrize("value", ["0", "-1", "a week"])
def test_a_bad_retention_refuses_to_start(value):
    result = _retention_in_fresh_process(REGISTRY_SIGNAL_RETENTION_DAYS=value)
    assert result.returncode != 0
    assert "REGISTRY_SIGNAL_RETENTION_DAYS must be a whole number of at least 1" in result.stderr


@pytest.mark.django_db
def test_prune_refuses_less_than_a_day():
    with pytest.raises(CommandError, match="at least 1"):
        call_command("prune_signals", "--days", "0")
