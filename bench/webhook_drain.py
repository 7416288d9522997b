"""Webhook workers draining a backlog: 1 worker against N, order and losses checked.

A benchmark, not a test: run it by hand (bench/README.md has the details and
docs/benchmarks.md the results).

For each database it:

1. makes a fresh database (PostgreSQL ``bench_webhooks`` on 127.0.0.1, dropped afterwards,
   or a SQLite file in a temporary directory), migrates it and seeds a superuser, a team and
   ``--models`` models through the services;
2. starts a receiver in this process: a threaded HTTP server on 127.0.0.1 that records each
   POST (its path, its X-Registry-Delivery and the payload's event id and model) and answers
   204 after ``--delay`` seconds;
3. subscribes one URL per run (``/run-1``, ``/run-4`` …) to ``version.registered``, registers
   ``--events`` versions spread round-robin over the models (one event each, so one delivery
   per run's subscription), then deactivates every subscription: the backlog waits;
4. for each worker count, activates that run's subscription, starts that many
   ``manage.py run_worker`` processes at once, and times from their start until the
   receiver has acknowledged every event of the run; then stops the workers (SIGTERM, only
   the processes it started) and deactivates the subscription again;
5. checks that every event arrived (none lost), how many arrived twice, that each model's
   events arrived in the order they happened, and that the outbox agrees (every delivery of
   the run ``succeeded``).

Safety: the receiver and the database are on loopback only, the database name starts with
``bench``, and each run is bounded in time (``--budget``).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench_servers import LOOPBACK_SETTINGS, PYTHON, manage

ROOT = Path(__file__).resolve().parent.parent
PG_BENCH_DB = "bench_webhooks"
PG_ADMIN = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"]
MAX_EVENTS = 20_000
MAX_WORKERS = 16

SEED = """
import json
from django.contrib.auth.models import User
from models_app import services
from webhooks_app import services as webhooks

spec = json.loads({spec!r})
admin = User.objects.create_superuser("bench_admin", "", None)
team = services.team_create(actor=admin, name="Drain", slug="drain")
models = [
    services.registered_model_create(actor=admin, name=f"drain_{{m:03d}}", team=team)
    for m in range(spec["models"])
]
subs = [
    webhooks.subscription_create(
        actor=admin, url=f"{{spec['base']}}/run-{{n}}", event_types=["version.registered"]
    )
    for n in spec["runs"]
]
for i in range(spec["events"]):
    model = models[i % len(models)]
    services.model_version_register(
        actor=admin, model=model, version=f"1.0.{{i // len(models)}}", metrics={{"n": i}}
    )
for sub in subs:
    webhooks.subscription_update(actor=admin, subscription=sub, active=False)
