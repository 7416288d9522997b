"""The registry at scale: load a million versions, then time the reads through HTTP.

Two steps (bench/README.md has the details and docs/benchmarks.md the results):

``load``
    makes a fresh database (PostgreSQL ``bench_scale`` on 127.0.0.1 by default, or a
    SQLite file), migrates it with ``manage.py migrate``, and fills it with N models of M
    versions each plus one big model of B versions, with everything a registration through
    ``models_app.services.model_version_register`` leaves behind: the version with its
    number and SemVer sort key, the model's ``last_number``, the empty model card with its
    first revision, the history rows, the audit events, and for the versions that went to
    production the review request, the approving review and the promotion. Rows are
    written with the ORM's ``bulk_create`` (the historical models' rows too), in chunks of
    one transaction each; it ends with SQL checks of the invariants.

``measure``
    starts ``gunicorn registry_site.wsgi -w 2`` on 127.0.0.1 against the loaded database
    and times, one client at a time over kept-alive connections, the REST API, the MLflow
    door and the dashboard's pages, with p50, p95 and max per call. ``--reuse`` measures a
    database loaded before; without it, ``measure`` loads first.

Safety: the load only drops and creates a database whose name starts with ``bench``, on
a loopback PostgreSQL server (or a SQLite file whose name starts with ``bench``); the
client only talks to the gunicorn it started on 127.0.0.1, and every loop is bounded in
requests and in time. It is a benchmark, not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import platform
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import requests
from bench_servers import LOOPBACK_SETTINGS, gunicorn_command, manage, started

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_scale"
PREFIX = "scale_"
BIG = "scale_big"
TEAM_SLUG = "scale"
PASSWORD = "scale-bench-password-not-secret"  # noqa: S105 - throwaway users, loopback only
USERS = (  # username, role (None: superuser)
    ("scale_admin", None),
    ("scale_ds", "contributor"),
    ("scale_reviewer", "reviewer"),
    ("scale_release", "release_manager"),
    ("scale_viewer", "viewer"),
)
CHUNK = 10_000  # versions per transaction
BATCH = 2_000  # rows per INSERT
MAX_VERSIONS = 2_000_000
MAX_REQUESTS = 1_000  # per call
MAX_BUDGET = 600.0  # seconds per call or per page walk


# --- Databases ------------------------------------------------------------------------------


def check_database_url(url: str) -> urlsplit:
    """Refuse anything but a bench database on loopback PostgreSQL or a bench SQLite file."""
    parts = urlsplit(url)
    if parts.scheme in ("postgres", "postgresql"):
        name = parts.path.lstrip("/")
        if (parts.hostname or "") not in LOOPBACK:
            raise SystemExit(f"refusing {url!r}: the database must be on 127.0.0.1")
        if not re.fullmatch(r"bench[a-z0-9_]*", name):
            raise SystemExit(f"refusing {url!r}: the database name must start with 'bench'")
        return parts
    if parts.scheme == "sqlite":
        if not Path(parts.path).name.startswith("bench"):
            raise SystemExit(f"refusing {url!r}: the SQLite file name must start with 'bench'")
        return parts
    raise SystemExit(f"refusing {url!r}: only postgres:// and sqlite:// URLs")


def fresh_database(url: str) -> None:
    """Drop and create the database (PostgreSQL), or remove the file (SQLite)."""
    parts = check_database_url(url)
    if parts.scheme == "sqlite":
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(parts.path + suffix).unlink(missing_ok=True)
        return
    import psycopg
    from psycopg import sql

    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def registry_env(database_url: str, workdir: Path) -> dict:
    """The environment of manage.py and gunicorn: production-like, on loopback, plain HTTP."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        {
            "DATABASE_URL": database_url,
            "REGISTRY_VAR_DIR": str(workdir),
            "REGISTRY_ARTIFACT_ROOT": str(workdir / "artifacts"),
            # The dashboard's pages need the collected static files' manifest.
            "STATIC_ROOT": str(workdir / "static"),
            **LOOPBACK_SETTINGS,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


# --- The data a registration leaves ----------------------------------------------------------


def label(n: int) -> str:
    """The SemVer label of version number n: 1.0.1 … 1.9.9, 2.0.0 …, every 13th an -rc.1.

    Labels are unique per model and their precedence follows the numbers."""
    text = f"{1 + n // 100}.{(n // 10) % 10}.{n % 10}"
    return f"{text}-rc.1" if n % 13 == 0 else text


def stage_of(n: int, production: int) -> tuple[str, bool]:
    """(stage, was promoted) of version n when version `production` is in production.

    The versions after the production one wait in staging; of the earlier ones every 10th
    was in production and was superseded (archived), every 50th (25, 75, …) was promoted
    and rolled back, about one in seven was deprecated, and the rest were archived
    without ever reaching production."""
    if n == production:
        return "production", True
    if n > production:
        return "staging", False
    if n % 10 == 0:
        return "archived", True
    if n % 50 == 25:
        return "rolled_back", True
    if n % 7 == 3:
        return "deprecated", False
    return "archived", False


def production_number(m: int) -> int:
    return max(1, m - 2)


