"""A bounded load generator for the registry's REST API under gunicorn.

For each database asked for (a fresh temporary SQLite file, and/or a fresh PostgreSQL
database `bench_registry` that is dropped afterwards) it:

1. migrates the database and seeds a team and four users (contributor, reviewer,
   release manager, viewer) with `manage.py shell`, through the services;
2. starts `gunicorn registry_site.wsgi -w 2 -b 127.0.0.1:<port>` itself;
3. gets one token per user from POST /api/v1/auth/token/, creates a model, registers a
   few versions and takes one through card → review → approval → promotion over the API,
   so that every read has realistic data and the production lookup has an answer;
4. runs one closed-loop phase per operation — register, list, get, production lookup and
   `/healthz` (the cheapest answer of the same stack, to compare the lookup with) —
   with N concurrent clients, each phase bounded by a duration and a request count;
5. prints p50, p95, p99 and requests/s per operation and writes a Markdown table.

It only ever talks to loopback addresses: a --url whose host is not 127.0.0.1, localhost
or ::1 is refused, and durations, request counts and concurrency have hard caps. It is a
benchmark, not a test: run it by hand (see bench/README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
from bench_servers import LOOPBACK_SETTINGS, gunicorn_command, manage, started

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_DURATION = 300.0  # seconds per operation phase
MAX_REQUESTS = 100_000  # per operation phase
MAX_CONCURRENCY = 64
OPERATIONS = ("register", "list", "get", "production", "healthz")
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
PG_BENCH_DB = "bench_registry"
MODEL = "bench_model"
PASSWORD = "bench-password-not-secret"  # noqa: S105 - throwaway users in a throwaway database

SEED = f"""
from django.contrib.auth.models import Group, User
from models_app import services
admin = User.objects.create_superuser("bench_admin", "", {PASSWORD!r})
team = services.team_create(actor=admin, name="Bench", slug="bench")
for name, role in (("bench_ds", "contributor"), ("bench_reviewer", "reviewer"),
                   ("bench_release", "release_manager"), ("bench_viewer", "viewer")):
    user = User.objects.create_user(name, "", {PASSWORD!r})
    user.groups.add(Group.objects.get(name=role))
    if role == "contributor":
        services.team_member_add(actor=admin, team=team, user=user)
print("seeded")
"""

CARD = """## Intended use
Benchmark model.

## Training data
Synthetic.

## Evaluation
Synthetic metrics.

## Limitations
None known; it is a benchmark.