print(json.dumps({{str(n): s.pk for n, s in zip(spec["runs"], subs)}}))
"""

ACTIVATE = """
from django.contrib.auth.models import User
from webhooks_app import services as webhooks
from webhooks_app.models import Subscription
admin = User.objects.get(username="bench_admin")
sub = Subscription.objects.get(pk={pk})
webhooks.subscription_update(actor=admin, subscription=sub, active={active})
"""

OUTBOX = """
import json
from django.db.models import Count
from webhooks_app.models import Delivery, DeliveryAttempt
rows = Delivery.objects.filter(subscription_id={pk}).values("status").annotate(n=Count("id"))
attempts = DeliveryAttempt.objects.filter(delivery__subscription_id={pk}).count()
print(json.dumps({{"statuses": {{r["status"]: r["n"] for r in rows}}, "attempts": attempts}}))
"""


# --- The receiver ----------------------------------------------------------------------------


@dataclass
class Arrival:
    path: str
    delivery: str
    event: int
    model: str
    at: float


@dataclass
class Receiver:
    """Records every POST and answers 204 after `delay` seconds, many requests at once."""

    delay: float
    arrivals: list[Arrival] = field(default_factory=list)
    acknowledged: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length))
                arrival = Arrival(
                    path=self.path,
                    delivery=self.headers.get("X-Registry-Delivery", ""),
                    event=int(body["id"].removeprefix("evt_")),
                    model=body["model"]["name"],
                    at=time.monotonic(),
                )
                with receiver.lock:
                    receiver.arrivals.append(arrival)
                time.sleep(receiver.delay)  # the receiver's own work: what is measured
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with receiver.lock:
                    receiver.acknowledged[self.path] = receiver.acknowledged.get(self.path, 0) + 1

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def acked(self, path: str) -> int:
        with self.lock:
            return self.acknowledged.get(path, 0)

    def of(self, path: str) -> list[Arrival]:
        with self.lock:
            return [a for a in self.arrivals if a.path == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- Databases and processes -------------------------------------------------------------------


@contextlib.contextmanager
def database(kind: str, workdir: Path) -> Iterator[dict]:
    """Environment variables for a fresh database of `kind`; the database is removed after."""
    env = {"REGISTRY_VAR_DIR": str(workdir), "REGISTRY_ARTIFACT_ROOT": str(workdir / "artifacts")}
    if kind == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
        yield env
        return

    def psql(sql: str) -> None:
        subprocess.run([*PG_ADMIN, "-qc", sql], check=True)

    psql(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
    psql(f"CREATE DATABASE {PG_BENCH_DB}")
    env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{PG_BENCH_DB}"
    try:
        yield env
    finally:
        psql(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")


def registry_env(db_env: dict, timeout: float) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.pop("DATABASE_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(db_env)
    env.update(LOOPBACK_SETTINGS)
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "REGISTRY_WEBHOOK_ALLOW_PRIVATE": "1",  # the receiver is on loopback
            "REGISTRY_WEBHOOK_TIMEOUT": str(timeout),
        }
    )
    return env


@contextlib.contextmanager
def workers(env: dict, count: int, args, log_dir: Path) -> Iterator[list[subprocess.Popen]]:
    """`count` run_worker processes, each in a process group of its own, stopped after."""
    procs = []
    logs = []
    try:
        for n in range(count):
            log = (log_dir / f"worker-{count}-{n}.log").open("wb")
            logs.append(log)
            cmd = [PYTHON, "manage.py", "run_worker", "--interval", str(args.interval)]
            if args.batch_size:
                cmd += ["--batch-size", str(args.batch_size)]
            procs.append(
                subprocess.Popen(
                    cmd,
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        yield procs
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for log in logs:
            log.close()


# --- One run -------------------------------------------------------------------------------------


def run(env: dict, receiver: Receiver, pk: int, count: int, args, log_dir: Path) -> dict:
    path = f"/run-{count}"
    manage(env, "shell", "-c", ACTIVATE.format(pk=pk, active=True))
    started = time.monotonic()
    finished = None
    with workers(env, count, args, log_dir) as procs:
        deadline = started + args.budget
        while time.monotonic() < deadline:
            if receiver.acked(path) >= args.events:
                finished = time.monotonic()
                break
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"a worker exited early; see {log_dir}")
            time.sleep(0.02)
    manage(env, "shell", "-c", ACTIVATE.format(pk=pk, active=False))
    arrivals = receiver.of(path)
    outbox = json.loads(manage(env, "shell", "-c", OUTBOX.format(pk=pk)).strip().splitlines()[-1])
    seen = [a.event for a in arrivals]
    by_model: dict[str, list[int]] = {}
    for a in sorted(arrivals, key=lambda a: a.at):
        by_model.setdefault(a.model, []).append(a.event)
    # In order: each model's first arrivals of its events are increasing.
    out_of_order = 0
    for events in by_model.values():
        firsts = list(dict.fromkeys(events))
        out_of_order += sum(1 for x, y in itertools.pairwise(firsts) if y < x)
    return {
        "workers": count,
        "seconds": round(finished - started, 2) if finished else None,
        "first_arrival_s": round(min(a.at for a in arrivals) - started, 2) if arrivals else None,
        "received": len(seen),
        "distinct": len(set(seen)),
        "duplicates": len(seen) - len(set(seen)),
        "models": len(by_model),
        "out_of_order": out_of_order,
        "outbox": outbox["statuses"],
        "attempts": outbox["attempts"],
    }


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def bench(kind: str, args) -> list[dict]:
    receiver = Receiver(delay=args.delay).start()
    try:
        with (
            tempfile.TemporaryDirectory(prefix=f"bench-drain-{kind}-") as tmp,
            database(kind, Path(tmp)) as db_env,
        ):
            env = registry_env(db_env, timeout=max(5.0, args.delay * 10))
            print(f"{kind}: migrating and seeding {args.events} events …", file=sys.stderr)
            manage(env, "migrate", "--noinput")
            spec = {
                "models": args.models,
                "events": args.events,
                "runs": args.workers,
                "base": receiver.base,
            }
            seeded = time.monotonic()
            out = manage(env, "shell", "-c", SEED.format(spec=json.dumps(spec)))
            subs = json.loads(out.strip().splitlines()[-1])
            print(f"{kind}: seeded in {time.monotonic() - seeded:.0f} s", file=sys.stderr)
            results = []
            for count in args.workers:
                print(f"{kind}: {count} worker(s) …", file=sys.stderr, flush=True)
                result = run(env, receiver, subs[str(count)], count, args, Path(tmp))
                result["database"] = "SQLite" if kind == "sqlite" else "PostgreSQL"
                print(f"  {result}", file=sys.stderr, flush=True)
                results.append(result)
            return results
    finally:
        receiver.stop()


def load_average() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def markdown(results: list[dict], args, loads: tuple[str, str]) -> str:
    lines = [
        f"{args.events} `version.registered` events over {args.models} models, one "
        f"subscription, a receiver answering after {args.delay * 1000:g} ms; workers started "
        f"with `run_worker --interval {args.interval:g}"
        + (f" --batch-size {args.batch_size}" if args.batch_size else "")
        + f"`. {machine()}. Load average (1/5/15 min) before: {loads[0]}, after: {loads[1]}.",
        "",
        "| database | workers | drain s | speed-up | first delivery s | received | "
        "duplicates | out of order | outbox |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    base: dict[str, float] = {}
    for r in results:
        if r["workers"] == min(args.workers) and r["seconds"]:
            base[r["database"]] = r["seconds"]
    for r in results:
        speed = (
            f"{base[r['database']] / r['seconds']:.2f}×"
            if r["seconds"] and r["database"] in base
            else "—"
        )
        outbox = ", ".join(f"{k} {v}" for k, v in sorted(r["outbox"].items()))
        lines.append(
            f"| {r['database']} | {r['workers']} | {r['seconds'] or 'over budget'} | {speed} | "
            f"{r['first_arrival_s']} | {r['distinct']}/{args.events} | {r['duplicates']} | "
            f"{r['out_of_order']} | {outbox} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db", choices=["sqlite", "postgres", "both"], default="postgres", help="default: postgres"
    )
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--delay", type=float, default=0.15, help="receiver's answer delay, s")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--interval", type=float, default=2.0, help="run_worker --interval")
    parser.add_argument("--batch-size", type=int, default=None, help="run_worker --batch-size")
    parser.add_argument("--budget", type=float, default=600, help="seconds per run at most")
    parser.add_argument("--markdown", type=Path, help="write the results table to this file")
    parser.add_argument("--json", type=Path, help="write raw results as JSON to this file")
    args = parser.parse_args(argv)
    if not 1 <= args.events <= MAX_EVENTS:
        raise SystemExit(f"--events must be between 1 and {MAX_EVENTS}")
    if not 1 <= args.models <= args.events:
        raise SystemExit("--models must be between 1 and --events")
    if not all(1 <= n <= MAX_WORKERS for n in args.workers) or len(set(args.workers)) != len(
        args.workers
    ):
        raise SystemExit(f"--workers: distinct counts between 1 and {MAX_WORKERS}")
    if not 0 <= args.delay <= 5 or not 0 < args.budget <= 3600 or args.interval <= 0:
        raise SystemExit("--delay 0–5 s, --budget up to 3600 s, --interval > 0")

    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    load_before = load_average()
    results = [r for kind in kinds for r in bench(kind, args)]
    table = markdown(results, args, (load_before, load_average()))
    print()
    print(table)
    if args.markdown:
        args.markdown.write_text(table)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    bad = any(
        r["seconds"] is None
        or r["distinct"] != args.events
        or r["out_of_order"]
        or r["outbox"] != {"succeeded": args.events}
        for r in results
    )
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
