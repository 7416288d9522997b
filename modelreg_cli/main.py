"""`modelreg`: register, check, promote, roll back and fetch models from CI/CD pipelines.

Each command is one function taking the parsed arguments and a Client and returning an
exit code; failures raise CliError, which main() reports on stderr (and, with --json, as
a JSON error document on stdout) before returning its exit code. The command line is
documented in docs/cli.md; the exit codes in modelreg_cli/exit_codes.py.
"""

from __future__ import annotations

import argparse
import getpass
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import requests

from . import __version__, config, exit_codes
from .client import Client, model_path, version_path
from .errors import CliError, usage
from .transfer import PartialFile, Progress, UploadBody, file_sha256, human_size

CHECK, CROSS = "✓", "✗"

# --- Output ----------------------------------------------------------------------------------


class Output:
    """Human text or JSON on stdout; messages and progress on stderr."""

    def __init__(self, *, as_json: bool, stdout=None, stderr=None) -> None:
        self.as_json = as_json
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr

    def result(self, data: Any, text: str | Callable[[], str]) -> None:
        if self.as_json:
            self.stdout.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))
            self.stdout.write("\n")
        else:
            out = text() if callable(text) else text
            if out:
                self.stdout.write(out.rstrip("\n") + "\n")
        self.stdout.flush()

    def note(self, message: str) -> None:
        """A human message that is not the result (kept off stdout so JSON stays parseable)."""
        self.stderr.write(message.rstrip("\n") + "\n")
        self.stderr.flush()


# --- Local input files -----------------------------------------------------------------------


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


def read_json_object(path: str, what: str) -> dict:
    """A JSON object from a file; NaN and Infinity are refused here, as the registry would."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise usage(f"Cannot read the {what} file {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise CliError(
            f"The {what} file {path} is not valid JSON: {exc}",
            exit_code=exit_codes.VALIDATION,
            code="invalid_json",
        ) from exc
    if not isinstance(data, dict):
        raise CliError(
            f'The {what} file {path} must hold a JSON object ({{"name": value, …}}).',
            exit_code=exit_codes.VALIDATION,
            code="invalid_json",
        )
    return data


def read_text_file(path: str, what: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CliError(
            f"The {what} file {path} is not UTF-8 text.", exit_code=exit_codes.VALIDATION
        ) from exc
    except OSError as exc:
        raise usage(f"Cannot read the {what} file {path}: {exc.strerror or exc}") from exc


def parse_tags(pairs: Sequence[str] | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise usage(f"--tag takes KEY=VALUE (got {pair!r}).")
        tags[key.strip()] = value
    return tags


def readable_file(path: str, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise usage(f"The {what} {path} does not exist or is not a regular file.")
    if not os.access(p, os.R_OK):
        raise usage(f"The {what} {path} is not readable.")
    return p


# --- Formatting ------------------------------------------------------------------------------


def guard_lines(results: Sequence[dict]) -> list[str]:
    lines = []
    for r in results:
        mark = CHECK if r.get("passed") else CROSS
        lines.append(f"{mark} {r.get('guard', '?')}: {r.get('reason', '')}")
    return lines


def report_refusal(out: Output, error: CliError) -> None:
    """Print each failed guard's reason on stderr."""
    if error.code == "guards_failed" and isinstance(error.details, list):
        failed = [r for r in error.details if isinstance(r, dict) and not r.get("passed")]
        for line in guard_lines(failed):
            out.note(f"  {line}")


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*headers).rstrip(), fmt.format(*("-" * w for w in widths)).rstrip()]
    lines += [fmt.format(*row).rstrip() for row in rows]
    return "\n".join(lines)


def one_line(value: Any, limit: int = 60) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- Commands --------------------------------------------------------------------------------


