"""The dashboard's pages of a model with many versions, against the demo's, on SQLite.

Makes a scratch SQLite database in a temporary directory, migrates it, loads one model
(``scale_big``) of ``--versions`` versions with everything registrations leave behind
(bench/scale.py's loader: versions, cards, reviews, promotions, history rows and audit
events), adds the demo (``manage.py seed_demo --force``), and then times the model page,
the version page and the compare page of both, in this process, with Django's test
Client signed in as the demo's reviewer1. bench/README.md has the details and
docs/benchmarks.md the results.

The time of a request is from the call to the whole response: the pages are rendered
before their first byte is sent, so it is the time to first byte without the network.
The script also counts the SQL statements of each request.

Safety: it writes only in its own temporary directory (removed at the end) and starts
no server; every loop is bounded in requests. It is a benchmark, not a test: run it by
hand.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_servers import manage
from scale import BIG, Loader, machine, registry_env, validate

ROOT = Path(__file__).resolve().parent.parent
MAX_VERSIONS = 100_000
MAX_REQUESTS = 200
USER = "reviewer1"  # the demo's reviewer: the version pages show them the review form


def setup_django(env: dict) -> None:
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "registry_site.settings"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def build(versions: int, workdir: Path) -> dict:
    """Migrate a fresh database, load the big model, then the demo; their timings."""
    database_url = f"sqlite:///{workdir / 'bench_big_model.sqlite3'}"
    env = registry_env(database_url, workdir)
    started = time.monotonic()
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    setup_django(env)
    migrated = time.monotonic()
    print(f"loading {BIG} with {versions:,} versions …", flush=True)
    summary = Loader(database_url=database_url, models=0, versions=0, big=versions).run()
    failures = validate(versions, 1)
    if failures:
        raise SystemExit(f"checks failed: {', '.join(failures)}")
    loaded = time.monotonic()
    from django.core.management import call_command

    with open(os.devnull, "w") as quiet:
        call_command("seed_demo", force=True, stdout=quiet)
    return {
        "versions": versions,
        "migrate_seconds": round(migrated - started, 1),
        "load_seconds": round(loaded - migrated, 1),
        "demo_seconds": round(time.monotonic() - loaded, 1),
        "rows_seconds": summary["rows_seconds"],
    }


def pages() -> list[tuple[str, str]]:
    """(name, address) of each page to time: the demo's, then the big model's."""
    from models_app import selectors
    from models_app.models import ModelVersion, RegisteredModel

    big = RegisteredModel.objects.get(name=BIG)
    production = selectors.production_version(model=big)
    newest = ModelVersion.objects.filter(registered_model=big).order_by("-precedence").first()
    middle = big.last_number // 2
    base = f"/models/{BIG}/"
    return [
        ("demo model page (fraud_detector)", "/models/fraud_detector/"),
        ("demo version page (fraud_detector 2.1.0)", "/models/fraud_detector/versions/2.1.0/"),
        ("demo compare (2.0.1 with 2.1.0)", "/models/fraud_detector/compare/?a=2.0.1&b=2.1.0"),
        (f"model page ({BIG})", base),
        (f"model page ({BIG}), chart of 200", base + "?chart=200"),
        (f"model page ({BIG}), versions older than #{middle}", base + f"?older={middle}"),
        (
            f"version page ({BIG} {production.version}, production)",
            f"{base}versions/{production.version}/",
        ),
        (f"version page ({BIG} {newest.version}, newest)", f"{base}versions/{newest.version}/"),
        (
            f"compare ({production.version} with {newest.version})",
            f"{base}compare/?a={production.version}&b={newest.version}",
        ),
    ]


def time_pages(requests: int) -> list[dict]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(get_user_model().objects.get(username=USER))
    rows = []
    for name, url in pages():
        statements: list[str] = []

        def count(execute, sql, params, many, context, statements=statements):
            statements.append(sql)
            return execute(sql, params, many, context)

        response = client.get(url)  # untimed: the first request warms caches
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}")
        samples = []
        for _ in range(requests):
            statements.clear()
            with connection.execute_wrapper(count):
                started = time.perf_counter()
                response = client.get(url)
                samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, url
        samples.sort()
        rows.append(
            {
                "name": name,
                "url": url,
                "requests": requests,
                "p50_ms": round(statistics.median(samples), 1),
                "p95_ms": round(samples[max(0, round(0.95 * len(samples)) - 1)], 1),
                "max_ms": round(samples[-1], 1),
                "statements": len(statements),
                "bytes": len(response.content),
            }
        )
        print(f"  {name:55} p50 {rows[-1]['p50_ms']:7.1f} ms", flush=True)
    return rows


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        f"{meta['versions']:,} versions in `{BIG}` plus the demo, SQLite, Django's test "
        f"Client in process, {meta['requests']} timed requests per page, signed in as "
        f"{USER}; load average {meta['load_before']} before, {meta['load_after']} after.",
        "",
        "| page | p50 (ms) | p95 (ms) | max (ms) | statements | KiB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['name']} | {row['p50_ms']} | {row['p95_ms']} | {row['max_ms']} | "
            f"{row['statements']} | {row['bytes'] / 1024:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--versions", type=int, default=10_000, help="versions of the big model (10000)"
    )
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page (20)")
    parser.add_argument("--markdown", type=Path, help="write the results table here")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    if not 1 <= args.versions <= MAX_VERSIONS:
        raise SystemExit(f"--versions must be 1–{MAX_VERSIONS:,}")
    if not 1 <= args.requests <= MAX_REQUESTS:
        raise SystemExit(f"--requests must be 1–{MAX_REQUESTS}")
    with tempfile.TemporaryDirectory(prefix="bench_big_model_") as tmp:
        meta = {"requests": args.requests, "load_before": machine().get("load_average", "?")}
        meta.update(build(args.versions, Path(tmp)))
        print(f"timing {args.requests} requests per page:", flush=True)
        rows = time_pages(args.requests)
        meta["load_after"] = machine().get("load_average", "?")
        meta["machine"] = machine()
    table = markdown(rows, meta)
    print()
    print(table)
    if args.markdown:
        args.markdown.write_text(table)
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "results": rows}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