## Ethical considerations
None: no people's data.
"""


# --- Safety ---------------------------------------------------------------------------------


def require_loopback(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or (parts.hostname or "") not in LOOPBACK:
        raise SystemExit(
            f"refusing {url!r}: this load generator only targets 127.0.0.1, localhost or ::1"
        )
    return url.rstrip("/")


def bounded(value: float, cap: float, name: str) -> float:
    if not 0 < value <= cap:
        raise SystemExit(f"--{name} must be > 0 and at most {cap:g}")
    return value


# --- Databases ------------------------------------------------------------------------------


def psql(sql: str) -> None:
    subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
            sql,
        ],
        check=True,
    )


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[dict]:
    """Environment variables for a fresh database of `kind`; the database is removed after."""
    env = {"REGISTRY_VAR_DIR": str(workdir), "REGISTRY_ARTIFACT_ROOT": str(workdir / "artifacts")}
    if kind == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
        yield env
        return
    psql(f"DROP DATABASE IF EXISTS {PG_BENCH_DB}")
    psql(f"CREATE DATABASE {PG_BENCH_DB}")
    env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{PG_BENCH_DB}"
    try:
        yield env
    finally:
        psql(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")


def server_env(db_env: dict, workdir: Path, conn_max_age: int | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.pop("DATABASE_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(db_env)
    if conn_max_age is not None:
        # The project's settings keep each worker's database connection for 60 s
        # (DATABASE_CONN_MAX_AGE); this variant sets another value, 0 for a new connection
        # per request, to measure what persistent connections change.
        (workdir / "bench_settings.py").write_text(
            "from registry_site.settings import *  # noqa: F403\n"
            f'DATABASES["default"]["CONN_MAX_AGE"] = {int(conn_max_age)}  # noqa: F405\n'
            'DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # noqa: F405\n'
        )
        env["DJANGO_SETTINGS_MODULE"] = "bench_settings"
        env["PYTHONPATH"] = os.pathsep.join([str(workdir), str(ROOT)])
    env.update(LOOPBACK_SETTINGS)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextlib.contextmanager
def gunicorn(env: dict, port: int, workers: int, log: Path) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    cmd = gunicorn_command(port, workers, "--access-logfile", "-", "--timeout", "60")
    ready = lambda: requests.get(f"{url}/api/v1/models/", timeout=2)  # noqa: E731
    with started(cmd, cwd=ROOT, env=env, log=log, ready=ready, wait=30):
        yield url


# --- Fixtures through the API ------------------------------------------------------------------


class Api:
    def __init__(self, url: str, token: str | None = None) -> None:
        self.url = require_loopback(url)
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Token {token}"

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200, 201), **kw):
        response = self.session.request(method, f"{self.url}/api/v1/{path}", timeout=30, **kw)
        if response.status_code not in expect:
            raise SystemExit(
                f"{method} {path} answered {response.status_code}: {response.text[:500]}"
            )
        return response.json() if response.content else None


def token_for(url: str, username: str) -> str:
    return Api(url).call("POST", "auth/token/", json={"username": username, "password": PASSWORD})[
        "token"
    ]


def prepare(url: str, seed_versions: int) -> dict[str, str]:
    tokens = {name: token_for(url, f"bench_{name}") for name in ("ds", "reviewer", "release")}
    ds = Api(url, tokens["ds"])
    ds.call("POST", "models/", json={"name": MODEL, "team": "bench"})
    for i in range(seed_versions):
        ds.call(
            "POST",
            f"models/{MODEL}/versions/",
            json={"version": f"0.{i}.0", "metrics": {"accuracy": 0.9 + i / 1000}},
        )
    target = f"0.{seed_versions - 1}.0"
    card = ds.call("PUT", f"models/{MODEL}/versions/{target}/card/", json={"markdown": CARD})
    ds.call("POST", f"models/{MODEL}/versions/{target}/request-review/", json={})
    Api(url, tokens["reviewer"]).call(
        "POST",
        f"models/{MODEL}/versions/{target}/reviews/",
        json={"decision": "approve", "comment": "benchmark", "revision_sha256": card["sha256"]},
    )
    Api(url, tokens["release"]).call(
        "POST", f"models/{MODEL}/versions/{target}/promote/", json={"reason": "benchmark"}
    )
    return tokens


# --- Load ----------------------------------------------------------------------------------------


@dataclass
class Result:
    operation: str
    latencies: list[float] = field(default_factory=list)
    errors: dict[int | str, int] = field(default_factory=dict)
    elapsed: float = 0.0

    def pct(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index] * 1000

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0


def run_phase(
    operation: str,
    request: Callable[[requests.Session], int],
    *,
    token: str,
    concurrency: int,
    duration: float,
    max_requests: int,
) -> Result:
    """`concurrency` clients, each sending one request after another until time or count."""
    result = Result(operation)
    lock = threading.Lock()
    budget = itertools.count()
    deadline = time.monotonic() + duration

    def client() -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        while time.monotonic() < deadline and next(budget) < max_requests:
            started = time.perf_counter()
            try:
                status = request(session)
            except requests.RequestException as exc:
                status = type(exc).__name__
            took = time.perf_counter() - started
            with lock:
                if isinstance(status, int) and status < 300:
                    result.latencies.append(took)
                else:
                    result.errors[status] = result.errors.get(status, 0) + 1

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.elapsed = time.monotonic() - began
    return result


def operations(url: str) -> dict[str, Callable[[requests.Session], int]]:
    base = f"{require_loopback(url)}/api/v1/models/{MODEL}"
    counter = itertools.count(1)
    counter_lock = threading.Lock()

    def register(s: requests.Session) -> int:
        with counter_lock:
            n = next(counter)
        body = {"version": f"1.{n // 1000}.{n % 1000}", "metrics": {"accuracy": 0.91, "f1": 0.88}}
        return s.post(f"{base}/versions/", json=body, timeout=60).status_code

    def list_versions(s: requests.Session) -> int:
        return s.get(f"{base}/versions/", timeout=60).status_code

    def get_model(s: requests.Session) -> int:
        return s.get(f"{base}/", timeout=60).status_code

    def production(s: requests.Session) -> int:
        return s.get(f"{base}/production/", timeout=60).status_code

    def healthz(s: requests.Session) -> int:
        # The cheapest answer of the same stack (no database, no login): the yardstick for
        # the production lookup.
        return s.get(f"{require_loopback(url)}/healthz", timeout=60).status_code

    return {
        "register": register,
        "list": list_versions,
        "get": get_model,
        "production": production,
        "healthz": healthz,
    }


# --- Reporting -----------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} × {cpu}{mem}, "
        f"Python {platform.python_version()}"
    )


def load_average() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def markdown(rows: list[tuple[str, Result]], args, loads: tuple[str, str]) -> str:
    conn = args.conn_max_age if args.conn_max_age is not None else "as in settings (60)"
    lines = [
        f"Concurrency {args.concurrency}, {args.duration:g} s or {args.max_requests} requests per "
        f"operation, gunicorn {args.workers} sync workers, {args.seed_versions} seeded versions, "
        f"CONN_MAX_AGE {conn}. "
        f"Load average (1/5/15 min) before: {loads[0]}, after: {loads[1]}.",
        "",
        "| database | operation | requests | errors | p50 ms | p95 ms | p99 ms | requests/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for db, r in rows:
        errors = sum(r.errors.values())
        detail = (
            " (" + ", ".join(f"{k}: {v}" for k, v in sorted(r.errors.items(), key=str)) + ")"
            if errors
            else ""
        )
        lines.append(
            f"| {db} | {r.operation} | {r.ok} | {errors}{detail} | {r.pct(50):.1f} | "
            f"{r.pct(95):.1f} | {r.pct(99):.1f} | {r.rps:.1f} |"
        )
    return "\n".join(lines) + "\n"


# --- Main ----------------------------------------------------------------------------------------


def bench_one(kind: str, args, workdir: Path) -> list[Result]:
    with database(kind, workdir) as db_env:
        env = server_env(db_env, workdir, args.conn_max_age)
        manage(env, "migrate", "--noinput")
        manage(env, "shell", "-c", SEED)
        log = workdir / f"gunicorn-{kind}.log"
        with gunicorn(env, args.port, args.workers, log) as url:
            tokens = prepare(url, args.seed_versions)
            ops = operations(url)
            results = []
            for name in args.operations:
                token = tokens["ds"]  # a contributor: may register, and reads like anyone
                print(f"  {kind}: {name} …", file=sys.stderr, flush=True)
                results.append(
                    run_phase(
                        name,
                        ops[name],
                        token=token,
                        concurrency=args.concurrency,
                        duration=args.duration,
                        max_requests=args.max_requests,
                    )
                )
            return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db", choices=["sqlite", "postgres", "both"], default="both", help="default: both"
    )
    parser.add_argument("--port", type=int, default=8190)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent clients")
    parser.add_argument(
        "--duration", type=float, default=5.0, help="seconds per operation (default 5, max 300)"
    )
    parser.add_argument(
        "--max-requests", type=int, default=5000, help="requests per operation at most"
    )
    parser.add_argument("--seed-versions", type=int, default=20)
    parser.add_argument(
        "--operations", nargs="+", choices=OPERATIONS, default=list(OPERATIONS), metavar="OP"
    )
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=None,
        help="keep database connections this many seconds, 0: one per request "
        "(default: the settings' 60)",
    )
    parser.add_argument("--markdown", type=Path, help="write the results table to this file")
    parser.add_argument("--json", type=Path, help="write raw results as JSON to this file")
    args = parser.parse_args(argv)

    bounded(args.duration, MAX_DURATION, "duration")
    bounded(args.max_requests, MAX_REQUESTS, "max-requests")
    bounded(args.concurrency, MAX_CONCURRENCY, "concurrency")
    bounded(args.workers, 8, "workers")
    bounded(args.seed_versions, 1000, "seed-versions")
    if not 1024 <= args.port <= 65535:
        raise SystemExit("--port must be between 1024 and 65535")
    if shutil.which("psql") is None and args.db in ("postgres", "both"):
        raise SystemExit("psql is needed for the PostgreSQL run")

    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    load_before = load_average()
    rows: list[tuple[str, Result]] = []
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp:
            print(f"{kind}: migrating, seeding, starting gunicorn on :{args.port}", file=sys.stderr)
            for r in bench_one(kind, args, Path(tmp)):
                rows.append(("SQLite" if kind == "sqlite" else "PostgreSQL", r))

    table = markdown(rows, args, (load_before, load_average()))
    print(f"\nMachine: {machine()}\n")
    print(table)
    if args.markdown:
        args.markdown.write_text(f"Machine: {machine()}\n\n{table}")
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "database": db,
                        "operation": r.operation,
                        "ok": r.ok,
                        "errors": {str(k): v for k, v in r.errors.items()},
                        "p50_ms": r.pct(50),
                        "p95_ms": r.pct(95),
                        "p99_ms": r.pct(99),
                        "rps": r.rps,
                        "mean_ms": statistics.fmean(r.latencies) * 1000 if r.latencies else None,
                    }
                    for db, r in rows
                ],
                indent=2,
            )
        )
    return 1 if any(r.errors for _, r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