def cmd_login(args, out: Output) -> int:
    url = config.resolve_url(args.url)
    username = args.username or os.environ.get("REGISTRY_USERNAME")
    if not username:
        if not sys.stdin.isatty():
            raise usage("No username: pass --username (or set REGISTRY_USERNAME).")
        # The prompt goes to stderr so that `--print-token` leaves only the token on stdout.
        sys.stderr.write("Username: ")
        sys.stderr.flush()
        username = sys.stdin.readline().strip()
    password = os.environ.get(config.PASSWORD_ENV)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        if not sys.stdin.isatty():
            raise usage(
                f"No password: set {config.PASSWORD_ENV}, or pipe it with --password-stdin."
            )
        password = getpass.getpass(f"Password for {username}: ")
    client = Client(url, None, timeout=args.timeout)
    data = client.send_json("POST", "auth/token/", {"username": username, "password": password})
    token, expiry = data.get("token"), data.get("expiry")
    if not token:
        raise CliError("The registry answered without a token.", exit_code=exit_codes.SERVER)
    saved = None
    if not args.no_save:
        saved = config.save_token(token)
    result = {"username": username, "expiry": expiry, "saved_to": str(saved) if saved else None}
    if args.print_token:
        result["token"] = token
    if args.print_token and not out.as_json:
        out.result(result, token)
    else:
        out.result(result, "")
    if not out.as_json:
        where = f"saved to {saved}" if saved else "not saved"
        out.note(f"Logged in to {url} as {username}; token {where} (expires {expiry or 'never'}).")
    return exit_codes.OK


def cmd_logout(args, out: Output) -> int:
    client = make_client(args)
    revoked = False
    if client.token:
        # 401: the token had already expired or been revoked; forgetting it is still right.
        response = client.request("DELETE", "auth/token/", ok=(401,))
        revoked = response.status_code == 204
    removed = config.forget_token() if not args.keep_file else False
    out.result(
        {"revoked": revoked, "removed_file": removed},
        f"Token {'revoked' if revoked else 'not set'}"
        f"{'; saved token file removed' if removed else ''}.",
    )
    return exit_codes.OK


def _ensure_model(client: Client, args, out: Output) -> None:
    """With --create-model, create the model for --team when it does not exist yet."""
    try:
        client.get_json(model_path(args.model))
        return
    except CliError as exc:
        if exc.exit_code != exit_codes.NOT_FOUND:
            raise
    client.send_json("POST", "models/", {"name": args.model, "team": args.team})
    out.note(f"Created model {args.model} for team {args.team}.")


def cmd_register(args, out: Output) -> int:
    if args.create_model and not args.team:
        raise usage("--create-model needs --team SLUG (the team that will own the model).")
    if args.team and not args.create_model:
        raise usage("--team is only used with --create-model.")
    # Read every local file before the first request, so a typo fails before anything is
    # registered.
    body: dict[str, Any] = {"version": args.version}
    if args.metrics:
        body["metrics"] = read_json_object(args.metrics, "metrics")
    if args.params:
        body["params"] = read_json_object(args.params, "params")
    card = read_text_file(args.card, "model card") if args.card else None
    artifact = readable_file(args.artifact, "artifact") if args.artifact else None
    if args.artifact_uri:
        body["artifact_uri"] = args.artifact_uri
    for field in ("data_version", "code_version", "source_run", "description"):
        value = getattr(args, field)
        if value is not None:
            body[field] = value
    if args.tag:
        body["tags"] = parse_tags(args.tag)

    client = make_client(args)
    if args.create_model:
        _ensure_model(client, args, out)
    version = client.send_json("POST", model_path(args.model, "versions"), body)
    result: dict[str, Any] = {"version": version}
    if not out.as_json:
        out.note(f"Registered {args.model} {args.version} (number {version.get('number')}).")
    done = "registered"
    try:
        if artifact is not None:
            result["artifact"] = upload_artifact(client, args, out, artifact)
            done = "registered with its artifact"
        if card is not None:
            result["card"] = client.send_json(
                "PUT", version_path(args.model, args.version, "card"), {"markdown": card}
            )
            if not out.as_json:
                out.note(f"Model card saved (revision {result['card'].get('revision', '?')}).")
        if args.request_review:
            client.send_json("POST", version_path(args.model, args.version, "request-review"), {})
            result["review_requested"] = True
            if not out.as_json:
                out.note("Review requested.")
    except CliError as exc:
        # The version exists now; say so, so that a retry does not register it twice.
        exc.message = (
            f"{args.model} {args.version} was {done}, but a later step failed: {exc.message}"
        )
        raise
    result["version"] = client.get_json(version_path(args.model, args.version))
    out.result(result, lambda: _describe_version(result["version"]))
    return exit_codes.OK


