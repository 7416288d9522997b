"""Production settings pass `manage.py check --deploy` without a warning (docs/deployment.md).

Each check starts manage.py in a fresh process with a clean environment, because the
settings are read from the environment once, at import, and pytest's own process runs
the test settings.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test starts manage.py in a subprocess

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, env: dict[str, str], var_dir: Path) -> subprocess.CompletedProcess:
    clean = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(var_dir)),
        # pytest-django exports the test settings; a deployment uses the real ones.
        "DJANGO_SETTINGS_MODULE": "registry_site.settings",
        "REGISTRY_VAR_DIR": str(var_dir),
        **env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def production_env() -> dict[str, str]:
    """What docs/deployment.md asks for: a long random key and the site's host name."""
    return {
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "registry.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://registry.example.com",
    }


def test_deploy_check_production_settings_pass_without_warnings(production_env, tmp_path):
    assert len(production_env["SECRET_KEY"]) >= 50
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env=production_env, var_dir=tmp_path
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output
    assert "WARNINGS" not in output


def test_deploy_check_behind_tls_proxy_passes_without_warnings(production_env, tmp_path):
    env = {**production_env, "SECURE_PROXY_SSL_HEADER": "1", "LOG_LEVEL": "WARNING"}
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env, var_dir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_deploy_check_development_settings_are_flagged(tmp_path):
    # The same command sees the development defaults for what they are, so the passing
    # test above is not passing because the check saw nothing.
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env={"DEBUG": "1"}, var_dir=tmp_path
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "security.W018" in output  # DEBUG on
    assert "security.W009" in output  # the development SECRET_KEY


def test_deploy_check_without_secret_key_or_debug_refuses_to_start(tmp_path):
    result = manage("check", env={}, var_dir=tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is not set" in result.stderr


def test_deploy_check_debug_without_secret_key_starts(tmp_path):
    result = manage("check", env={"DEBUG": "1"}, var_dir=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
