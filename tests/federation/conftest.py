"""Two registries for the federation tests.

The team registry is the test database itself, driven through its services in this
process (and served by pytest-django's live_server). The central registry is a real
server in a subprocess (`manage.py runserver --noreload` on a free loopback port) with its
own SQLite file: migrated and seeded once per session into a template file (in one
`manage.py shell` process), copied for each test, so every test starts from an empty
central catalog.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]

# Migrates the central database, creates its sync user and token as an operator would
# (federation_service_user), an admin and a reader, and prints their tokens.
SEED = """
import io, json
from django.contrib.auth.models import User
from django.core.management import call_command
from knox.models import AuthToken
call_command("migrate", interactive=False, verbosity=0)
sync_token = io.StringIO()
call_command("federation_service_user", stdout=sync_token, stderr=io.StringIO())
admin = User.objects.create_superuser("central_admin", password="pw")
reader = User.objects.create_user("central_reader", password="pw")
print(json.dumps({
    "sync_token": sync_token.getvalue().strip(),
    "admin": AuthToken.objects.create(user=admin)[1],
    "reader": AuthToken.objects.create(user=reader)[1],
}))
"""


def _env(db_file: Path) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "REGISTRY_", "PYTEST_"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="registry_site.settings",
        DEBUG="1",
        DATABASE_URL=f"sqlite:///{db_file}",
        REGISTRY_ID="central",
        PYTHONUNBUFFERED="1",
    )
    return env


def _manage(db_file: Path, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=_env(db_file),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def central_template(tmp_path_factory):
    """A migrated central database with its users and tokens, copied by each test."""
    db_file = tmp_path_factory.mktemp("central") / "template.sqlite3"
    tokens = json.loads(_manage(db_file, "shell", "-c", SEED).strip().splitlines()[-1])
    return SimpleNamespace(db_file=db_file, **tokens)


class CentralServer:
    """The central registry: a runserver subprocess that a test may stop and start, with
    extra environment (e.g. REGISTRY_MAX_PUSH_BYTES) if it says so."""

    def __init__(self, db_file: Path, log: Path, env: dict | None = None):
        self.db_file = db_file
        self.log = log
        self.env = dict(env or {})
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self, **env: str) -> None:
        """Start the server; `env` replaces parts of its extra environment from now on."""
        self.env.update(env)
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "runserver",
                    "--noreload",
                    f"127.0.0.1:{self.port}",
                ],
                cwd=ROOT,
                env=_env(self.db_file) | self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(
            self._answers,
            timeout=30,
            message=lambda: f"central server did not start: {self.log.read_text()[-2000:]}",
        )

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"central server exited: {self.log.read_text()[-2000:]}")
        try:
            requests.get(f"{self.url}/api/v1/federation/registries/", timeout=1)
        except requests.ConnectionError:
            return False
        return True

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def make_central(central_template, tmp_path, request):
    """Start a fresh central registry for one test with extra environment, e.g.
    `make_central(REGISTRY_MAX_PUSH_BYTES="200000")`; stopped by a finalizer whatever
    happens."""

    def _make(**env: str) -> CentralServer:
        db_file = tmp_path / "central.sqlite3"
        shutil.copy(central_template.db_file, db_file)
        server = CentralServer(db_file, tmp_path / "central.log", env)
        request.addfinalizer(server.stop)
        server.start()
        return _with_api(server, central_template)

    return _make


@pytest.fixture
def central(make_central):
    """A fresh central registry for one test, stopped by a finalizer whatever happens."""
    return make_central()


def _with_api(server: CentralServer, central_template) -> CentralServer:
    """The server with `api(method, path, token=…)` (the central admin's token unless
    given) and the tokens of its users."""

    def api(method: str, path: str, *, token: str | None = None, **kwargs):
        token = token or central_template.admin
        headers = {"Authorization": f"Token {token}"}
        return requests.request(method, server.url + path, headers=headers, timeout=10, **kwargs)

    server.api = api
    server.tokens = central_template
    return server