def upload_artifact(client: Client, args, out: Output, path: Path) -> dict:
    sha256 = file_sha256(path)
    progress = Progress(f"Uploading {path.name}", path.stat().st_size, enabled=args.progress)
    body = UploadBody(path, progress)
    try:
        answer = client.send_json(
            "PUT",
            version_path(args.model, args.version, "artifact"),
            None,
            data=body,
            headers={
                "Content-Type": "application/octet-stream",
                "X-Checksum-SHA256": sha256,
            },
            timeout=(args.timeout, max(args.timeout, 600.0)),
        )
    finally:
        progress.close()
    answer = answer if isinstance(answer, dict) else {}
    recorded = answer.get("artifact_sha256") or answer.get("sha256")
    if recorded and recorded != sha256:
        raise CliError(
            f"The registry recorded sha256 {recorded} for {path}, but the file's is {sha256}.",
            exit_code=exit_codes.CHECKSUM,
            code="checksum_mismatch",
        )
    if not out.as_json:
        out.note(f"Uploaded {path.name}: {human_size(body.size)}, sha256 {sha256}.")
    return {"sha256": sha256, "size": body.size, "uri": answer.get("artifact_uri", "")}


def cmd_upload(args, out: Output) -> int:
    path = readable_file(args.file, "artifact")
    client = make_client(args)
    result = upload_artifact(client, args, out, path)
    out.result(result, f"sha256 {result['sha256']}")
    return exit_codes.OK


def cmd_card(args, out: Output) -> int:
    card = read_text_file(args.file, "model card")
    client = make_client(args)
    result = client.send_json(
        "PUT", version_path(args.model, args.version, "card"), {"markdown": card}
    )
    out.result(result, f"Model card saved (revision {(result or {}).get('revision', '?')}).")
    return exit_codes.OK


def cmd_request_review(args, out: Output) -> int:
    client = make_client(args)
    result = client.send_json("POST", version_path(args.model, args.version, "request-review"), {})
    out.result(result, f"Review requested for {args.model} {args.version}.")
    return exit_codes.OK


def _guard_results(data: Any) -> list[dict]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        for key in ("checks", "guards", "results"):
            if isinstance(data.get(key), list):
                return data[key]
    raise CliError("The registry's checks answer has no list of guards.", exit_code=9)


def cmd_checks(args, out: Output) -> int:
    client = make_client(args)
    data = client.get_json(version_path(args.model, args.version, "checks"))
    results = _guard_results(data)
    failed = [r for r in results if not r.get("passed")]
    payload = data if isinstance(data, dict) else {"checks": results}
    payload = {**payload, "passed": not failed}

    def text() -> str:
        lines = guard_lines(results)
        verdict = (
            f"{args.model} {args.version} can be promoted."
            if not failed
            else f"{args.model} {args.version} cannot be promoted: {len(failed)} of "
            f"{len(results)} checks fail."
        )
        return "\n".join([*lines, verdict])

    out.result(payload, text)
    if failed:
        if out.as_json:  # stdout holds the JSON; the reasons still reach a person's log
            for line in guard_lines(failed):
                out.note(f"  {line}")
        return exit_codes.REFUSED
    return exit_codes.OK


def _transition(args, out: Output, verb: str) -> int:
    client = make_client(args)
    result = client.send_json(
        "POST", version_path(args.model, args.version, verb), {"reason": args.reason}
    )
    past = {"promote": "Promoted", "archive": "Archived", "deprecate": "Deprecated"}[verb]
    out.result(result, lambda: f"{past} {args.model} {args.version}: stage {result.get('stage')}.")
    return exit_codes.OK


def cmd_promote(args, out: Output) -> int:
    return _transition(args, out, "promote")


def cmd_archive(args, out: Output) -> int:
    return _transition(args, out, "archive")


def cmd_deprecate(args, out: Output) -> int:
    return _transition(args, out, "deprecate")


def cmd_rollback(args, out: Output) -> int:
    client = make_client(args)
    body: dict[str, Any] = {"reason": args.reason}
    if args.to:
        body["to_version"] = args.to
    result = client.send_json("POST", model_path(args.model, "rollback"), body)
    restored = result.get("restored") if isinstance(result, dict) else None
    label = restored.get("version") if isinstance(restored, dict) else "?"
    previous = result.get("rolled_back") if isinstance(result, dict) else None
    out.result(
        result,
        f"Rolled back {args.model}: {label} is in production again"
        + (f" ({previous} is rolled_back)." if previous else "."),
    )
    return exit_codes.OK


