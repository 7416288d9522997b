"""The same MLflow-registry workload against this registry and a real `mlflow server`.

Both servers run on loopback with a fresh SQLite database and 2 worker processes:

- this registry: `gunicorn registry_site.wsgi -w 2 -b 127.0.0.1:8195` (sync workers,
  DEBUG off, the project's default settings: each worker keeps its database connection,
  DATABASE_CONN_MAX_AGE=60), called with a registry API token as MLflow's client sends it
  (`Authorization: Bearer …`), so every call also authenticates and every write also
  writes history rows and audit events;
- MLflow: `mlflow server --backend-store-uri sqlite:////tmp/mlflowbench.db --workers 2
  --port 8196 --host 127.0.0.1` from a separate virtual environment (default
  /tmp/mlflow-venv; the full `mlflow` package never goes into the project's .venv),
  without authentication, as it ships.

For each size (1,000 and 10,000 versions, spread over 20 models) the data are loaded
through the API itself, then each operation runs as a closed loop with 1 and with 8
client threads for a fixed time budget: create model, create version, get version,
search models (`name LIKE …`), search versions (`name = …`), get latest versions, set a
version tag, and two full paged scans (every version, then every model, matching
`name LIKE 'bench_%'`, 100 per page, each client following next_page_token to the end and
starting again; each page is one request). Every request opens a new connection
(http.client, `Connection: close`; `--client requests` sends them with `requests` instead,
see Client): MLflow's uvicorn workers add ~40 ms to kept-alive connections, and our server
is measured the same way.
Reported per operation: p50, p95, requests/s and the ratio ours / MLflow's; per server:
the resident memory of all its processes (VmRSS summed over the process tree in /proc),
sampled after every cell, largest value reported.

Loopback only, bounded: every phase stops at its time budget or request cap. It is a
benchmark, not a test: run it by hand, e.g.

    .venv/bin/python bench/mlflow_compare.py --sizes 1000 10000 --budget 8 \
        --markdown /tmp/mlflow_compare.md
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import json as jsonlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import requests
from bench_servers import LOOPBACK_SETTINGS, gunicorn_command, manage, started

ROOT = Path(__file__).resolve().parent.parent
API = "/api/2.0/mlflow"
OURS_PORT, MLFLOW_PORT = 8195, 8196
MODELS = 20
MAX_BUDGET = 60.0  # seconds per phase
MAX_REQUESTS = 20_000  # per phase
OPERATIONS = (
    "create_model",
    "create_version",
    "get_version",
    "search_models",
    "search_versions",
    "get_latest",
    "set_tag",
    "scan_versions",
    "scan_models",
)
# A full paged scan reads pages of this many rows, following next_page_token to the end.
SCAN_PAGE = 100
PASSWORD = "bench-password-not-secret"  # noqa: S105 - throwaway user in a throwaway database

SEED = f"""
from django.contrib.auth.models import Group, User
from knox.models import AuthToken
from models_app import services
admin = User.objects.create_superuser("bench_admin", "", {PASSWORD!r})
team = services.team_create(actor=admin, name="Bench", slug="bench")
user = User.objects.create_user("bench_ds", password={PASSWORD!r})
user.groups.add(Group.objects.get(name="contributor"))
services.team_member_add(actor=admin, team=team, user=user)
print("TOKEN=" + AuthToken.objects.create(user)[1])
"""


# --- Servers ----------------------------------------------------------------------------------


def rss_bytes(root_pid: int) -> int:
    """VmRSS summed over `root_pid` and all its descendants, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def _ready(url: str, headers: dict):
    """A check that the server at `url` answers an MLflow search."""
    return lambda: requests.get(
        f"{url}{API}/registered-models/search",
        params={"max_results": 1},
        headers={**headers, "Connection": "close"},
        timeout=2,
    )


@contextlib.contextmanager
def ours(workdir: Path, threads: int) -> Iterator[tuple[str, dict, subprocess.Popen]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{workdir / 'registry.sqlite3'}",
            "REGISTRY_VAR_DIR": str(workdir),
            **LOOPBACK_SETTINGS,
        }
    )
    manage(env, "migrate", "--noinput")
    seeded = manage(env, "shell", "-c", SEED)
    token = seeded.split("TOKEN=", 1)[1].split()[0]
    headers = {"Authorization": f"Bearer {token}"}
    url = f"http://127.0.0.1:{OURS_PORT}"
    cmd = gunicorn_command(OURS_PORT, 2, "--threads", str(threads), "--timeout", "60")
    with started(
        cmd,
        cwd=ROOT,
        env=env,
        log=workdir / "ours.log",
        ready=_ready(url, headers),
        merge_output=True,
    ) as p:
        yield url, headers, p


