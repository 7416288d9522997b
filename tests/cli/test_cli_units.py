"""The CLI's own logic without a server: argument parsing, configuration, exit codes, files.

The whole flow against a live registry is in test_cli_live.py; these pin the parts a
pipeline relies on that need no server (and a refused connection, which is outside the
process).
"""

from __future__ import annotations

import json
import stat

import pytest
import requests

from modelreg_cli import config, exit_codes
from modelreg_cli.client import Client, error_from, version_path
from modelreg_cli.errors import CliError
from modelreg_cli.main import guard_lines, main, parse_args, parse_tags, read_json_object
from modelreg_cli.transfer import PartialFile, Progress, UploadBody

CLOSED = "http://127.0.0.1:1"  # nothing listens on port 1: a refused connection


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("REGISTRY_URL", "REGISTRY_TOKEN", "REGISTRY_PASSWORD", "REGISTRY_USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


def response(
    status: int, body, url: str = "http://r.example/api/v1/models/m/"
) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = json.dumps(body).encode() if body is not None else b"<html>oops</html>"
    r.headers["Content-Type"] = "application/json" if body is not None else "text/html"
    r.url = url
    r.request = requests.Request("GET", url).prepare()
    return r


# --- Exit codes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (400, "invalid", exit_codes.VALIDATION),
        (401, "not_authenticated", exit_codes.AUTHENTICATION),
        (403, "permission_denied", exit_codes.PERMISSION),
        (404, "not_found", exit_codes.NOT_FOUND),
        (409, "guards_failed", exit_codes.REFUSED),
        (409, "invalid_transition", exit_codes.REFUSED),
        (409, "conflict", exit_codes.CONFLICT),
        (413, "too_large", exit_codes.VALIDATION),
        (415, "unsupported_media_type", exit_codes.VALIDATION),
        (429, "throttled", exit_codes.SERVER),
        (500, "server_error", exit_codes.SERVER),
        (502, None, exit_codes.SERVER),
        (400, "checksum_mismatch", exit_codes.CHECKSUM),
    ],
)
def test_exit_code_for_each_status(status, code, expected):
    assert exit_codes.for_response(status, code) == expected


def test_exit_codes_are_distinct_and_documented():
    codes = [v for k, v in vars(exit_codes).items() if k.isupper() and isinstance(v, int)]
    assert len(codes) == len(set(codes))
    assert set(codes) == set(exit_codes.DESCRIPTIONS)


def test_error_from_keeps_the_api_error_body():
    details = [{"guard": "review", "passed": False, "reason": "0 of 1 approvals"}]
    err = error_from(
        response(409, {"error": {"code": "guards_failed", "message": "no", "details": details}})
    )
    assert (err.exit_code, err.code, err.message, err.details, err.status) == (
        exit_codes.REFUSED,
        "guards_failed",
        "no",
        details,
        409,
    )


def test_error_from_non_json_answer_names_the_status():
    err = error_from(response(502, None))
    assert err.exit_code == exit_codes.SERVER
    assert "HTTP 502" in err.message


def test_guard_lines_mark_pass_and_fail():
    lines = guard_lines(
        [
            {"guard": "card", "passed": True, "reason": "all sections filled"},
            {"guard": "threshold:accuracy", "passed": False, "reason": "accuracy 0.87 < 0.9"},
        ]
    )
    assert lines == ["✓ card: all sections filled", "✗ threshold:accuracy: accuracy 0.87 < 0.9"]


# --- Arguments and configuration ----------------------------------------------------------


def test_missing_url_is_a_usage_error(capsys):
    assert main(["production", "m"]) == exit_codes.USAGE
    assert "REGISTRY_URL" in capsys.readouterr().err


def test_promote_without_reason_is_a_usage_error(capsys):
    assert main(["--url", CLOSED, "promote", "m", "1.0.0"]) == exit_codes.USAGE
    assert "--reason" in capsys.readouterr().err


def test_artifact_and_artifact_uri_are_exclusive():
    argv = [
        "--url",
        CLOSED,
        "register",
        "m",
        "1.0.0",
        "--artifact",
        "a",
        "--artifact-uri",
        "s3://b/k",
    ]
    assert main(argv) == exit_codes.USAGE


def test_common_options_work_before_and_after_the_command(monkeypatch):
    before = parse_args(["--json", "--url", "http://a.example", "production", "m"])
    after = parse_args(["production", "m", "--json", "--url", "http://a.example"])
    assert (before.json, before.url) == (after.json, after.url) == (True, "http://a.example")


def test_url_suffix_api_v1_is_tolerated():
    assert config.resolve_url("https://r.example/api/v1/") == "https://r.example"


def test_url_without_scheme_is_refused():
    with pytest.raises(CliError) as caught:
        config.resolve_url("r.example")
    assert caught.value.exit_code == exit_codes.USAGE


def test_token_precedence_flag_then_env_then_file(monkeypatch):
    config.save_token("from-file")
    assert config.resolve_token(None) == "from-file"
    monkeypatch.setenv("REGISTRY_TOKEN", "from-env")
    assert config.resolve_token(None) == "from-env"
    assert config.resolve_token("from-flag") == "from-flag"