def cmd_production(args, out: Output) -> int:
    client = make_client(args)
    headers = {"If-None-Match": args.if_none_match} if args.if_none_match else {}
    response = client.request(
        "GET", model_path(args.model, "production"), headers=headers, ok=(304,)
    )
    etag = response.headers.get("ETag")
    if response.status_code == 304:
        out.result(
            {"not_modified": True, "etag": etag or args.if_none_match},
            "",
        )
        if not out.as_json:
            out.note(f"{args.model}: production version unchanged.")
        return exit_codes.OK
    data = response.json()
    if isinstance(data, dict) and etag:
        data = {**data, "etag": etag}

    def text() -> str:
        return "\n".join(
            [
                f"version   {data.get('version')}",
                f"number    {data.get('number', '')}",
                f"uri       {data.get('artifact_uri', '')}",
                f"sha256    {data.get('artifact_sha256', '')}",
            ]
        )

    out.result(data, text)
    return exit_codes.OK


def cmd_history(args, out: Output) -> int:
    client = make_client(args)
    params: dict[str, Any] = {}
    if args.action:
        params["action"] = args.action
    if args.actor:
        params["actor"] = args.actor
    if args.page_size:
        params["page_size"] = args.page_size
    elif args.limit and not args.version:
        params["page_size"] = min(args.limit, 200)
    # The API filters by action and actor; the version filter is applied here, while
    # paging, so that --limit counts only the events shown.
    events = []
    for event in client.paginate(model_path(args.model, "history"), params):
        if args.version and event.get("version") != args.version:
            continue
        events.append(event)
        if args.limit and len(events) >= args.limit:
            break

    def text() -> str:
        rows = []
        for e in events:
            stages = ""
            if e.get("from_stage") or e.get("to_stage"):
                stages = f"{e.get('from_stage') or '—'} → {e.get('to_stage') or '—'}"
            rows.append(
                [
                    str(e.get("created_at", ""))[:19].replace("T", " "),
                    str(e.get("actor") or e.get("actor_username") or ""),
                    str(e.get("action", "")),
                    str(e.get("version") or e.get("version_label") or ""),
                    stages,
                    one_line(e.get("reason")),
                ]
            )
        if not rows:
            return f"No history for {args.model}."
        return table(rows, ["when (UTC)", "who", "action", "version", "stage", "reason"])

    out.result(events, text)
    return exit_codes.OK


def _window_words(seconds: Any) -> str:
    if not isinstance(seconds, int) or seconds <= 0:
        return "instant"
    words = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            words += f"{seconds // size}{unit}"
            seconds %= size
    return words


def _signals_path(args, *rest: str) -> str:
    if args.version:
        return version_path(args.model, args.version, "signals", *rest)
    return model_path(args.model, "signals", *rest)


def cmd_signal(args, out: Output) -> int:
    try:
        value = float(args.value)
    except ValueError:
        raise usage(f"VALUE must be a number, not {args.value!r}.") from None
    if not math.isfinite(value):
        raise usage("VALUE must be a finite number.")
    body: dict[str, Any] = {"metric": args.metric, "value": value}
    for key in ("window", "source", "observed_at"):
        if getattr(args, key) is not None:
            body[key] = getattr(args, key)
    client = make_client(args)
    result = client.send_json("POST", _signals_path(args), body)
    out.result(
        result,
        lambda: (
            f"Recorded {result.get('metric')} = {result.get('value')} on "
            f"{result.get('model')} {result.get('version')} "
            f"(window {_window_words(result.get('window_seconds'))})."
        ),
    )
    return exit_codes.OK