@contextlib.contextmanager
def mlflow_server(workdir: Path, mlflow_bin: str) -> Iterator[tuple[str, dict, subprocess.Popen]]:
    db = Path("/tmp/mlflowbench.db")  # noqa: S108 - the path the issue names; removed first
    db.unlink(missing_ok=True)
    url = f"http://127.0.0.1:{MLFLOW_PORT}"
    cmd = [
        mlflow_bin,
        "server",
        "--backend-store-uri",
        f"sqlite:///{db}",
        "--default-artifact-root",
        str(workdir / "mlartifacts"),
        "--workers",
        "2",
        "--port",
        str(MLFLOW_PORT),
        "--host",
        "127.0.0.1",
    ]
    env = {**os.environ, "MLFLOW_LOGGING_LEVEL": "WARNING"}
    with started(
        cmd,
        cwd=workdir,
        env=env,
        log=workdir / "mlflow.log",
        ready=_ready(url, {}),
        merge_output=True,
    ) as p:
        yield url, {}, p
    db.unlink(missing_ok=True)


# --- Workload ---------------------------------------------------------------------------------


class Client:
    """One server's API, a new connection per request.

    `kind="http"` (the default) sends each request with the standard library's
    http.client on a new connection: about 0.4 ms of the load generator's CPU per request.
    `kind="requests"` uses `requests` without a Session, as earlier runs did: it builds a
    session, adapters and a connection pool for every call, about 1.5 ms of CPU, and with
    8 threads it cannot send more than about 450 requests/s even to a server that answers
    at once; that ceiling, not the server, then decides the faster server's numbers.
    """

    def __init__(self, url: str, headers: dict, kind: str = "http") -> None:
        self.url = url
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.headers = {**headers, "Connection": "close"}
        self.kind = kind
        self.errors = 0
        self.last_error = ""

    def call(self, method: str, path: str, params=None, json=None) -> dict:
        try:
            if self.kind == "requests":
                status, body = self._requests(method, path, params, json)
            else:
                status, body = self._http(method, path, params, json)
        except (OSError, http.client.HTTPException, requests.RequestException) as exc:
            status, body = 0, repr(exc).encode()
        if status != 200:
            self.errors += 1
            self.last_error = f"{method} {path} {status} {body[:200]!r}"
            return {}
        return jsonlib.loads(body)

    def _http(self, method, path, params, json) -> tuple[int, bytes]:
        target = f"{API}/{path}" + (f"?{urlencode(params)}" if params else "")
        headers = dict(self.headers)
        body = None
        if json is not None:
            body = jsonlib.dumps(json).encode()
            headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def _requests(self, method, path, params, json) -> tuple[int, bytes]:
        response = requests.request(
            method,
            f"{self.url}{API}/{path}",
            headers=self.headers,
            timeout=60,
            params=params,
            json=json,
        )
        return response.status_code, response.content