def test_saved_token_is_readable_by_its_owner_only():
    path = config.save_token("secret")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_saved_token_tightens_an_existing_loose_file():
    path = config.token_path()
    path.parent.mkdir(parents=True)
    path.write_text("old")
    path.chmod(0o644)
    config.save_token("new")
    assert (stat.S_IMODE(path.stat().st_mode), path.read_text()) == (0o600, "new\n")


def test_login_without_password_in_a_script_is_a_usage_error(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", open("/dev/null"))  # noqa: SIM115 - not a terminal
    assert main(["--url", CLOSED, "login", "--username", "ci"]) == exit_codes.USAGE
    assert "REGISTRY_PASSWORD" in capsys.readouterr().err


def test_tags_parse_key_value_pairs():
    assert parse_tags(["team=fraud", "note=a=b"]) == {"team": "fraud", "note": "a=b"}


def test_tag_without_equals_is_a_usage_error():
    with pytest.raises(CliError) as caught:
        parse_tags(["oops"])
    assert caught.value.exit_code == exit_codes.USAGE


# --- Local files ----------------------------------------------------------------------------


def test_metrics_with_nan_are_refused_locally(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('{"accuracy": NaN}')
    with pytest.raises(CliError) as caught:
        read_json_object(str(path), "metrics")
    assert caught.value.exit_code == exit_codes.VALIDATION
    assert "NaN" in caught.value.message


def test_metrics_must_be_an_object(tmp_path):
    path = tmp_path / "m.json"
    path.write_text("[0.9]")
    with pytest.raises(CliError) as caught:
        read_json_object(str(path), "metrics")
    assert caught.value.exit_code == exit_codes.VALIDATION


def test_register_reads_local_files_before_any_request(tmp_path, capsys):
    # The registry URL refuses connections: a request would exit 9, not 2.
    argv = ["--url", CLOSED, "register", "m", "1.0.0", "--metrics", str(tmp_path / "missing.json")]
    assert main(argv) == exit_codes.USAGE
    assert "missing.json" in capsys.readouterr().err


def test_register_with_missing_artifact_is_a_usage_error(tmp_path):
    argv = ["--url", CLOSED, "register", "m", "1.0.0", "--artifact", str(tmp_path / "nope.bin")]
    assert main(argv) == exit_codes.USAGE


def test_create_model_needs_a_team():
    assert main(["--url", CLOSED, "register", "m", "1.0.0", "--create-model"]) == exit_codes.USAGE


# --- Network failures -------------------------------------------------------------------------


def test_unreachable_registry_exits_with_server_code(capsys):
    assert main(["--url", CLOSED, "--token", "t", "production", "m"]) == exit_codes.SERVER
    assert "Cannot reach the registry" in capsys.readouterr().err


def test_json_error_document_on_stdout_when_asked(capsys):
    assert main(["--url", CLOSED, "--json", "production", "m"]) == exit_codes.SERVER
    doc = json.loads(capsys.readouterr().out)
    assert (doc["exit_code"], doc["error"]["code"]) == (exit_codes.SERVER, "network_error")


# --- Transfers --------------------------------------------------------------------------------


def test_upload_body_is_streamed_with_a_content_length(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"x" * (3 * 1024 * 1024 + 5))
    body = UploadBody(path, Progress("up", None, enabled=False))
    prepared = requests.Request("PUT", "http://r.example/", data=body).prepare()
    # Content-Length, not chunked encoding (which Django's WSGI server cannot read), and
    # the body is the iterable itself, not the file's bytes read into memory.
    assert prepared.headers["Content-Length"] == str(path.stat().st_size)
    assert "Transfer-Encoding" not in prepared.headers
    assert prepared.body is body
    assert b"".join(body) == path.read_bytes()


def test_progress_bar_draws_on_its_stream(tmp_path):
    class Sink(list):
        def write(self, text):
            self.append(text)

        def flush(self):
            pass

    sink = Sink()
    progress = Progress("Uploading m.bin", 200, enabled=True, stream=sink)
    progress.update(100)
    progress.update(100)
    progress.close()
    assert "Uploading m.bin" in "".join(sink)
    assert "100.0%" in "".join(sink)


def test_partial_download_is_discarded_without_touching_the_destination(tmp_path):
    destination = tmp_path / "model.bin"
    partial = PartialFile(destination)
    partial.write(b"half")
    partial.discard()
    assert list(tmp_path.iterdir()) == []


def test_partial_download_commits_under_the_final_name(tmp_path):
    destination = tmp_path / "model.bin"
    partial = PartialFile(destination)
    partial.write(b"all of it")
    partial.commit()
    assert [p.name for p in tmp_path.iterdir()] == ["model.bin"]
    assert destination.read_bytes() == b"all of it"


def test_version_paths_encode_build_metadata():
    assert version_path("fraud_detector", "1.0.0+build.7", "artifact") == (
        "models/fraud_detector/versions/1.0.0%2Bbuild.7/artifact/"
    )


def test_client_sends_the_token_header():
    client = Client("http://r.example", "abc")
    assert client.session.headers["Authorization"] == "Token abc"
    assert client.url("models/") == "http://r.example/api/v1/models/"