def cmd_signals(args, out: Output) -> int:
    client = make_client(args)
    if args.metric:
        data = []
        params = {"metric": args.metric, "page_size": min(args.limit, 200)}
        for signal in client.paginate(_signals_path(args), params):
            data.append(signal)
            if len(data) >= args.limit:
                break
        rows = [
            [
                str(s.get("observed_at", ""))[:19].replace("T", " "),
                f"{s.get('value'):.6g}" if isinstance(s.get("value"), float | int) else "",
                _window_words(s.get("window_seconds")),
                str(s.get("source") or ""),
            ]
            for s in data
        ]
        empty = f"No {args.metric} signals on {args.model}."
        headers = ["observed (UTC)", "value", "window", "source"]
    else:
        path = _signals_path(args, "latest")
        data = client.get_json(path)
        rows = [
            [
                str(m.get("metric", "")),
                f"{m.get('value'):.6g}" if isinstance(m.get("value"), float | int) else "",
                _window_words(m.get("window_seconds")),
                str(m.get("observed_at", ""))[:19].replace("T", " "),
                str(m.get("source") or ""),
            ]
            for m in data.get("metrics", [])
        ]
        empty = f"No signals on {args.model} {data.get('version', '')}."
        headers = ["metric", "latest", "window", "observed (UTC)", "source"]

    def text() -> str:
        if not rows:
            return empty
        heading = "" if args.metric else f"{data.get('model')} {data.get('version')}\n"
        return heading + table(rows, headers)

    out.result(data, text)
    return exit_codes.OK


def cmd_download(args, out: Output) -> int:
    destination = Path(args.output)
    if destination.is_dir():
        raise usage(f"-o {args.output} is a directory; give a file name.")
    if not destination.resolve().parent.is_dir():
        raise usage(f"The directory of -o {args.output} does not exist.")
    client = make_client(args)
    version = client.get_json(version_path(args.model, args.version))
    recorded = (version or {}).get("artifact_sha256") or ""
    response = client.request(
        "GET",
        version_path(args.model, args.version, "artifact"),
        stream=True,
        headers={"Accept": "application/octet-stream, application/json"},
        timeout=(args.timeout, max(args.timeout, 600.0)),
    )
    header = (response.headers.get("X-Checksum-SHA256") or "").strip().lower()
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    expected = {s for s in (header, recorded.lower()) if s}
    if not expected:
        response.close()
        raise CliError(
            f"{args.model} {args.version} has no recorded checksum; refusing an unverifiable "
            "download.",
            exit_code=exit_codes.CHECKSUM,
            code="checksum_missing",
        )
    partial = PartialFile(destination)
    progress = Progress(f"Downloading {destination.name}", total, enabled=args.progress)
    try:
        try:
            for chunk in response.iter_content(chunk_size=1024 * 1024):
                partial.write(chunk)
                progress.update(len(chunk))
        finally:
            progress.close()
            response.close()
        actual = partial.digest.hexdigest()
        if len(expected) > 1 or actual not in expected:
            raise CliError(
                f"Checksum mismatch for {args.model} {args.version}: the download's sha256 "
                f"is {actual}, the registry recorded {recorded or '—'} and sent "
                f"{header or '—'}. The partial file was deleted.",
                exit_code=exit_codes.CHECKSUM,
                code="checksum_mismatch",
                details={"actual": actual, "recorded": recorded, "header": header},
            )
    except BaseException as exc:
        partial.discard()
        if isinstance(exc, OSError) or _is_stream_error(exc):
            raise CliError(
                f"The download of {args.model} {args.version} failed: {exc}",
                exit_code=exit_codes.SERVER,
            ) from exc
        raise
    partial.commit()
    result = {
        "model": args.model,
        "version": args.version,
        "path": str(destination),
        "sha256": actual,
        "size": partial.size,
    }
    out.result(
        result, f"Downloaded {destination} ({human_size(partial.size)}), sha256 {actual} verified."
    )
    return exit_codes.OK


def _is_stream_error(exc: BaseException) -> bool:
    return isinstance(exc, requests.RequestException)


def _describe_version(v: dict) -> str:
    lines = [
        f"{v.get('version')}  number {v.get('number')}  stage {v.get('stage')}",
    ]
    if v.get("artifact_uri"):
        lines.append(f"artifact  {v.get('artifact_uri')}")
    if v.get("artifact_sha256"):
        lines.append(f"sha256    {v.get('artifact_sha256')}")
    metrics = v.get("metrics") or {}
    if metrics:
        lines.append("metrics   " + ", ".join(f"{k}={metrics[k]}" for k in sorted(metrics)))
    return "\n".join(lines)