class Workload:
    def __init__(self, client: Client, run_tag: str) -> None:
        self.client = client
        self.run_tag = run_tag
        self.counts = {f"bench_{m:02d}": 0 for m in range(MODELS)}
        self.lock = threading.Lock()
        self.seq = 0

    def _next(self) -> int:
        with self.lock:
            self.seq += 1
            return self.seq

    def load(self, versions: int, threads: int = 8) -> None:
        """Create the models (once) and versions up to `versions` in total."""
        for name in self.counts:
            if not self.client.call("GET", "registered-models/get", params={"name": name}):
                self.client.errors -= 1  # an expected 404 on the first load
                self.client.call("POST", "registered-models/create", json={"name": name})
        have = sum(self.counts.values())
        names = [f"bench_{i % MODELS:02d}" for i in range(have, versions)]

        def create(name: str) -> None:
            body = self.client.call(
                "POST",
                "model-versions/create",
                json={"name": name, "source": f"s3://bench/{name}/{self._next()}", "run_id": "r"},
            )
            if body:
                with self.lock:
                    self.counts[name] = max(
                        self.counts[name], int(body["model_version"]["version"])
                    )

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(create, names))

    def operation(self, name: str) -> Callable[[], None]:
        c = self.client

        def pick() -> tuple[str, int]:
            model = random.choice(list(self.counts))
            return model, random.randint(1, max(1, self.counts[model]))

        def create_model() -> None:
            c.call("POST", "registered-models/create", json={"name": self._unique("m")})

        def create_version() -> None:
            model, _ = pick()
            c.call(
                "POST",
                "model-versions/create",
                json={"name": model, "source": f"s3://bench/{model}/x{self._next()}"},
            )

        def get_version() -> None:
            model, number = pick()
            c.call("GET", "model-versions/get", params={"name": model, "version": str(number)})

        def search_models() -> None:
            c.call(
                "GET",
                "registered-models/search",
                params={"filter": "name LIKE 'bench_1%'", "max_results": 10},
            )

        def search_versions() -> None:
            model, _ = pick()
            c.call(
                "GET",
                "model-versions/search",
                params={"filter": f"name = '{model}'", "max_results": 10},
            )

        def get_latest() -> None:
            model, _ = pick()
            c.call("POST", "registered-models/get-latest-versions", json={"name": model})

        def set_tag() -> None:
            model, number = pick()
            c.call(
                "POST",
                "model-versions/set-tag",
                json={"name": model, "version": str(number), "key": "bench", "value": "x"},
            )

        # Full paged scans: each call is one page; each client thread follows its own
        # next_page_token and starts again from the first page after the last.
        tokens = threading.local()

        def scan(path: str, filter_text: str) -> None:
            params = {"filter": filter_text, "max_results": SCAN_PAGE}
            token = getattr(tokens, "token", "")
            if token:
                params["page_token"] = token
            body = c.call("GET", path, params=params)
            tokens.token = body.get("next_page_token", "")

        def scan_versions() -> None:
            scan("model-versions/search", "name LIKE 'bench_%'")

        def scan_models() -> None:
            scan("registered-models/search", "name LIKE 'bench_%'")

        return locals()[name]

    def _unique(self, prefix: str) -> str:
        return f"{prefix}_{self.run_tag}_{self._next()}"


def run_phase(fn: Callable[[], None], threads: int, budget: float) -> dict:
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + budget
    per_thread_cap = MAX_REQUESTS // threads

    def worker() -> None:
        mine = []
        for _ in range(per_thread_cap):
            if time.monotonic() >= stop_at:
                break
            t0 = time.perf_counter()
            fn()
            mine.append(time.perf_counter() - t0)
        with lock:
            latencies.extend(mine)

    started_at = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - started_at
    latencies.sort()
    return {
        "n": len(latencies),
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
        "rps": len(latencies) / wall,
    }


def _merge(a: dict, b: dict) -> dict:
    """Two half-budget runs of one server and cell as one result."""
    n = a["n"] + b["n"]
    return {
        "n": n,
        "p50_ms": (a["p50_ms"] * a["n"] + b["p50_ms"] * b["n"]) / n,
        "p95_ms": max(a["p95_ms"], b["p95_ms"]),
        "rps": n / (a["n"] / a["rps"] + b["n"] / b["rps"]),
    }


def bench(
    servers: dict,
    sizes,
    concurrencies,
    budget,
    results,
    memory,
    errors,
    client: str = "http",
    operations=OPERATIONS,
) -> None:
    """Load both servers to each size, then run every cell A-B-B-A.

    Both servers are up at once and measured in turns, each half a budget twice, in the
    order ours, MLflow, MLflow, ours: on a shared machine whose load drifts, each server
    then sees the same conditions on average.
    """
    clients = {
        kind: Client(url, headers, client) for kind, (url, headers, _proc) in servers.items()
    }
    workloads = {kind: Workload(client, kind) for kind, client in clients.items()}
    for kind, (_url, _headers, proc) in servers.items():
        memory[kind] = {"idle": rss_bytes(proc.pid), "peak": 0}
    order = list(servers)
    for size in sizes:
        for kind, workload in workloads.items():
            t0 = time.monotonic()
            workload.load(size)
            print(
                f"{kind}: {size} versions loaded in {time.monotonic() - t0:.0f} s", file=sys.stderr
            )
        for threads in concurrencies:
            for op in operations:
                halves: dict[str, list] = {kind: [] for kind in order}
                for kind in [*order, *reversed(order)]:
                    halves[kind].append(
                        run_phase(workloads[kind].operation(op), threads, budget / 2)
                    )
                for kind in order:
                    stats = _merge(*halves[kind]) if len(halves[kind]) == 2 else halves[kind][0]
                    results[(size, threads, op, kind)] = stats
                    proc = servers[kind][2]
                    memory[kind]["peak"] = max(memory[kind]["peak"], rss_bytes(proc.pid))
                    print(
                        f"{kind} size={size} c={threads} {op}: {stats['rps']:.1f}/s "
                        f"p50={stats['p50_ms']:.1f} ms p95={stats['p95_ms']:.1f} ms",
                        file=sys.stderr,
                    )
    for kind, client in clients.items():
        errors[kind] = (client.errors, client.last_error)