class Loader:
    """Writes the rows of N × M + B registrations in chunks, each in one transaction."""

    def __init__(
        self,
        *,
        database_url: str,
        models: int,
        versions: int,
        big: int,
        seed: int = 1,
        copy: bool = True,
    ) -> None:
        """`copy`: on PostgreSQL, write the versions' rows with COPY on a connection of
        its own (fast); False writes them with INSERTs in Django's own transaction."""
        from django.utils import timezone

        self.database_url, self.pg, self.copy = database_url, None, copy
        self.n_models, self.n_versions, self.n_big = models, versions, big
        self.rng = random.Random(seed)
        # Everything happened during the year before the day before the load.
        self.now = timezone.now().replace(microsecond=0) - dt.timedelta(days=1)
        self.span = dt.timedelta(days=365)
        self.labels: dict[int, tuple[str, str]] = {}

    # Each registration and change in the data is one request of a client, with its id.
    @staticmethod
    def request_id() -> str:
        return uuid.uuid4().hex

    def semver(self, n: int) -> tuple[str, str]:
        from models_app.validators import SemVer

        if n not in self.labels:
            text = label(n)
            self.labels[n] = (text, SemVer.parse(text).sort_key)
        return self.labels[n]

    def run(self) -> dict:
        from django.db import connection

        started = time.monotonic()
        self.setup_people()
        models = self.create_models()
        self.prepare_tables()
        total = self.n_models * self.n_versions + self.n_big
        done = 0
        print(f"loading {total:,} versions in chunks of {CHUNK:,} …", flush=True)
        for chunk in self.chunks(models):
            self.write_chunk(chunk)
            done += len(chunk)
            elapsed = time.monotonic() - started
            rate = done / elapsed if elapsed else 0.0
            eta = (total - done) / rate if rate else 0.0
            print(
                f"  {done:>9,}/{total:,} versions  {elapsed:7.0f} s  {rate:7.0f}/s  "
                f"about {eta:5.0f} s left",
                flush=True,
            )
        if self.pg is not None:
            self.pg.close()
        self.reset_sequences()
        # The rows were copied around ModelVersion.save(), which keeps each model's counts
        # of versions per stage: set them as it would have.
        from models_app import services

        services.stage_counts_recount()
        rows_seconds = time.monotonic() - started
        if connection.vendor == "postgresql":
            print("ANALYZE …", flush=True)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        return {"versions": total, "rows_seconds": round(rows_seconds, 1)}

    # --- People and models ---

    def setup_people(self) -> None:
        from django.contrib.auth.models import Group, User

        from models_app import services

        people = {}
        for username, role in USERS:
            if role is None:
                people[username] = User.objects.create_superuser(username, "", PASSWORD)
            else:
                user = User.objects.create_user(username, "", PASSWORD)
                user.groups.add(Group.objects.get(name=role))
                people[username] = user
        admin = people["scale_admin"]
        self.team = services.team_create(actor=admin, name="Scale", slug=TEAM_SLUG)
        services.team_member_add(actor=admin, team=self.team, user=people["scale_ds"])
        self.ds, self.reviewer, self.release = (
            people["scale_ds"],
            people["scale_reviewer"],
            people["scale_release"],
        )

    def prepare_tables(self) -> None:
        from django.db import connection

        from approvals_app.cards import SECTION_TITLES, content_sha256
        from approvals_app.models import CardRevision, ModelCard, Review
        from models_app.models import AuditEvent, ModelVersion

        self.empty_sha, self.sections = content_sha256({}), list(SECTION_TITLES)
        with connection.cursor() as cursor:
            # Insert order: a row's foreign keys name rows inserted before it, except the
            # card's current revision (checked at commit).
            self.tables = {
                name: Table(model, cursor)
                for name, model in (
                    ("version", ModelVersion),
                    ("card", ModelCard),
                    ("revision", CardRevision),
                    ("review", Review),
                    ("version_history", ModelVersion.history.model),
                    ("card_history", ModelCard.history.model),
                    ("review_history", Review.history.model),
                    ("event", AuditEvent),
                )
            }

    def reset_sequences(self) -> None:
        """What `manage.py sqlsequencereset` prints, run: the next id after the largest
        (PostgreSQL; SQLite keeps track by itself)."""
        import io

        from django.core.management import call_command
        from django.db import connection

        out = io.StringIO()
        call_command(
            "sqlsequencereset", "models_app", "approvals_app", stdout=out, stderr=io.StringIO()
        )
        with connection.cursor() as cursor:
            for statement in out.getvalue().split(";"):
                statement = statement.strip()
                if statement and statement.upper() not in ("BEGIN", "COMMIT"):
                    cursor.execute(statement)

    def model_names(self) -> list[tuple[str, int]]:
        names = [(f"{PREFIX}{i:04d}", self.n_versions) for i in range(self.n_models)]
        if self.n_big:
            names.append((BIG, self.n_big))
        return names

    def create_models(self) -> list:
        """The models as registered_model_create makes them: the row, its history row
        ("+") and the model.created event; last_number is the number of versions."""
        from models_app.audit import diff
        from models_app.enums import Action
        from models_app.models import AuditEvent, RegisteredModel

        history = RegisteredModel.history.model
        rows, meta = [], []
        for i, (name, count) in enumerate(self.model_names()):
            created = self.now - self.span - dt.timedelta(days=1) + dt.timedelta(minutes=i)
            last = self.version_time(created, count, count)
            description = f"Benchmark model {name} with {count:,} versions."
            tags = {"owner": "scale", "tier": "gold" if i % 3 == 0 else "silver"}
            rows.append(
                RegisteredModel(
                    name=name,
                    description=description,
                    team=self.team,
                    tags=tags,
                    created_by=self.ds,
                    created_at=created,
                    updated_at=last,
                    last_number=count,
                )
            )
            meta.append((count, created, description, tags))
        models = RegisteredModel.objects.bulk_create(rows, batch_size=BATCH)
        histories, events = [], []
        for model, (count, created, description, tags) in zip(models, meta, strict=True):
            model.count, model.registered_at = count, created
            rid = self.request_id()
            histories.append(
                history(
                    id=model.pk,
                    name=model.name,
                    description=description,
                    tags=tags,
                    created_at=created,
                    updated_at=created,
                    origin="",
                    team_id=self.team.pk,
                    created_by_id=self.ds.pk,
                    history_date=created,
                    history_type="+",
                    history_change_reason=None,
                    history_user_id=self.ds.pk,
                    history_username=self.ds.username,
                    history_request_id=rid,
                )
            )
            events.append(
                AuditEvent(
                    created_at=created,
                    action=Action.MODEL_CREATED,
                    actor_id=self.ds.pk,
                    actor_username=self.ds.username,
                    request_id=rid,
                    team_id=self.team.pk,
                    registered_model_id=model.pk,
                    model_name=model.name,
                    object_type="registeredmodel",
                    object_id=str(model.pk),
                    changes=diff(
                        {},
                        {
                            "name": model.name,
                            "team": TEAM_SLUG,
                            "description": description,
                            "tags": tags,
                        },
                    ),
                )
            )
        history.objects.bulk_create(histories, batch_size=BATCH)
        AuditEvent.objects.bulk_create(events, batch_size=BATCH)
        print(f"{len(models):,} models created", flush=True)
        return models

    def version_time(self, model_created: dt.datetime, n: int, count: int) -> dt.datetime:
        """Registrations spread evenly over the year after the model was created."""
        return model_created + dt.timedelta(hours=1) + self.span * ((n - 1) / max(count, 1))

    def chunks(self, models: list) -> Iterator[list[tuple]]:
        chunk: list[tuple] = []
        for model in models:
            for n in range(1, model.count + 1):
                chunk.append((model, n))
                if len(chunk) == CHUNK:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    # --- Versions ---

    def write_chunk(self, chunk: list[tuple]) -> None:
        """One transaction: the chunk's versions, cards, revisions, reviews, their history
        rows and audit events, with ids taken in order (the database is this run's alone;
        the cards name their revision before it is inserted: the foreign keys are checked
        at commit)."""
        from django.db import connection, transaction

        t = self.tables
        rows: dict[str, list] = {name: [] for name in t}
        for model, n in chunk:
            self.rows_of(self.plan(model, n), rows)
        if connection.vendor == "postgresql" and self.copy:
            import psycopg

            if self.pg is None:
                self.pg = psycopg.connect(self.database_url)
            with self.pg.transaction(), self.pg.cursor() as cursor:
                for name, table in t.items():
                    table.insert(cursor, rows[name], copy=True)
            return
        with transaction.atomic(), connection.cursor() as cursor:
            for name, table in t.items():
                table.insert(cursor, rows[name])

    def plan(self, model, n: int) -> dict:
        """The final row of version n of `model` and the changes that led to it."""
        count = model.count
        production = production_number(count)
        stage, promoted = stage_of(n, production)
        version, precedence = self.semver(n)
        created = self.version_time(model.registered_at, n, count)
        rng = self.rng
        accuracy = round(0.80 + 0.15 * rng.random(), 4)
        digest = hashlib.sha256(f"{model.name}:{n}".encode()).hexdigest()
        fields = {
            "registered_model_id": model.pk,
            "version": version,
            "precedence": precedence,
            "number": n,
            "description": "",
            "tags": {},
            "metrics": {
                "accuracy": accuracy,
                "f1": round(accuracy - 0.05 * rng.random(), 4),
                "latency_ms": round(10 + 40 * rng.random(), 2),
            },
            "params": {"learning_rate": 0.01, "epochs": 10 + n % 5, "max_depth": 6},
            "artifact_uri": f"s3://scale-bench-artifacts/{model.name}/{n}/model.pkl",
            "artifact_sha256": digest,
            "artifact_size": 1_000_000 + n,
            "data_version": f"s3://scale-bench-data/{model.name}/v{1 + n // 10}",
            "code_version": hashlib.sha1(digest.encode(), usedforsecurity=False).hexdigest(),
            "source_run": f"run-{model.pk}-{n}",
            "created_by_id": self.ds.pk,
            "created_at": created,
            "stage": "staging",
            "stage_changed_at": created,
            "promoted_at": None,
        }
        # The changes after registration: (time, actor, stage after, reason, action, payload).
        changes = []
        review_at = approved_at = None
        later = min(created + dt.timedelta(hours=3), self.now)
        if promoted:
            review_at = created + dt.timedelta(minutes=20)
            approved_at = created + dt.timedelta(minutes=40)
            promote_at = created + dt.timedelta(hours=1)
            previous = self.previous_promoted(n)
            changes.append(
                (
                    promote_at,
                    self.release,
                    "production",
                    "Approved and passes the policy.",
                    "version.promoted",
                    {
                        "previous": self.semver(previous)[0] if previous else None,
                        "checks": [
                            {
                                "guard": "approvals",
                                "passed": True,
                                "reason": "1 of 1 required approvals of the current card.",
                            }
                        ],
                    },
                )
            )
        if stage == "archived" and promoted:
            successor = self.semver(self.next_promoted(n, production))[0]
            changes.append(
                (
                    later,
                    self.release,
                    "archived",
                    f"superseded by {successor}: Approved and passes the policy.",
                    "version.archived",
                    {"superseded_by": successor},
                )
            )
        elif stage == "archived":
            changes.append(
                (later, self.ds, "archived", "Not going to production.", "version.archived", {})
            )
        elif stage == "rolled_back":
            restored = self.previous_promoted(n)
            changes.append(
                (
                    later,
                    self.release,
                    "rolled_back",
                    "Error rate went up after the release.",
                    "version.rolled_back",
                    {"restored": self.semver(restored)[0] if restored else None},
                )
            )
        elif stage == "deprecated":
            changes.append(
                (
                    later,
                    self.ds,
                    "deprecated",
                    "Trained on a bad extract.",
                    "version.deprecated",
                    {},
                )
            )
        final = dict(fields)
        for at, _actor, to_stage, *_rest in changes:
            final["stage"], final["stage_changed_at"] = to_stage, at
            if to_stage == "production":
                final["promoted_at"] = at
        return {
            "model": model,
            "fields": fields,
            "final": final,
            "changes": changes,
            "created": created,
            "review_at": review_at,
            "approved_at": approved_at,
        }

    @staticmethod
    def previous_promoted(n: int) -> int | None:
        for k in range(n - 1, 0, -1):
            if k % 10 == 0 or k % 50 == 25:
                return k
        return None

    @staticmethod
    def next_promoted(n: int, production: int) -> int:
        for k in range(n + 1, production):
            if k % 10 == 0 or k % 50 == 25:
                return k
        return production

    def rows_of(self, p: dict, rows: dict[str, list]) -> None:
        """The rows of one registration and of what happened to the version after it."""
        t = self.tables
        model, created, state = p["model"], p["created"], dict(p["fields"])
        vid, card_id, revision_id = t["version"].take(), t["card"].take(), t["revision"].take()
        state["id"] = vid
        final = dict(p["final"], id=vid)
        rows["version"].append(t["version"].row(final))

        def event(at, actor, action, rid, **kw):
            rows["event"].append(
                t["event"].row(
                    {
                        "id": t["event"].take(),
                        "created_at": at,
                        "action": action,
                        "actor_id": actor.pk,
                        "actor_username": actor.username,
                        "request_id": rid,
                        "team_id": self.team.pk,
                        "registered_model_id": model.pk,
                        "model_version_id": vid,
                        "model_name": model.name,
                        "version_label": state["version"],
                        "object_type": "modelversion",
                        "object_id": str(vid),
                        **kw,
                    }
                )
            )

        def history(name, values, actor, at, kind, rid, reason=None):
            table = t[name]
            rows[name].append(
                table.row(
                    {
                        **values,
                        "history_id": table.take(),
                        "history_date": at,
                        "history_type": kind,
                        "history_change_reason": reason,
                        "history_user_id": actor.pk,
                        "history_username": actor.username,
                        "history_request_id": rid,
                    }
                )
            )

        # The registration: the version ("+"), its card ("+", naming revision 1), the
        # revision, and the version.registered event, all under one request id.
        rid = self.request_id()
        history("version_history", state, self.ds, created, "+", rid)
        card = {
            "id": card_id,
            "model_version_id": vid,
            "current_revision_id": revision_id,
            "created_at": created,
            "review_requested_at": None,
            "review_requested_by_id": None,
        }
        history("card_history", card, self.ds, created, "+", rid)
        rows["revision"].append(
            t["revision"].row(
                {
                    "id": revision_id,
                    "card_id": card_id,
                    "number": 1,
                    "sha256": self.empty_sha,
                    "author_id": self.ds.pk,
                    "author_username": self.ds.username,
                    "created_at": created,
                    **{key: "" for key in self.sections},
                }
            )
        )
        event(
            created,
            self.ds,
            "version.registered",
            rid,
            to_stage="staging",
            payload={
                "number": state["number"],
                "metrics": state["metrics"],
                "artifact_uri": state["artifact_uri"],
            },
        )
        if p["review_at"]:
            # Review requested by the author, approved by a reviewer (review_request and
            # review_submit), before the promotion.
            rid = self.request_id()
            card.update(review_requested_at=p["review_at"], review_requested_by_id=self.ds.pk)
            history("card_history", card, self.ds, p["review_at"], "~", rid)
            event(p["review_at"], self.ds, "review.requested", rid, payload={"revision": 1})
            rid = self.request_id()
            review = {
                "id": t["review"].take(),
                "model_version_id": vid,
                "revision_id": revision_id,
                "revision_sha256": self.empty_sha,
                "reviewer_id": self.reviewer.pk,
                "reviewer_username": self.reviewer.username,
                "decision": "approve",
                "comment": "Looks good.",
                "created_at": p["approved_at"],
            }
            rows["review"].append(t["review"].row(review))
            history("review_history", review, self.reviewer, p["approved_at"], "+", rid)
            event(
                p["approved_at"],
                self.reviewer,
                "review.submitted",
                rid,
                reason=review["comment"],
                payload={
                    "decision": "approve",
                    "revision": 1,
                    "sha256": self.empty_sha,
                    "review_id": review["id"],
                },
            )
        rows["card"].append(t["card"].row(card))
        for at, actor, to_stage, reason, action, payload in p["changes"]:
            rid = self.request_id()
            from_stage = state["stage"]
            state["stage"], state["stage_changed_at"] = to_stage, at
            if to_stage == "production":
                state["promoted_at"] = at
            history("version_history", state, actor, at, "~", rid, reason)
            event(
                at,
                actor,
                action,
                rid,
                reason=reason,
                from_stage=from_stage,
                to_stage=to_stage,
                payload=payload,
            )