# --- Parsing ---------------------------------------------------------------------------------


def _common_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options accepted before or after the command name (`modelreg --json production m`)."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--url", default=default, help="registry base URL (env REGISTRY_URL)")
    parser.add_argument("--token", default=default, help="API token (env REGISTRY_TOKEN)")
    parser.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print machine-readable JSON on stdout",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=argparse.SUPPRESS if suppress else 60.0,
        help="seconds to wait for the registry (default 60)",
    )
    parser.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=argparse.SUPPRESS if suppress else None,
        help="show a progress bar on stderr even when it is not a terminal",
    )
    parser.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        default=argparse.SUPPRESS,
        help="never show a progress bar",
    )


def _reason(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", "-r", required=True, help="why (kept in the audit trail)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelreg",
        description="The model registry's command line for CI/CD (docs/cli.md).",
        epilog="Exit codes: "
        + "; ".join(
            f"{code} {text.split(':')[0]}" for code, text in exit_codes.DESCRIPTIONS.items()
        ),
    )
    parser.add_argument("--version", action="version", version=f"modelreg {__version__}")
    _common_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_token_commands(sub)
    _add_version_commands(sub)
    _add_transition_commands(sub)
    _add_read_commands(sub)
    _add_signal_commands(sub)
    return parser


def _command(sub, name: str, func, help: str) -> argparse.ArgumentParser:
    """Add the subcommand `name`, run by `func`, with the options every command takes."""
    p = sub.add_parser(name, help=help, description=help)
    _common_options(p, suppress=True)
    p.set_defaults(func=func)
    return p


def _add_token_commands(sub) -> None:
    """login and logout: get, save and revoke the token the other commands use."""
    p = _command(sub, "login", cmd_login, "get a token with a username and password and save it")
    p.add_argument("--username", "-u", help="default: env REGISTRY_USERNAME, else a prompt")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin (else env REGISTRY_PASSWORD, "
        "else a prompt)",
    )
    p.add_argument("--print-token", action="store_true", help="print the token on stdout")
    p.add_argument("--no-save", action="store_true", help=f"do not write {config.token_path()}")

    p = _command(
        sub, "logout", cmd_logout, "revoke the token in use and delete the saved token file"
    )
    p.add_argument("--keep-file", action="store_true", help="keep the saved token file")


def _add_version_commands(sub) -> None:
    """register, upload, card and request-review: a new version and what goes with it."""
    p = _command(sub, "register", cmd_register, "register a new version (staging)")
    p.add_argument("model")
    p.add_argument("version", help="SemVer 2.0, e.g. 1.4.0 or 2.0.0-rc.1")
    p.add_argument("--metrics", metavar="FILE.json", help="a JSON object of name → number")
    p.add_argument("--params", metavar="FILE.json", help="a JSON object of training parameters")
    p.add_argument("--card", metavar="CARD.md", help="the model card in Markdown")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--artifact", metavar="FILE", help="upload this file to the registry")
    where.add_argument("--artifact-uri", metavar="URI", help="record where the model lives")
    p.add_argument("--data-version", help="the dataset reference")
    p.add_argument("--code-version", help="e.g. the git commit")
    p.add_argument("--source-run", help="the experiment-tracker run id")
    p.add_argument("--description")
    p.add_argument("--tag", action="append", metavar="KEY=VALUE", help="repeatable")
    p.add_argument("--request-review", action="store_true", help="ask reviewers to review it")
    p.add_argument(
        "--create-model", action="store_true", help="create the model first if it is missing"
    )
    p.add_argument("--team", metavar="SLUG", help="the owning team, with --create-model")

    p = _command(
        sub, "upload", cmd_upload, "upload the artifact of a version registered without one"
    )
    p.add_argument("model")
    p.add_argument("version")
    p.add_argument("file")

    p = _command(sub, "card", cmd_card, "replace a version's model card with a Markdown file")
    p.add_argument("model")
    p.add_argument("version")
    p.add_argument("file", metavar="CARD.md")

    p = _command(sub, "request-review", cmd_request_review, "ask reviewers to review a version")
    p.add_argument("model")
    p.add_argument("version")


