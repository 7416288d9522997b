"""LOG_FORMAT=json: one JSON object per line for each request and each background job."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from registry_site.logs import JsonFormatter
from tests.factories import make_model

ROOT = Path(__file__).resolve().parents[1]


def _json_lines(records) -> list[dict]:
    return [json.loads(JsonFormatter().format(record)) for record in records]


def test_each_request_logs_one_line_with_its_id_user_route_status_and_duration(
    client, people, model, caplog
):
    client.force_login(people.viewer)
    with caplog.at_level(logging.INFO, logger="registry_site.requests"):
        response = client.get(f"/models/{model.name}/", HTTP_X_REQUEST_ID="req-abcdef0123456789")
    assert response.status_code == 200
    records = [r for r in caplog.records if r.name == "registry_site.requests"]
    assert len(records) == 1
    (line,) = _json_lines(records)
    assert line["request_id"] == "req-abcdef0123456789" == response["X-Request-ID"]
    assert line["user"] == "viewer"
    assert line["route"].startswith("models/<") and "fraud_detector" not in line["route"]
    assert (line["method"], line["status"]) == ("GET", 200)
    assert isinstance(line["duration_ms"], float)
    assert line["level"] == "INFO"
    assert line["logger"] == "registry_site.requests"


SYNC = {
    "central_url": "http://127.0.0.1:9",
    "token": "not-a-token",
    "registry_id": "team-x",
    "timeout": 2,
}


def test_a_catalog_sync_run_logs_one_line(db, caplog):
    with caplog.at_level(logging.INFO, logger="federation_app.sync"):
        call_command("sync_catalog", **SYNC)  # nothing to push: no request made
    (line,) = _json_lines(r for r in caplog.records if r.name == "federation_app.sync")
    assert (line["job"], line["result"], line["items"]) == ("sync_catalog", "succeeded", 0)


def test_a_failed_catalog_sync_run_logs_one_line(people, caplog):
    make_model(actor=people.author, team=people.team, name="fraud_detector")
    with caplog.at_level(logging.INFO, logger="federation_app.sync"), pytest.raises(CommandError):
        call_command("sync_catalog", **SYNC)  # nobody listens on port 9
    (line,) = _json_lines(r for r in caplog.records if r.name == "federation_app.sync")
    assert (line["job"], line["result"], line["level"]) == ("sync_catalog", "failed", "WARNING")
    assert isinstance(line["duration_ms"], int)


@pytest.mark.slow
def test_log_format_json_writes_json_lines_to_the_console(tmp_path):
    """The real settings: with LOG_FORMAT=json a request's line on stderr is JSON; the
    default is plain text."""
    script = "from django.test import Client; Client().get('/healthz')"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "REGISTRY_", "PYTEST_", "LOG_"))
    }
    env.update(DJANGO_SETTINGS_MODULE="registry_site.settings", DEBUG="1")
    env["REGISTRY_VAR_DIR"] = str(tmp_path)

    def run(**extra) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", script],
            cwd=ROOT,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stderr

    lines = [json.loads(line) for line in run(LOG_FORMAT="json").splitlines() if line.strip()]
    request = next(line for line in lines if line["logger"] == "registry_site.requests")
    assert (request["route"], request["status"], request["method"]) == ("healthz", 200, "GET")
    assert len(request["request_id"]) == 32

    text = run()
    assert "registry_site.requests GET healthz 200" in text
    assert not text.lstrip().startswith("{")