def markdown(results, memory, errors, sizes, concurrencies, budget) -> str:
    lines = [
        f"Budget {budget:.0f} s per operation and concurrency; new connection per request; "
        f"{MODELS} models; loopback; SQLite; 2 workers each.",
        "",
        "| versions | clients | operation | ours p50 / p95 (ms) | MLflow p50 / p95 (ms) "
        "| ours req/s | MLflow req/s | ratio |",
        "|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        for threads in concurrencies:
            for op in OPERATIONS:
                a = results.get((size, threads, op, "ours"))
                b = results.get((size, threads, op, "mlflow"))
                if not a or not b:
                    continue
                lines.append(
                    f"| {size:,} | {threads} | {op} | {a['p50_ms']:.1f} / {a['p95_ms']:.1f} "
                    f"| {b['p50_ms']:.1f} / {b['p95_ms']:.1f} | {a['rps']:.1f} | {b['rps']:.1f} "
                    f"| {a['rps'] / b['rps']:.2f}× |"
                )
    lines += [
        "",
        "| server | RSS idle (MiB) | RSS peak (MiB) | failed requests |",
        "|---|---:|---:|---:|",
    ]
    for kind in ("ours", "mlflow"):
        if kind in memory:
            lines.append(
                f"| {kind} | {memory[kind]['idle'] / 2**20:.0f} | "
                f"{memory[kind]['peak'] / 2**20:.0f} | {errors.get(kind, (0, ''))[0]} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--budget", type=float, default=8.0, help="seconds per phase")
    parser.add_argument("--mlflow", default="/tmp/mlflow-venv/bin/mlflow")  # noqa: S108
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads per gunicorn worker (default 1: sync workers)",
    )
    parser.add_argument("--only", choices=["ours", "mlflow"], default=None)
    parser.add_argument("--operations", nargs="+", choices=OPERATIONS, default=list(OPERATIONS))
    parser.add_argument(
        "--client",
        choices=["http", "requests"],
        default="http",
        help="how the load generator sends requests (default http: http.client; see Client)",
    )
    parser.add_argument("--markdown", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    budget = min(args.budget, MAX_BUDGET)
    if any(c < 1 or c > 32 for c in args.concurrency) or any(s > 50_000 for s in args.sizes):
        raise SystemExit("concurrency is 1..32 and sizes at most 50,000")
    if args.only != "ours" and not shutil.which(args.mlflow):
        raise SystemExit(f"{args.mlflow} not found: install mlflow into a separate venv")
    results: dict = {}
    memory: dict = {}
    errors: dict = {}
    with (
        tempfile.TemporaryDirectory(prefix="mlflow-compare-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(tmp)
        servers = {}
        if args.only != "mlflow":
            servers["ours"] = stack.enter_context(ours(workdir, args.threads))
        if args.only != "ours":
            servers["mlflow"] = stack.enter_context(mlflow_server(workdir, args.mlflow))
        bench(
            servers,
            args.sizes,
            args.concurrency,
            budget,
            results,
            memory,
            errors,
            args.client,
            args.operations,
        )
    table = markdown(results, memory, errors, args.sizes, args.concurrency, budget)
    print(table)
    for kind, (count, last) in errors.items():
        if count:
            print(f"{kind}: {count} failed requests, last: {last}", file=sys.stderr)
    if args.markdown:
        args.markdown.write_text(table)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "results": [
                        {"size": s, "clients": c, "operation": o, "server": k, **v}
                        for (s, c, o, k), v in results.items()
                    ],
                    "memory": memory,
                    "errors": {k: v[0] for k, v in errors.items()},
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
