"""The CLI's whole flow against a live registry.

A real server (pytest-django's live_server, a thread of this process serving the real
URL configuration over HTTP) and the real CLI (modelreg_cli.main.main, in-process, plus
one run of the installed console script as a subprocess). The CLI authenticates with
tokens it obtained through `modelreg login`; the reviewer approves through the REST API
with their own token, as a person would in the dashboard (a different door).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from approvals_app.cards import SECTION_TITLES
from modelreg_cli import exit_codes
from modelreg_cli.main import main
from models_app import selectors
from models_app.enums import Stage
from models_app.models import RegisteredModel

pytestmark = pytest.mark.django_db(transaction=True)

CARD = "\n".join(
    f"## {title}\n\n{title} of the fraud model.\n" for title in SECTION_TITLES.values()
)
PASSWORD = "pw"  # tests.factories.UserFactory's password


@pytest.fixture
def cli(live_server, settings, tmp_path, monkeypatch, capsys, people):
    """cli(*argv, token=…) → (exit code, stdout, stderr), against the live server."""
    settings.MEDIA_ROOT = str(tmp_path / "artifacts")
    monkeypatch.setenv("REGISTRY_URL", live_server.url)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("REGISTRY_TOKEN", "REGISTRY_PASSWORD", "REGISTRY_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    capsys.readouterr()

    def run(*argv: str, token: str | None = None) -> tuple[int, str, str]:
        args = [*argv, "--no-progress"]
        if token is not None:
            args += ["--token", token]
        code = main(args)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    run.people = people
    run.url = live_server.url
    run.media_root = Path(settings.MEDIA_ROOT)
    return run


def login(cli, monkeypatch, username: str) -> str:
    """A token for `username` from `modelreg login`, printed and not saved."""
    monkeypatch.setenv("REGISTRY_PASSWORD", PASSWORD)
    code, out, err = cli("login", "--username", username, "--no-save", "--print-token")
    monkeypatch.delenv("REGISTRY_PASSWORD")
    assert code == exit_codes.OK, err
    return out.strip()


def approve(cli, reviewer_token: str, model: str, version: str) -> None:
    """The reviewer's door: the REST API with the reviewer's own token (the CLI has no
    review command). The reviewer reads the card, then approves the revision read."""
    headers = {"Authorization": f"Token {reviewer_token}"}
    base = f"{cli.url}/api/v1/models/{model}/versions/{version}"
    card = requests.get(f"{base}/card/", headers=headers, timeout=30)
    assert card.status_code == 200, card.text
    response = requests.post(
        f"{base}/reviews/",
        json={
            "decision": "approve",
            "comment": "Card and metrics look right.",
            "revision_sha256": card.json()["sha256"],
        },
        headers={"Authorization": f"Token {reviewer_token}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text


def write_inputs(tmp_path: Path, name: str, payload: bytes, accuracy: float) -> dict:
    artifact = tmp_path / f"{name}.bin"
    artifact.write_bytes(payload)
    metrics = tmp_path / f"{name}-metrics.json"
    metrics.write_text(json.dumps({"accuracy": accuracy, "latency_ms": 12.5}))
    card = tmp_path / f"{name}-card.md"
    card.write_text(CARD)
    return {"artifact": artifact, "metrics": metrics, "card": card}


def test_cli_whole_flow_register_checks_promote_rollback_download(cli, tmp_path, monkeypatch):
    people = cli.people
    # --- login: the contributor's token is saved (0600) and used when REGISTRY_TOKEN is unset
    monkeypatch.setenv("REGISTRY_PASSWORD", PASSWORD)
    code, out, err = cli("login", "--username", "author")
    monkeypatch.delenv("REGISTRY_PASSWORD")
    assert code == exit_codes.OK, err
    token_file = tmp_path / "config" / "modelreg" / "token"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    reviewer = login(cli, monkeypatch, "reviewer")
    release = login(cli, monkeypatch, "release")

    # --- register 1.0.0 with an upload, a metrics file and a card; create the model too
    payload = os.urandom(300_000) + b"model-1.0.0"
    first = write_inputs(tmp_path, "v1", payload, accuracy=0.93)
    code, out, err = cli(
        "register", "fraud_detector", "1.0.0",
        "--create-model", "--team", "fraud",
        "--metrics", str(first["metrics"]),
        "--card", str(first["card"]),
        "--artifact", str(first["artifact"]),
        "--code-version", "abc1234",
        "--tag", "framework=sklearn",
        "--request-review",
        "--json",
    )  # fmt: skip
    assert code == exit_codes.OK, err
    result = json.loads(out)
    sha_v1 = hashlib.sha256(payload).hexdigest()
    assert result["version"]["stage"] == Stage.STAGING
    assert result["version"]["artifact_sha256"] == sha_v1
    assert result["version"]["artifact_size"] == len(payload)
    assert result["version"]["metrics"] == {"accuracy": 0.93, "latency_ms": 12.5}
    assert result["review_requested"] is True
    model = RegisteredModel.objects.get(name="fraud_detector")
    assert model.team == people.team
    stored = selectors.version_get(model=model, version="1.0.0")
    assert (stored.created_by.username, stored.tags) == ("author", {"framework": "sklearn"})

    # --- checks fail with reasons and exit code 6; promote is refused with the same reasons
    code, out, err = cli("checks", "fraud_detector", "1.0.0")
    assert code == exit_codes.REFUSED
    failed = [line for line in out.splitlines() if line.startswith("✗")]
    assert failed, out
    assert any("approv" in line.lower() for line in failed), out
    assert "cannot be promoted" in out
    code, out, err = cli("promote", "fraud_detector", "1.0.0", "--reason", "ship", token=release)
    assert code == exit_codes.REFUSED
    assert "✗" in err and "approv" in err.lower()
    assert selectors.production_version(model=model) is None

    # --- the reviewer approves; checks pass; a contributor may not promote; a release manager can
    approve(cli, reviewer, "fraud_detector", "1.0.0")
    code, out, err = cli("checks", "fraud_detector", "1.0.0", "--json")
    assert code == exit_codes.OK, out
    assert json.loads(out)["passed"] is True
    code, out, err = cli("promote", "fraud_detector", "1.0.0", "--reason", "first release")
    assert code == exit_codes.PERMISSION  # the saved token is the contributor's
    code, out, err = cli(
        "promote", "fraud_detector", "1.0.0", "--reason", "first release", token=release
    )
    assert code == exit_codes.OK, err
    assert "production" in out

    # --- production shows it, with the checksum
    code, out, err = cli("production", "fraud_detector")
    assert code == exit_codes.OK, err
    assert "1.0.0" in out and sha_v1 in out
    code, out, err = cli("production", "fraud_detector", "--json")
    production = json.loads(out)
    assert (production["version"], production["artifact_sha256"]) == ("1.0.0", sha_v1)
    code, out, err = cli(
        "production", "fraud_detector", "--json", "--if-none-match", production["etag"]
    )
    assert (code, json.loads(out)["not_modified"]) == (exit_codes.OK, True)

    # --- a second version goes the same way
    second = write_inputs(tmp_path, "v2", b"model-1.1.0" * 1000, accuracy=0.95)
    code, out, err = cli(
        "register", "fraud_detector", "1.1.0",
        "--metrics", str(second["metrics"]),
        "--card", str(second["card"]),
        "--artifact", str(second["artifact"]),
        "--request-review",
    )  # fmt: skip
    assert code == exit_codes.OK, err
    approve(cli, reviewer, "fraud_detector", "1.1.0")
    code, out, err = cli(
        "promote", "fraud_detector", "1.1.0", "--reason", "better accuracy", token=release
    )
    assert code == exit_codes.OK, err
    code, out, err = cli("production", "fraud_detector", "--json")
    assert json.loads(out)["version"] == "1.1.0"
    # The old ETag no longer matches: the poller gets the new answer.
    code, out, err = cli(
        "production", "fraud_detector", "--json", "--if-none-match", production["etag"]
    )
    assert json.loads(out)["version"] == "1.1.0"

    # --- rollback: production shows the first version again
    code, out, err = cli(
        "rollback", "fraud_detector", "--reason", "latency regression", token=release
    )
    assert code == exit_codes.OK, err
    assert "1.0.0" in out
    code, out, err = cli("production", "fraud_detector")
    assert "1.0.0" in out
    assert selectors.version_get(model=model, version="1.1.0").stage == Stage.ROLLED_BACK

    # --- history: the audit trail names the users behind the tokens
    code, out, err = cli("history", "fraud_detector", "--json")
    assert code == exit_codes.OK, err
    events = json.loads(out)
    by_action = {(e["action"], e["version"]): e["actor"] for e in events}
    assert by_action[("version.promoted", "1.0.0")] == "release"
    assert by_action[("version.registered", "1.1.0")] == "author"
    assert by_action[("version.rolled_back", "1.1.0")] == "release"
    # Every page is fetched: two events a page gives the same trail as one big page.
    code, out, err = cli("history", "fraud_detector", "--json", "--page-size", "2")
    assert [e["id"] for e in json.loads(out)] == [e["id"] for e in events]
    code, out, err = cli("history", "fraud_detector", "--version", "1.1.0", "--json")
    assert {e["version"] for e in json.loads(out)} == {"1.1.0"}
    code, out, err = cli("history", "fraud_detector", "--limit", "3")
    assert code == exit_codes.OK
    assert out.splitlines()[0].split()[:2] == ["when", "(UTC)"]
    assert "latency regression" in out
    assert len(out.splitlines()) == 2 + 3  # header, rule, three events

    # --- download verifies the checksum
    target = tmp_path / "downloads" / "model.bin"
    target.parent.mkdir()
    code, out, err = cli("download", "fraud_detector", "1.0.0", "-o", str(target))
    assert code == exit_codes.OK, err
    assert target.read_bytes() == payload
    assert sha_v1 in out

    # --- a tampered stored file: exit 10, nothing left under the target name
    stored = selectors.version_get(model=model, version="1.0.0")
    path = cli.media_root / stored.artifact_uri.removeprefix("registry:/")
    assert path.is_file()
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF  # same length, different bytes
    path.write_bytes(bytes(data))
    tampered = tmp_path / "downloads" / "tampered.bin"
    code, out, err = cli("download", "fraud_detector", "1.0.0", "-o", str(tampered))
    assert code == exit_codes.CHECKSUM
    assert "mismatch" in err.lower()
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.bin"]  # no partial file


def test_cli_exit_codes_against_the_live_registry(cli, tmp_path, monkeypatch):
    author = login(cli, monkeypatch, "author")
    release = login(cli, monkeypatch, "release")
    card = tmp_path / "card.md"
    card.write_text(CARD)

    # Not found: no model, and no --create-model.
    code, out, err = cli("register", "nope", "1.0.0", token=author)
    assert code == exit_codes.NOT_FOUND, err
    # Authentication: a wrong token, and a wrong password at login.
    code, out, err = cli("production", "nope", token="0" * 64)
    assert code == exit_codes.AUTHENTICATION
    assert "modelreg login" in err
    monkeypatch.setenv("REGISTRY_PASSWORD", "wrong")
    assert cli("login", "--username", "author", "--no-save")[0] == exit_codes.AUTHENTICATION
    monkeypatch.delenv("REGISTRY_PASSWORD")
    # A script pipes the password in; --json carries the token only with --print-token.
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    code, out, err = cli("login", "-u", "author", "--password-stdin", "--no-save", "--json")
    assert code == exit_codes.OK, err
    assert (json.loads(out)["username"], "token" in json.loads(out)) == ("author", False)

    code, out, err = cli(
        "register", "fraud_detector", "2.0.0", "--create-model", "--team", "fraud",
        "--artifact-uri", "s3://models/fraud/2.0.0/model.pkl", token=author,
    )  # fmt: skip
    assert code == exit_codes.OK, err
    # Conflict: the same version again.
    code, out, err = cli("register", "fraud_detector", "2.0.0", "--json", token=author)
    assert code == exit_codes.CONFLICT
    assert json.loads(out)["error"]["code"] == "conflict"
    # Validation: invalid SemVer; a traversal URI.
    code, out, err = cli("register", "fraud_detector", "2.0", token=author)
    assert code == exit_codes.VALIDATION
    assert "version" in err.lower()
    code, out, err = cli(
        "register", "fraud_detector", "2.0.1", "--artifact-uri", "s3://b/../../etc/passwd",
        token=author,
    )  # fmt: skip
    assert code == exit_codes.VALIDATION
    # Validation: a registry: URI is the registry's to make; the CLI says how to upload.
    code, out, err = cli(
        "register", "fraud_detector", "2.0.1",
        "--artifact-uri", "registry:/artifacts/fraud_detector/2.0.0/0123456789abcdef",
        token=author,
    )  # fmt: skip
    assert code == exit_codes.VALIDATION
    assert "artifact_uri: registry: URIs" in err
    assert "made only by the registry" in err and "--artifact FILE" in err
    # Validation: percent-encoding that is not UTF-8 (an overlong '/').
    code, out, err = cli(
        "register", "fraud_detector", "2.0.1", "--artifact-uri", "s3://b/..%c0%af..%c0%afetc",
        token=author,
    )  # fmt: skip
    assert code == exit_codes.VALIDATION
    assert "not valid UTF-8" in err
    fraud = RegisteredModel.objects.get(name="fraud_detector")
    assert not selectors.version_list(model=fraud).filter(version="2.0.1").exists()
    # Not found: production before anything is promoted; a URI-only version has no download.
    assert cli("production", "fraud_detector", token=author)[0] == exit_codes.NOT_FOUND
    code, out, err = cli(
        "download", "fraud_detector", "2.0.0", "-o", str(tmp_path / "x"), token=author
    )
    assert code == exit_codes.NOT_FOUND
    assert not (tmp_path / "x").exists()
    # Refused: rollback with nothing in production; deprecate, then promote a deprecated one.
    code, out, err = cli("rollback", "fraud_detector", "--reason", "r", token=release)
    assert code == exit_codes.REFUSED
    code, out, err = cli(
        "deprecate", "fraud_detector", "2.0.0", "--reason", "bad data", token=release
    )
    assert code == exit_codes.OK, err
    code, out, err = cli("promote", "fraud_detector", "2.0.0", "--reason", "r", token=release)
    assert code == exit_codes.REFUSED
    # Permission: a contributor archiving.
    code, out, err = cli("register", "fraud_detector", "2.1.0", "--card", str(card), token=author)
    assert code == exit_codes.OK, err
    code, out, err = cli("archive", "fraud_detector", "2.1.0", "--reason", "r", token=author)
    assert code == exit_codes.PERMISSION
    code, out, err = cli("archive", "fraud_detector", "2.1.0", "--reason", "r", token=release)
    assert code == exit_codes.OK, err
    # Conflict: artifacts are write-once.
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"x" * 10)
    code, out, err = cli(
        "register", "fraud_detector", "2.2.0", "--artifact", str(blob), token=author
    )
    assert code == exit_codes.OK, err
    code, out, err = cli("upload", "fraud_detector", "2.2.0", str(blob), token=author)
    assert code == exit_codes.CONFLICT
    # The card and request-review commands on their own.
    code, out, err = cli("card", "fraud_detector", "2.2.0", str(card), token=author)
    assert (code, "revision 2" in out) == (exit_codes.OK, True), out + err
    code, out, err = cli("request-review", "fraud_detector", "2.2.0", token=author)
    assert code == exit_codes.OK, err
    # Not found: a rollback target that does not exist.
    code, out, err = cli(
        "rollback", "fraud_detector", "--to", "9.9.9", "--reason", "r", token=release
    )
    assert code == exit_codes.NOT_FOUND
    # logout revokes the token on the server: it stops working at once.
    assert cli("logout", token=author)[0] == exit_codes.OK
    assert cli("production", "fraud_detector", token=author)[0] == exit_codes.AUTHENTICATION


def test_cli_console_script_runs_as_a_subprocess(cli, monkeypatch):
    token = login(cli, monkeypatch, "viewer")
    env = {**os.environ, "REGISTRY_URL": cli.url, "REGISTRY_TOKEN": token}
    script = Path(sys.executable).with_name("modelreg")
    done = subprocess.run(
        [str(script), "production", "no_such_model", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == exit_codes.NOT_FOUND, done.stderr
    assert json.loads(done.stdout)["error"]["code"] == "not_found"