class Table:
    """Multi-row INSERTs of one model's table, by its columns from `_meta`, with ids
    handed out after the largest one already stored."""

    def __init__(self, model, cursor) -> None:
        from django.db import connection, models

        meta = model._meta
        self.connection = connection
        self.table = connection.ops.quote_name(meta.db_table)
        self.fields = list(meta.concrete_fields)
        self.names = [f.attname for f in self.fields]
        self.json = {f.attname for f in self.fields if isinstance(f, models.JSONField)}
        self.datetimes = {f.attname: f for f in self.fields if isinstance(f, models.DateTimeField)}
        self.defaults = {f.attname: f.get_default() for f in self.fields}
        postgres = connection.vendor == "postgresql"

        def converter(name):
            if name in self.json:
                return json.dumps
            if name in self.datetimes and not postgres:
                field = self.datetimes[name]
                return lambda value: field.get_db_prep_save(value, connection)
            return None

        self.converters = [(name, converter(name)) for name in self.names]
        pk = connection.ops.quote_name(meta.pk.column)
        cursor.execute(f"SELECT MAX({pk}) FROM {self.table}")  # noqa: S608 - names from _meta
        self.next_id = (cursor.fetchone()[0] or 0) + 1
        columns = ", ".join(connection.ops.quote_name(f.column) for f in self.fields)
        self.per_insert = max(1, min(1000, 30000 // len(self.fields)))
        self.head = f"INSERT INTO {self.table} ({columns}) VALUES "  # noqa: S608
        self.one = "(" + ", ".join(["%s"] * len(self.fields)) + ")"
        self.copy_sql = f"COPY {self.table} ({columns}) FROM STDIN"

    def take(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def row(self, values: dict) -> tuple:
        """The column values of one row, as the ORM would send them: JSON as text, and
        on SQLite datetimes as Django stores them (PostgreSQL takes them as they are)."""
        out = []
        for name, convert in self.converters:
            value = values.get(name, self.defaults[name])
            if value is not None and convert is not None:
                value = convert(value)
            out.append(value)
        return tuple(out)

    def insert(self, cursor, rows: list[tuple], *, copy: bool = False) -> None:
        """`copy`: COPY through a psycopg cursor of its own connection (PostgreSQL);
        otherwise INSERTs of many rows through Django's cursor."""
        if copy:
            with cursor.copy(self.copy_sql) as copy:
                for row in rows:
                    copy.write_row(row)
            return
        for start in range(0, len(rows), self.per_insert):
            batch = rows[start : start + self.per_insert]
            sql = self.head + ", ".join([self.one] * len(batch))
            cursor.execute(sql, [value for row in batch for value in row])


VALIDATION = (
    (
        "models without exactly one production version",
        """SELECT COUNT(*) FROM models_app_registeredmodel m WHERE (
               SELECT COUNT(*) FROM models_app_modelversion v
               WHERE v.registered_model_id = m.id AND v.stage = 'production') <> 1""",
        0,
    ),
    (
        "models whose numbers are not exactly 1..last_number",
        """SELECT COUNT(*) FROM models_app_registeredmodel m LEFT JOIN (
               SELECT registered_model_id, COUNT(*) AS c, MIN(number) AS lo, MAX(number) AS hi
               FROM models_app_modelversion GROUP BY registered_model_id) t
               ON t.registered_model_id = m.id
           WHERE t.c IS NULL OR t.lo <> 1 OR t.hi <> m.last_number OR t.c <> m.last_number""",
        0,
    ),
    (
        "models whose per-stage counts differ from their versions",
        """SELECT COUNT(*) FROM models_app_registeredmodel m LEFT JOIN (
               SELECT registered_model_id,
                      SUM(CASE WHEN stage = 'staging' THEN 1 ELSE 0 END) AS staging,
                      SUM(CASE WHEN stage = 'production' THEN 1 ELSE 0 END) AS production,
                      SUM(CASE WHEN stage = 'archived' THEN 1 ELSE 0 END) AS archived,
                      SUM(CASE WHEN stage = 'rolled_back' THEN 1 ELSE 0 END) AS rolled_back,
                      SUM(CASE WHEN stage = 'deprecated' THEN 1 ELSE 0 END) AS deprecated
               FROM models_app_modelversion GROUP BY registered_model_id) t
               ON t.registered_model_id = m.id
           WHERE COALESCE(t.staging, 0) <> m.staging_count
              OR COALESCE(t.production, 0) <> m.production_count
              OR COALESCE(t.archived, 0) <> m.archived_count
              OR COALESCE(t.rolled_back, 0) <> m.rolled_back_count
              OR COALESCE(t.deprecated, 0) <> m.deprecated_count""",
        0,
    ),
    (
        "versions without a card naming its revision 1",
        """SELECT COUNT(*) FROM models_app_modelversion v
           LEFT JOIN approvals_app_modelcard c ON c.model_version_id = v.id
           LEFT JOIN approvals_app_cardrevision r ON r.id = c.current_revision_id
           WHERE r.id IS NULL OR r.number <> 1""",
        0,
    ),
    (
        "versions without a registration history row",
        """SELECT COUNT(*) FROM models_app_modelversion v WHERE NOT EXISTS (
               SELECT 1 FROM models_app_historicalmodelversion h
               WHERE h.id = v.id AND h.history_type = '+')""",
        0,
    ),
    (
        "versions without a version.registered event",
        """SELECT (SELECT COUNT(*) FROM models_app_modelversion) - (SELECT COUNT(*)
               FROM models_app_auditevent WHERE action = 'version.registered')""",
        0,
    ),
    (
        "versions whose newest history row shows another stage",
        """SELECT COUNT(*) FROM models_app_modelversion v JOIN models_app_historicalmodelversion h
               ON h.id = v.id AND h.history_id = (SELECT MAX(history_id)
                   FROM models_app_historicalmodelversion h2 WHERE h2.id = v.id)
           WHERE h.stage <> v.stage OR h.stage_changed_at <> v.stage_changed_at""",
        0,
    ),
    (
        "versions in production or once promoted without promoted_at, or with times out of order",
        """SELECT COUNT(*) FROM models_app_modelversion WHERE
               (stage IN ('production', 'rolled_back') AND promoted_at IS NULL)
               OR stage_changed_at < created_at OR promoted_at < created_at""",
        0,
    ),
)


def validate(expected_versions: int, expected_models: int) -> list[str]:
    """The SQL checks; returns the failures (and prints every check)."""
    from django.db import connection

    from models_app.models import ModelVersion
    from models_app.validators import SemVer

    failures = []
    checks = [
        *VALIDATION,
        ("versions", "SELECT COUNT(*) FROM models_app_modelversion", expected_versions),
        ("models", "SELECT COUNT(*) FROM models_app_registeredmodel", expected_models),
    ]
    with connection.cursor() as cursor:
        for name, sql, expected in checks:
            started = time.monotonic()
            cursor.execute(sql)
            value = cursor.fetchone()[0]
            ok = value == expected
            print(
                f"  {'ok  ' if ok else 'FAIL'} {name}: {value:,} (expected {expected:,}, "
                f"{time.monotonic() - started:.1f} s)",
                flush=True,
            )
            if not ok:
                failures.append(name)
    # The stored sort keys are SemVer's own, and the label order is the number order.
    sample = list(
        ModelVersion.objects.order_by("?").values_list("version", "precedence", "number")[:2000]
    )
    wrong = [v for v, key, _n in sample if SemVer.parse(v).sort_key != key]
    print(f"  {'ok  ' if not wrong else 'FAIL'} sort keys of {len(sample)} random versions")
    if wrong:
        failures.append("sort keys")
    return failures


def table_counts() -> dict[str, int]:
    from django.apps import apps
    from django.db import connection

    counts = {}
    with connection.cursor() as cursor:
        for model in apps.get_models():
            table = model._meta.db_table
            if table.startswith(("models_app_", "approvals_app_")):
                cursor.execute(f"SELECT COUNT(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608
                count = cursor.fetchone()[0]
                if count:
                    counts[table] = count
    return counts


def load(args, workdir: Path) -> dict:
    for name in ("models", "versions", "big"):
        if getattr(args, name) < 0:
            raise SystemExit(f"--{name} must be ≥ 0")
    total = args.models * args.versions + args.big
    if not 0 < total <= MAX_VERSIONS or (args.models and args.versions < 1):
        raise SystemExit(f"between 1 and {MAX_VERSIONS:,} versions, each model with one or more")
    check_database_url(args.database_url)
    started = time.monotonic()
    print(f"fresh database {args.database_url} …", flush=True)
    fresh_database(args.database_url)
    env = registry_env(args.database_url, workdir)
    manage(env, "migrate", "--noinput")
    migrated = time.monotonic() - started
    print(f"migrated in {migrated:.0f} s", flush=True)
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "registry_site.settings"
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    summary = Loader(
        database_url=args.database_url, models=args.models, versions=args.versions, big=args.big
    ).run()
    print("checks:", flush=True)
    failures = validate(total, args.models + (1 if args.big else 0))
    counts = table_counts()
    for table, count in sorted(counts.items()):
        print(f"  {table:45} {count:>12,}")
    summary.update(
        {
            "database_url": args.database_url,
            "models": args.models,
            "versions_per_model": args.versions,
            "big_model_versions": args.big,
            "migrate_seconds": round(migrated, 1),
            "total_seconds": round(time.monotonic() - started, 1),
            "rows": counts,
            "failed_checks": failures,
        }
    )
    print(
        f"loaded {total:,} versions in {summary['total_seconds']:.0f} s "
        f"(migrate {migrated:.0f} s, rows {summary['rows_seconds']:.0f} s)",
        flush=True,
    )
    if failures:
        raise SystemExit(f"checks failed: {', '.join(failures)}")
    return summary


# --- Measuring ---------------------------------------------------------------------------------


@contextlib.contextmanager
def gunicorn(env: dict, port: int, log: Path, timeout: int) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    cmd = gunicorn_command(port, 2, "--timeout", str(timeout))
    ready = lambda: requests.get(f"{url}/api/v1/", timeout=2)  # noqa: E731
    with started(cmd, cwd=ROOT, env=env, log=log, ready=ready):
        yield url


def with_query(url: str, **params) -> str:
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    query.update({k: str(v) for k, v in params.items()})
    return urlunsplit(parts._replace(query=urlencode(query)))


class Client:
    """One client, kept-alive connections, every request bounded by `timeout`."""

    def __init__(self, base: str, timeout: float) -> None:
        if (urlsplit(base).hostname or "") not in LOOPBACK:
            raise SystemExit(f"refusing {base!r}: loopback only")
        self.base, self.timeout = base, timeout
        self.api = requests.Session()
        self.web = requests.Session()

    def url(self, path: str) -> str:
        url = path if path.startswith("http") else f"{self.base}{path}"
        if not url.startswith(self.base + "/"):
            raise SystemExit(f"refusing {url!r}: not the server this run started")
        return url

    def login(self, username: str) -> None:
        """An API token for `username`, sent on every API request."""
        token = self.api.post(
            self.url("/api/v1/auth/token/"),
            json={"username": username, "password": PASSWORD},
            timeout=self.timeout,
        )
        token.raise_for_status()
        self.token = token.json()["token"]
        self.api.headers["Authorization"] = f"Token {self.token}"

    def login_web(self, username: str) -> None:
        """A dashboard session for `username`, for the dashboard's pages."""
        page = self.web.get(self.url("/accounts/login/"), timeout=self.timeout)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if not csrf:
            raise SystemExit(
                f"no CSRF token on the login page ({page.status_code}): {page.text[:300]!r}"
            )
        answer = self.web.post(
            self.url("/accounts/login/"),
            data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": csrf[1]},
            headers={"Referer": self.url("/accounts/login/")},
            timeout=self.timeout,
            allow_redirects=False,
        )
        if answer.status_code != 302:
            raise SystemExit(f"dashboard login answered {answer.status_code}")

    def get(
        self, path: str, *, web: bool = False
    ) -> tuple[str | int, float, requests.Response | None]:
        session = self.web if web else self.api
        url = self.url(path)
        headers = {}
        if urlsplit(url).path.startswith("/api/2.0/mlflow/"):
            headers["Authorization"] = f"Bearer {self.token}"  # what MLflow clients send
        started = time.perf_counter()
        try:
            response = session.get(url, timeout=self.timeout, headers=headers)
        except requests.Timeout:
            return "timeout", time.perf_counter() - started, None
        except requests.ConnectionError:
            # gunicorn kills a worker that overruns its timeout: the connection drops.
            return "dropped", time.perf_counter() - started, None
        return response.status_code, time.perf_counter() - started, response

    def json(self, path: str) -> dict:
        status, _seconds, response = self.get(path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")
        return response.json()


def walk(
    client: Client,
    first: str,
    next_url: Callable[[dict, str], str | None],
    budget: float,
    max_pages: int,
) -> tuple[list[str], bool]:
    """Follow next links from `first`; the URLs of the pages seen, and whether the walk
    reached the last page (it stops at `max_pages` pages or after `budget` seconds)."""
    urls, url = [], first
    deadline = time.monotonic() + budget
    while url and len(urls) < max_pages:
        urls.append(url)
        if time.monotonic() > deadline:
            return urls, False
        url = next_url(client.json(url), url)
    return urls, url is None


def rest_pages(client: Client, first: str, budget: float) -> list[tuple[str, str]]:
    """(name, URL) of the first, a middle and the last page of a DRF list.

    With page numbers (a `page` parameter in `next` and a count) they are computed; with
    any other pagination (cursors) the next links are followed once, to the end, and the
    URLs of the pages reached are timed."""
    body = client.json(first)
    nxt = body.get("next")
    size = len(body.get("results", [])) or 1
    count = body.get("count")
    if nxt and "page" in parse_qs(urlsplit(nxt).query) and isinstance(count, int):
        pages = math.ceil(count / size)
        middle = max(1, (pages + 1) // 2)
        return [
            ("page 1", first),
            (f"page {middle} of {pages}", with_query(first, page=middle)),
            (f"page {pages} of {pages}", with_query(first, page=pages)),
        ]
    urls, complete = walk(client, first, lambda b, _u: b.get("next"), budget, 100_000)
    last = f"page {len(urls)} of {len(urls)}" if complete else f"page {len(urls)} (walk stopped)"
    seen = f"{len(urls)}" if complete else f"{len(urls)}+"
    return [
        ("page 1", first),
        (f"page {(len(urls) + 1) // 2} of {seen}", urls[(len(urls) - 1) // 2]),
        (last, urls[-1]),
    ]


def mlflow_pages(client: Client, first: str, budget: float) -> list[tuple[str, str]]:
    """(name, URL) of the first, a middle and the deepest page, following page tokens."""

    def next_url(body: dict, _url: str) -> str | None:
        token = body.get("next_page_token")
        return with_query(first, page_token=token) if token else None

    urls, complete = walk(client, first, next_url, budget, 100_000)
    last = f"page {len(urls)} of {len(urls)}" if complete else f"page {len(urls)} (walk stopped)"
    out = [("page 1", first)]
    seen = f"{len(urls)}" if complete else f"{len(urls)}+"
    if len(urls) > 2:
        out.append((f"page {(len(urls) + 1) // 2} of {seen}", urls[(len(urls) - 1) // 2]))
    if len(urls) > 1:
        out.append((last, urls[-1]))
    return out


def time_call(client: Client, name: str, path: str, *, web: bool, args) -> dict:
    """Up to `--requests` timed GETs (after one untimed), within `--budget` seconds;
    stops early after `--max-failures` timeouts or dropped connections."""
    latencies, statuses = [], Counter()
    status, seconds, _response = client.get(path, web=web)  # warm-up, not counted ...
    if isinstance(status, str) or seconds > args.budget:
        # ... unless it failed or overran the budget: then it is the only sample.
        latencies.append(seconds * 1000)
        statuses[str(status)] += 1
    deadline = time.monotonic() + args.budget
    failures = 0
    timed = not statuses
    while timed and len(latencies) < args.requests and time.monotonic() < deadline:
        status, seconds, _response = client.get(path, web=web)
        latencies.append(seconds * 1000)
        statuses[str(status)] += 1
        if isinstance(status, str):
            failures += 1
            if failures >= args.max_failures:
                break
    ordered = sorted(latencies)
    row = {
        "call": name,
        "path": path.removeprefix(client.base),
        "requests": len(ordered),
        "p50_ms": round(statistics.median(ordered), 1) if ordered else None,
        "p95_ms": round(ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)], 1)
        if ordered
        else None,
        "max_ms": round(ordered[-1], 1) if ordered else None,
        "statuses": dict(sorted(statuses.items())),
    }
    print(
        f"  {name:60} n={row['requests']:>3}  p50 {row['p50_ms']!s:>9} ms  "
        f"p95 {row['p95_ms']!s:>9} ms  max {row['max_ms']!s:>9} ms  {row['statuses']}",
        flush=True,
    )
    return row


def calls(client: Client, args) -> list[tuple[str, str, bool]]:
    """(name, path, dashboard?) of every call, the deep pages found by walking once."""
    regular = f"{PREFIX}0000"
    models = client.json("/api/v1/models/?search=" + BIG).get("results", [])
    big = BIG if any(m.get("name") == BIG for m in models) else None
    mid = f"{PREFIX}{args.search_index:04d}"
    out = [
        (f"production lookup ({regular})", f"/api/v1/models/{regular}/production/", False),
        (f"REST model detail ({regular})", f"/api/v1/models/{regular}/", False),
        ("REST models list, page 1", "/api/v1/models/", False),
        (f"REST models search ?search={mid}", f"/api/v1/models/?search={mid}", False),
        ("MLflow registered-models/search", "/api/2.0/mlflow/registered-models/search", False),
        ("dashboard models list", "/", True),
        (f"dashboard model page ({regular})", f"/models/{regular}/", True),
    ]
    started = time.monotonic()
    first = "/api/2.0/mlflow/registered-models/search?max_results=100"
    for page, url in mlflow_pages(client, client.url(first), args.walk_budget)[1:]:
        out.append((f"MLflow registered-models/search, {page}", url, False))
    if big:
        out += [
            (f"production lookup ({big})", f"/api/v1/models/{big}/production/", False),
            (f"REST model detail ({big})", f"/api/v1/models/{big}/", False),
            (
                f"REST versions ?stage=production ({big})",
                f"/api/v1/models/{big}/versions/?stage=production",
                False,
            ),
            (
                f"REST versions ?stage=archived ({big})",
                f"/api/v1/models/{big}/versions/?stage=archived",
                False,
            ),
        ]
        for page, url in rest_pages(
            client, client.url(f"/api/v1/models/{big}/versions/"), args.walk_budget
        ):
            out.append((f"REST versions list ({big}), {page}", url, False))
        search = "/api/2.0/mlflow/model-versions/search?" + urlencode(
            {"filter": f"name='{big}'", "max_results": 100}
        )
        for page, url in mlflow_pages(client, client.url(search), args.walk_budget):
            out.append((f"MLflow model-versions/search ({big}), {page}", url, False))
        out.append((f"dashboard model page ({big})", f"/models/{big}/", True))
    else:
        print("no big model in this database: its calls are left out", flush=True)
    print(f"pages found in {time.monotonic() - started:.0f} s", flush=True)
    return out


def select(plan: list[tuple[str, str, bool]], only: list[str] | None) -> list:
    """The calls of `plan` whose name contains one of `only` (any case); all without it."""
    if not only:
        return plan
    chosen = [call for call in plan if any(o.lower() in call[0].lower() for o in only)]
    if not chosen:
        names = "\n  ".join(name for name, _path, _web in plan)
        raise SystemExit(f"--only {only} matches none of the calls:\n  {names}")
    return chosen


def machine() -> dict:
    info = {"nproc": os.cpu_count(), "python": platform.python_version()}
    with contextlib.suppress(OSError, ValueError):
        meminfo = Path("/proc/meminfo").read_text()
        info["memory_gib"] = round(int(re.search(r"MemTotal:\s+(\d+)", meminfo)[1]) / 2**20, 1)
    with contextlib.suppress(OSError):
        info["load_average"] = "/".join(f"{x:.1f}" for x in os.getloadavg())
    return info


def markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        f"One client, kept-alive connections, up to {meta['requests']} requests or "
        f"{meta['budget']:g} s per call after one untimed request; client timeout "
        f"{meta['timeout']:g} s, gunicorn 2 sync workers with a {meta['gunicorn_timeout']} s "
        f"worker timeout. Load average before: {meta['load_before']}, after: {meta['load_after']}.",
        "",
        "| call | requests | p50 ms | p95 ms | max ms | statuses |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        statuses = ", ".join(f"{k} × {v}" for k, v in row["statuses"].items())
        lines.append(
            f"| {row['call']} | {row['requests']} | {row['p50_ms']} | {row['p95_ms']} | "
            f"{row['max_ms']} | {statuses} |"
        )
    return "\n".join(lines) + "\n"


def measure(args, workdir: Path) -> dict:
    for name, cap in (
        ("requests", MAX_REQUESTS),
        ("budget", MAX_BUDGET),
        ("walk_budget", MAX_BUDGET),
        ("timeout", 120),
    ):
        value = getattr(args, name)
        if not 0 < value <= cap:
            raise SystemExit(f"--{name.replace('_', '-')} must be > 0 and at most {cap:g}")
    if not 1024 <= args.port <= 65535:
        raise SystemExit("--port must be 1024–65535")
    check_database_url(args.database_url)
    env = registry_env(args.database_url, workdir)
    meta = {
        "database_url": args.database_url,
        "requests": args.requests,
        "budget": args.budget,
        "timeout": args.timeout,
        "gunicorn_timeout": args.gunicorn_timeout,
        "machine": machine(),
        "load_before": machine().get("load_average", "?"),
    }
    manage(env, "collectstatic", "--noinput")
    with gunicorn(env, args.port, workdir / "gunicorn.log", args.gunicorn_timeout) as url:
        client = Client(url, args.timeout)
        client.login("scale_viewer")
        print("finding the pages to time …", flush=True)
        plan = select(calls(client, args), args.only)
        if any(web for _name, _path, web in plan):
            client.login_web("scale_viewer")
        print(f"timing {len(plan)} calls:", flush=True)
        rows = [time_call(client, name, path, web=web, args=args) for name, path, web in plan]
    meta["load_after"] = machine().get("load_average", "?")
    log = (workdir / "gunicorn.log").read_text(errors="replace")
    meta["gunicorn_worker_timeouts"] = log.count("WORKER TIMEOUT")
    if meta["gunicorn_worker_timeouts"]:
        print(
            f"gunicorn killed {meta['gunicorn_worker_timeouts']} workers for overrunning",
            flush=True,
        )
    return {"meta": meta, "results": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    load_p = sub.add_parser("load", help="make and fill the database")
    measure_p = sub.add_parser("measure", help="time the reads (loads first unless --reuse)")
    for p in (load_p, measure_p):
        p.add_argument(
            "--database-url",
            default=DEFAULT_DATABASE_URL,
            help="postgres://… on 127.0.0.1 (name bench…) or sqlite:////path/bench….sqlite3",
        )
        p.add_argument(
            "--models", type=int, default=1000, help="models of --versions versions (1000)"
        )
        p.add_argument("--versions", type=int, default=1000, help="versions of each model (1000)")
        p.add_argument(
            "--big",
            type=int,
            default=100_000,
            help="versions of the one big model (100000; 0: none)",
        )
        p.add_argument("--json", type=Path, help="write the summary or results as JSON here")
    measure_p.add_argument(
        "--reuse", action="store_true", help="measure the database as loaded before"
    )
    measure_p.add_argument("--port", type=int, default=8191)
    measure_p.add_argument("--requests", type=int, default=30, help="timed requests per call (30)")
    measure_p.add_argument("--budget", type=float, default=60, help="seconds per call at most (60)")
    measure_p.add_argument(
        "--walk-budget", type=float, default=300, help="seconds per walk along next links (300)"
    )
    measure_p.add_argument(
        "--timeout", type=float, default=40, help="client timeout per request (40 s)"
    )
    measure_p.add_argument(
        "--gunicorn-timeout",
        type=int,
        default=30,
        help="gunicorn's worker timeout (30 s, its default)",
    )
    measure_p.add_argument(
        "--max-failures",
        type=int,
        default=2,
        help="timeouts or dropped connections before a call is given up (2)",
    )
    measure_p.add_argument(
        "--search-index", type=int, default=500, help="the model whose name is searched for"
    )
    measure_p.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="time only the calls whose name contains TEXT (any case; repeat for more); "
        "the pages to time are found as without it",
    )
    measure_p.add_argument("--markdown", type=Path, help="write the results table here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        workdir = Path(tmp)
        if args.step == "load":
            summary = load(args, workdir)
            if args.json:
                args.json.write_text(json.dumps(summary, indent=2, default=str))
            return 0
        if not args.reuse:
            load(args, workdir)
        out = measure(args, workdir)
    table = markdown(out["results"], out["meta"])
    print()
    print(table)
    if args.markdown:
        args.markdown.write_text(table)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