def _add_transition_commands(sub) -> None:
    """checks, promote, archive, deprecate and rollback: a version's moves between stages."""
    p = _command(sub, "checks", cmd_checks, "dry run: which guards would block promotion now")
    p.add_argument("model")
    p.add_argument("version")

    for name, func, text in (
        ("promote", cmd_promote, "promote a staging version to production"),
        ("archive", cmd_archive, "archive a staging or production version"),
        ("deprecate", cmd_deprecate, "deprecate a version (terminal; never from production)"),
    ):
        p = _command(sub, name, func, text)
        p.add_argument("model")
        p.add_argument("version")
        _reason(p)

    p = _command(sub, "rollback", cmd_rollback, "put an earlier production version back")
    p.add_argument("model")
    p.add_argument("--to", metavar="VERSION", help="default: the last known good version")
    _reason(p)


def _add_read_commands(sub) -> None:
    """production, history, signals and download: read what the registry holds about a model."""
    p = _command(sub, "production", cmd_production, "show the version in production")
    p.add_argument("model")
    p.add_argument(
        "--if-none-match", metavar="ETAG", help="print nothing if the ETag still matches"
    )

    p = _command(sub, "history", cmd_history, "show a model's audit trail, newest first")
    p.add_argument("model")
    p.add_argument("--version", dest="version", help="only events of this version")
    p.add_argument("--action", help="only this action, e.g. version.promoted")
    p.add_argument("--actor", help="only events by this username")
    p.add_argument("--limit", type=int, default=None, help="at most this many events")
    p.add_argument(
        "--page-size", type=int, default=None, help="events per request (server default 50)"
    )

    p = _command(
        sub, "signals", cmd_signals, "show the latest health signal of each metric of a version"
    )
    p.add_argument("model")
    p.add_argument("--version", dest="version", help="default: the production version")
    p.add_argument("--metric", help="list this metric's recent signals instead, newest first")
    p.add_argument("--limit", type=int, default=20, help="with --metric: at most this many")

    p = _command(sub, "download", cmd_download, "download a version's artifact, verifying sha256")
    p.add_argument("model")
    p.add_argument("version")
    p.add_argument("-o", "--output", required=True, metavar="FILE")


def _add_signal_commands(sub) -> None:
    """signal: report what a monitoring system observed on a version in service."""
    p = _command(sub, "signal", cmd_signal, "post a health signal on a version in service")
    p.add_argument("model")
    p.add_argument("metric", help="e.g. false_positive_rate, drift_psi, p99_latency_ms")
    p.add_argument("value", help="a finite number")
    p.add_argument("--version", dest="version", help="default: the production version")
    p.add_argument("--window", help='seconds or a duration ("10m", "1h"); default: an instant')
    p.add_argument("--source", help="who measured it, e.g. prometheus")
    p.add_argument("--observed-at", metavar="ISO8601", help="default: now")


def make_client(args) -> Client:
    return Client(
        config.resolve_url(args.url), config.resolve_token(args.token), timeout=args.timeout
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    for name, default in (("url", None), ("token", None), ("json", False), ("timeout", 60.0)):
        if not hasattr(args, name):
            setattr(args, name, default)
    if getattr(args, "progress", None) is None:
        args.progress = sys.stderr.isatty()
    if not (args.timeout > 0 and math.isfinite(args.timeout)):
        raise usage("--timeout must be a positive number of seconds.")
    if getattr(args, "limit", None) is not None and args.limit < 1:
        raise usage("--limit must be at least 1.")
    if getattr(args, "page_size", None) is not None and not 1 <= args.page_size <= 200:
        raise usage("--page-size must be between 1 and 200.")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code (the console script exits with it)."""
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else exit_codes.USAGE
    except CliError as exc:
        sys.stderr.write(f"modelreg: error: {exc.message}\n")
        return exc.exit_code
    out = Output(as_json=args.json)
    try:
        return args.func(args, out)
    except CliError as exc:
        out.note(f"modelreg: error: {exc.message}")
        report_refusal(out, exc)
        if exc.exit_code == exit_codes.AUTHENTICATION:
            out.note("Hint: run `modelreg login`, or set REGISTRY_TOKEN to a valid token.")
        if out.as_json:
            out.result(exc.as_dict(), "")
        return exc.exit_code
    except KeyboardInterrupt:
        out.note("modelreg: interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
