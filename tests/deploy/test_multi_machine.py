"""The deployment of docs/deployment.md for teams that outgrow one machine, started on
this machine and driven over HTTP only.

Started as an operator would start them, with the production settings (DEBUG off):

- an S3-compatible object store: moto's server mode on a free port, with a bucket;
- a PostgreSQL database of this test's own, created here, migrated once with
  `manage.py migrate` and dropped at the end (whatever database the suite runs on);
- Redis at 127.0.0.1:6379 for the shared cache and the sign-in limits, in a database
  number of this test's own, flushed at the end;
- two app servers ("machines" A and B): `gunicorn registry_site.wsgi`, each on its own
  port, behind no real proxy: the test sends `X-Forwarded-Proto: https` as the TLS proxy
  would, so the servers run with `SECURE_PROXY_SSL_HEADER` and keep every HTTPS default;
- two webhook workers (`manage.py run_worker`) and a webhook receiver in this process.

Users and tokens come from a `manage.py shell` seed, as an operator would make them. A
version's artifact uploaded through A is downloaded through B and found in the bucket;
the version is made promotable (card, review by a second user) and promoted through the
API; the receiver gets the promotion exactly once although two workers poll the outbox.

Each app server is probed as a load balancer and Prometheus would, before, during and
after: `/healthz`, `/readyz` (every check ok, or skipped while no webhook subscription
needs a worker; the two workers' heartbeats make it ok once one does) and `/metrics`,
which parses as the Prometheus text format. The counters show each event on the server
that handled it (the approval on A, the promotion on B); the gauges, read from the shared
database, agree on both (the production version while there is one, then none, and an
empty outbox).
Every process is stopped, the database dropped and the Redis database flushed by the
fixture's finalizer, whatever happens.

PostgreSQL and Redis are required: without them the test fails and says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import psycopg
import pytest
import redis
import requests
from moto.server import ThreadedMotoServer
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql

from tests.factories import FULL_CARD
from tests.waiting import wait_until
from tests.webhooks.conftest import Receiver
from webhooks_app.signing import EVENT_HEADER, SIGNATURE_HEADER, verify_signature

pytestmark = pytest.mark.slow  # starts servers, workers and manage.py processes

ROOT = Path(__file__).resolve().parents[2]

POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432"
REDIS_SERVER = "redis://127.0.0.1:6379"
# Redis database numbers this test may take, the first one that is empty; two test runs
# side by side (CI runs two legs at once) each take another one.
REDIS_DATABASES = range(15, 7, -1)
REDIS_CLAIM_KEY = "registry-deploy-test:claimed-by"

BUCKET = "registry-artifacts"
PREFIX = "registry"
S3_REGION = "us-east-1"
S3_KEYS = {"aws_access_key_id": "deploy-test", "aws_secret_access_key": "deploy-test-secret"}

# Generous limits for a loaded two-core machine: each is how long something may take at
# worst, not how long it usually takes.
START_TIMEOUT = 90
REQUEST_TIMEOUT = 30
STOP_TIMEOUT = 20

# Users, their role groups, the team and the tokens, as an operator would make them in a
# `manage.py shell` (docs/deployment.md, "Users, roles and teams"). The reviewer gets a
# password and signs in over HTTP; the others get tokens here. Prints the tokens as JSON.
SEED = """
import json, os
from django.contrib.auth.models import Group, User
from models_app import accounts, services
from models_app.enums import Role

admin = User.objects.create_superuser("ops_admin", email="ops@example.com")
team = services.team_create(actor=admin, name="Fraud", slug="fraud")
tokens = {"admin": accounts.api_token_create(actor=admin, user=admin)[1]}
for username, role in (
    ("author", Role.CONTRIBUTOR),
    ("reviewer", Role.REVIEWER),
    ("release", Role.RELEASE_MANAGER),
):
    password = os.environ["SEED_REVIEWER_PASSWORD"] if username == "reviewer" else None
    user = User.objects.create_user(username, password=password)
    user.groups.add(Group.objects.get(name=role.value))
    if role == Role.CONTRIBUTOR:
        services.team_member_add(actor=admin, team=team, user=user)
    if password is None:
        tokens[username] = accounts.api_token_create(actor=admin, user=user)[1]

# The artifact storage these settings made (a download is copied from the bucket to a
# temporary file: at most max_memory_size bytes of it in memory).
from django.core.files.storage import default_storage
storage = {
    "backend": default_storage.__class__.__name__,
    "max_memory_size": default_storage.max_memory_size,
}
print(json.dumps({"tokens": tokens, "storage": storage}))
"""


# --- The pieces of the deployment ----------------------------------------------------------


def _fail_unreachable(what: str, url: str, exc: Exception) -> None:
    pytest.fail(
        f"The multi-machine deployment test needs {what} at {url}: "
        f"{str(exc).strip().rstrip('.')}. CI always "
        f"starts it; elsewhere start it (see README.md) or leave this test out with "
        f"--deselect tests/deploy/test_multi_machine.py.",
        pytrace=False,
    )


@contextlib.contextmanager
def postgres_database():
    """A fresh, uniquely named PostgreSQL database; dropped on leaving."""
    name = f"registry_deploy_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        _fail_unreachable("PostgreSQL", POSTGRES_SERVER, exc)
    with admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield f"{POSTGRES_SERVER}/{name}"
        finally:
            # Every process that used it is stopped by now; FORCE also ends a connection a
            # killed process may have left behind.
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextlib.contextmanager
def redis_database():
    """The URL of an empty Redis database number taken for this test; flushed on leaving."""
    marker = uuid.uuid4().hex
    try:
        redis.Redis.from_url(f"{REDIS_SERVER}/0", socket_timeout=10).ping()
    except redis.RedisError as exc:
        _fail_unreachable("Redis", REDIS_SERVER, exc)
    for number in REDIS_DATABASES:
        client = redis.Redis.from_url(f"{REDIS_SERVER}/{number}", socket_timeout=10)
        # Claimed atomically (two runs side by side), and used only if nothing else is in it.
        if not client.set(REDIS_CLAIM_KEY, marker, nx=True, ex=3600):
            continue
        if client.dbsize() != 1:
            client.delete(REDIS_CLAIM_KEY)
            continue
        try:
            yield f"{REDIS_SERVER}/{number}"
        finally:
            client.flushdb()
        return
    pytest.fail(f"No empty Redis database among {list(REDIS_DATABASES)} at {REDIS_SERVER}.")


@contextlib.contextmanager
def s3_server():
    """moto's S3-compatible server on a free loopback port, with the registry's bucket."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        s3_client(endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.stop()


def s3_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name=S3_REGION, **S3_KEYS)


@contextlib.contextmanager
def webhook_receiver():
    receiver = Receiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@dataclass
class Process:
    """A process of the deployment, its output in a log file."""

    name: str
    popen: subprocess.Popen
    log: Path

    def tail(self, chars: int = 3000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} ({self.log}) ---\n{text[-chars:]}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        """SIGTERM (gunicorn and the worker stop gracefully on it), then SIGKILL."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=STOP_TIMEOUT)


@dataclass
class Deployment:
    workdir: Path
    env: dict
    s3_endpoint: str
    receiver: Receiver
    stack: contextlib.ExitStack
    processes: list[Process] = field(default_factory=list)
    app_urls: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    storage: dict = field(default_factory=dict)
    reviewer_password: str = ""

    def logs(self) -> str:
        return "\n".join(process.tail() for process in self.processes)

    def manage(self, *args: str, env: dict | None = None) -> str:
        """Run one manage.py command to its end; its output, or a failure with it."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT * 2,
        )
        assert result.returncode == 0, (
            f"manage.py {args[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
        return result.stdout

    def start(self, name: str, *args: str, env: dict | None = None) -> Process:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, *args],
                cwd=ROOT,
                env={**self.env, **(env or {})},
                stdout=out,
                stderr=out,
            )
        process = Process(name, popen, log)
        self.processes.append(process)
        self.stack.callback(process.stop)
        return process

    def start_app(self, name: str) -> Process:
        """`gunicorn registry_site.wsgi` on a free port the server picks itself.

        Each app server has a runtime directory of its own, as it would on its own
        machine: recent gunicorn releases open a control socket there (else under
        ~/.gunicorn/), and two servers sharing one would take it from each other."""
        runtime = self.workdir / f"{name}-run"
        runtime.mkdir(mode=0o700)
        return self.start(
            name,
            "-m",
            "gunicorn",
            "registry_site.wsgi",
            "--workers",
            "1",
            "--bind",
            "127.0.0.1:0",
            "--timeout",
            "120",
            "--access-logfile",
            "-",
            env={"XDG_RUNTIME_DIR": str(runtime)},
        )

    def wait_for_app(self, process: Process) -> str:
        """The app's URL, once gunicorn listens and /healthz answers."""
        found: list[str] = []

        def listening() -> bool:
            if not process.alive():
                raise AssertionError(f"{process.name} exited:\n{process.tail()}")
            match = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", process.tail(100_000))
            if match:
                found.append(match.group(1))
            return bool(found)

        wait_until(listening, timeout=START_TIMEOUT, interval=0.1, message=process.tail)
        url = found[0]

        def healthy() -> bool:
            if not process.alive():
                raise AssertionError(f"{process.name} exited:\n{process.tail()}")
            try:
                return requests.get(f"{url}/healthz", timeout=REQUEST_TIMEOUT).status_code == 200
            except requests.RequestException:  # still booting its worker
                return False

        wait_until(healthy, timeout=START_TIMEOUT, interval=0.1, message=process.tail)
        self.app_urls[process.name] = url
        return url


def production_env(*, workdir: Path, database_url: str, redis_url: str, s3_endpoint: str):
    """The environment of every process: production settings (DEBUG off), nothing of
    pytest's own environment (its settings module, a DATABASE_URL, AWS credentials)."""
    var_dir = workdir / "var"
    # Static files are not served in this test (no collectstatic): an empty directory.
    (workdir / "static").mkdir()
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(workdir)),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "DJANGO_SETTINGS_MODULE": "registry_site.settings",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1",
        # The test plays the TLS proxy: it sends X-Forwarded-Proto: https on every request
        # but the health checks, so the HTTPS redirect and secure cookies stay on.
        "SECURE_PROXY_SSL_HEADER": "1",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REGISTRY_VAR_DIR": str(var_dir),
        "STATIC_ROOT": str(workdir / "static"),
        "REGISTRY_S3_BUCKET": BUCKET,
        "REGISTRY_S3_PREFIX": PREFIX,
        "REGISTRY_S3_ENDPOINT_URL": s3_endpoint,
        "REGISTRY_S3_REGION": S3_REGION,
        "REGISTRY_S3_ACCESS_KEY_ID": S3_KEYS["aws_access_key_id"],
        "REGISTRY_S3_SECRET_ACCESS_KEY": S3_KEYS["aws_secret_access_key"],
        "AWS_EC2_METADATA_DISABLED": "true",
        # The receiver listens on loopback.
        "REGISTRY_WEBHOOK_ALLOW_PRIVATE": "1",
        "REGISTRY_WEBHOOK_TIMEOUT": "10",
    }


@pytest.fixture
def deployment(tmp_path):
    """Everything started; stopped in reverse order by the finalizer whatever happens."""
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(postgres_database())
        redis_url = stack.enter_context(redis_database())
        s3_endpoint = stack.enter_context(s3_server())
        receiver = stack.enter_context(webhook_receiver())
        env = production_env(
            workdir=tmp_path,
            database_url=database_url,
            redis_url=redis_url,
            s3_endpoint=s3_endpoint,
        )
        deployment = Deployment(tmp_path, env, s3_endpoint, receiver, stack)
        # Once per release, before the app processes start (docs/deployment.md).
        deployment.manage("migrate", "--noinput")
        app_a = deployment.start_app("app-a")
        app_b = deployment.start_app("app-b")
        for name in ("worker-1", "worker-2"):
            deployment.start(name, "manage.py", "run_worker", "--interval", "0.2")
        # The seed runs while the servers and workers start.
        password = secrets.token_urlsafe(24)
        seeded = deployment.manage("shell", "-c", SEED, env={"SEED_REVIEWER_PASSWORD": password})
        seed = json.loads(seeded.strip().splitlines()[-1])
        deployment.tokens, deployment.storage = seed["tokens"], seed["storage"]
        deployment.reviewer_password = password
        deployment.wait_for_app(app_a)
        deployment.wait_for_app(app_b)
        yield deployment


# --- Talking to it ---------------------------------------------------------------------------


class Client:
    """HTTP to one app server, as it arrives from the TLS proxy."""

    def __init__(self, deployment: Deployment, name: str):
        self.deployment = deployment
        self.name = name
        self.url = deployment.app_urls[name]

    def call(self, method: str, path: str, *, token: str | None = None, expect: int, **kwargs):
        headers = {"X-Forwarded-Proto": "https", **kwargs.pop("headers", {})}
        if token is not None:
            headers["Authorization"] = f"Token {token}"
        response = requests.request(
            method,
            self.url + path,
            headers=headers,
            timeout=REQUEST_TIMEOUT,
            allow_redirects=False,
            **kwargs,
        )
        assert response.status_code == expect, (
            f"{method} {path} on {self.name}: {response.status_code}, not {expect}: "
            f"{response.text[:2000]}\n{self.deployment.logs()}"
        )
        return response


@dataclass
class Probes:
    """What one app server answered to its probes."""

    readiness: dict[str, str]  # each /readyz check's state, by name
    samples: list  # every sample of /metrics, parsed (prometheus_client's Sample)

    def value(self, name: str, **labels: str) -> float:
        """The value of the sample `name` with exactly these labels (0 when absent)."""
        found = [s.value for s in self.samples if s.name == name and s.labels == labels]
        assert len(found) <= 1, (name, labels, found)
        return found[0] if found else 0.0

    def production(self) -> dict[str, str]:
        """The production version of each model, as the info gauge names it."""
        return {
            s.labels["model"]: s.labels["version"]
            for s in self.samples
            if s.name == "registry_model_production_version_info" and s.value == 1
        }


def check_instance_probes(deployment: Deployment, name: str) -> Probes:
    """What a load balancer and a monitoring system ask one app server from inside the
    network, from loopback, with no credentials:

    - `GET /healthz` and `GET /readyz` over plain HTTP, without the proxy's headers (they
      are never redirected to HTTPS). /readyz is polled until it answers 200, as a load
      balancer would; then each check is "ok" (the database, its migrations, the Redis
      cache, the outbox backlog; the webhook worker too once a subscription needs one,
      since the two workers write heartbeats) or "skipped" (the webhook worker while no
      subscription is active), never "failing" or "unknown".
    - `GET /metrics` as Prometheus scrapes it, over HTTPS (here the test plays the TLS
      proxy); plain HTTP is redirected like any page but the health checks. Loopback is
      in REGISTRY_METRICS_ALLOW by default, so no token is needed. The answer must parse
      with prometheus_client's parser; its samples are returned for the caller to check.
    """
    url = deployment.app_urls[name]
    response = requests.get(f"{url}/healthz", timeout=REQUEST_TIMEOUT, allow_redirects=False)
    assert response.status_code == 200, f"/healthz on {name}: {response.status_code}"
    assert response.json() == {"status": "ok"}

    answers: list[requests.Response] = []

    def ready() -> bool:
        answer = requests.get(f"{url}/readyz", timeout=REQUEST_TIMEOUT, allow_redirects=False)
        answers.append(answer)
        return answer.status_code == 200

    wait_until(
        ready,
        timeout=START_TIMEOUT,
        interval=0.2,
        message=lambda: (
            f"/readyz on {name}: {answers[-1].status_code} {answers[-1].text}\n{deployment.logs()}"
        ),
    )
    body = answers[-1].json()
    readiness = {check: result["state"] for check, result in body["checks"].items()}
    assert body["status"] == "ready", body
    assert readiness == {
        "database": "ok",
        "migrations": "ok",
        "cache": "ok",
        "webhook_worker": readiness["webhook_worker"],
        "outbox_backlog": "ok",
    }, body
    assert readiness["webhook_worker"] in ("ok", "skipped"), body

    plain = requests.get(f"{url}/metrics", timeout=REQUEST_TIMEOUT, allow_redirects=False)
    assert plain.status_code == 301 and plain.headers["Location"].startswith("https://"), (
        f"/metrics over plain HTTP on {name}: {plain.status_code}"
    )
    scraped = requests.get(
        f"{url}/metrics",
        headers={"X-Forwarded-Proto": "https"},
        timeout=REQUEST_TIMEOUT,
        allow_redirects=False,
    )
    assert scraped.status_code == 200, f"/metrics on {name}: {scraped.status_code} {scraped.text}"
    assert scraped.headers["Content-Type"].startswith("text/plain"), scraped.headers
    families = list(text_string_to_metric_families(scraped.text))
    names = {family.name for family in families}
    assert {"registry_promotions", "registry_http_requests"} <= names, sorted(names)
    samples = [sample for family in families for sample in family.samples]
    return Probes(readiness=readiness, samples=samples)


def received(receiver: Receiver, event_type: str) -> list:
    return [item for item in receiver.arrived if item.headers.get(EVENT_HEADER) == event_type]


# --- The test --------------------------------------------------------------------------------


def test_two_app_servers_share_postgres_redis_and_s3(deployment):
    a, b = Client(deployment, "app-a"), Client(deployment, "app-b")
    tokens = deployment.tokens
    receiver = deployment.receiver
    for name in deployment.app_urls:
        probes = check_instance_probes(deployment, name)
        # No subscription yet: no webhook worker is needed, and nothing is in production.
        assert probes.readiness["webhook_worker"] == "skipped", name
        assert probes.production() == {}, name
        assert probes.value("registry_promotions_total", origin="local") == 0, name

    # The reviewer signs in through B (the sign-in limits' counters live in Redis).
    reviewer = b.call(
        "POST",
        "/api/v1/auth/token/",
        json={"username": "reviewer", "password": deployment.reviewer_password},
        expect=201,
    ).json()["token"]

    subscription = a.call(
        "POST",
        "/api/v1/webhooks/",
        token=tokens["admin"],
        json={"url": receiver.url, "event_types": ["version.promoted", "version.archived"]},
        expect=201,
    ).json()

    # Registered and uploaded through A.
    a.call(
        "POST",
        "/api/v1/models/",
        token=tokens["author"],
        json={"name": "fraud_detector", "team": "fraud"},
        expect=201,
    )
    version = "/api/v1/models/fraud_detector/versions/1.0.0/"
    a.call(
        "POST",
        "/api/v1/models/fraud_detector/versions/",
        token=tokens["author"],
        json={"version": "1.0.0", "metrics": {"accuracy": 0.95}},
        expect=201,
    )
    # Several streamed chunks of 1 MiB, and more than a download keeps in memory.
    artifact = os.urandom(3 * 1024 * 1024 + 17)
    digest = hashlib.sha256(artifact).hexdigest()
    stored = a.call(
        "PUT",
        version + "artifact/",
        token=tokens["author"],
        data=artifact,
        headers={"Content-Type": "application/octet-stream", "X-Checksum-SHA256": digest},
        expect=201,
    ).json()
    assert stored["artifact_stored"] is True
    assert (stored["artifact_sha256"], stored["artifact_size"]) == (digest, len(artifact))
    assert stored["artifact_uri"].startswith("registry:/artifacts/fraud_detector/1.0.0/")

    # Downloaded through B: the same bytes, and the registry's own checksum.
    download = b.call("GET", version + "artifact/", token=tokens["author"], expect=200)
    assert download.content == artifact
    assert hashlib.sha256(download.content).hexdigest() == digest
    assert download.headers["X-Checksum-SHA256"] == digest
    assert int(download.headers["Content-Length"]) == len(artifact)

    # The object is in the bucket, under the prefix, and nowhere on the local disk. A
    # download never holds more than Django's 2.5 MB in memory: the rest of the copy
    # from the bucket is on disk.
    assert deployment.storage == {"backend": "S3Storage", "max_memory_size": 2_621_440}
    key = f"{PREFIX}/{stored['artifact_uri'].removeprefix('registry:/')}"
    s3 = s3_client(deployment.s3_endpoint)
    listing = s3.list_objects_v2(Bucket=BUCKET)
    assert [item["Key"] for item in listing.get("Contents", [])] == [key]
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == artifact
    local = deployment.workdir / "var" / "artifacts"
    assert not local.exists() or not any(path.is_file() for path in local.rglob("*"))

    # Made promotable through the API: the author fills the card and asks for a review
    # through B, the reviewer approves the revision read through B, through A.
    b.call(
        "PUT", version + "card/", token=tokens["author"], json={"sections": FULL_CARD}, expect=200
    )
    b.call("POST", version + "request-review/", token=tokens["author"], json={}, expect=200)
    card = b.call("GET", version + "card/", token=reviewer, expect=200).json()
    a.call(
        "POST",
        version + "reviews/",
        token=reviewer,
        json={"decision": "approve", "revision_sha256": card["sha256"], "comment": "Sound."},
        expect=201,
    )
    checks = b.call("GET", version + "checks/", token=tokens["release"], expect=200).json()
    assert checks["ready"] is True, checks

    promoted = b.call(
        "POST",
        version + "promote/",
        token=tokens["release"],
        json={"reason": "First release"},
        expect=200,
    ).json()
    assert promoted["stage"] == "production"

    # Each counter is in the process that counted it: the approval on A, the promotion on
    # B. The gauges are read from the shared database: both name the production version.
    # The subscription needs a webhook worker, and the two workers' heartbeats say one runs.
    a_probes = check_instance_probes(deployment, "app-a")
    b_probes = check_instance_probes(deployment, "app-b")
    assert a_probes.value("registry_reviews_total", decision="approve") == 1
    assert b_probes.value("registry_reviews_total", decision="approve") == 0
    assert a_probes.value("registry_promotions_total", origin="local") == 0
    assert b_probes.value("registry_promotions_total", origin="local") == 1
    for probes in (a_probes, b_probes):
        assert probes.production() == {"fraud_detector": "1.0.0"}
        assert probes.readiness["webhook_worker"] == "ok"

    # The production answer is cached in Redis, shared by both servers: read through A,
    # archived through B, A answers the change at once.
    production = "/api/v1/models/fraud_detector/production/"
    assert (
        a.call("GET", production, token=tokens["author"], expect=200).json()["version"] == "1.0.0"
    )
    b.call(
        "POST", version + "archive/", token=tokens["release"], json={"reason": "Pause"}, expect=200
    )
    a.call("GET", production, token=tokens["author"], expect=404)

    # A token revoked through A is refused at once by B, which had it cached.
    a.call("DELETE", "/api/v1/auth/token/", token=reviewer, expect=204)
    b.call("GET", version + "card/", token=reviewer, expect=401)

    # Two workers poll the outbox; each event reaches the receiver once. The archive came
    # after the promotion: once its delivery is recorded, the promotion's is long done.
    deliveries_path = f"/api/v1/webhooks/{subscription['id']}/deliveries/"

    def deliveries() -> list[dict]:
        return a.call("GET", deliveries_path, token=tokens["admin"], expect=200).json()["results"]

    wait_until(
        lambda: [d["status"] for d in deliveries()] == ["succeeded", "succeeded"],
        timeout=START_TIMEOUT,
        interval=0.2,
        message=lambda: f"{json.dumps(deliveries(), indent=1)[:3000]}\n{deployment.logs()}",
    )
    for delivery in deliveries():
        assert delivery["attempts"] == 1, delivery
        assert len(delivery["attempt_log"]) == 1, delivery
    promotions = received(receiver, "version.promoted")
    assert len(promotions) == 1, [item.headers for item in receiver.arrived]
    assert len(received(receiver, "version.archived")) == 1
    assert len(receiver.arrived) == 2
    body = promotions[0]
    assert verify_signature(subscription["secret"], body.headers.get(SIGNATURE_HEADER), body.body)
    event = body.json
    assert (event["type"], event["model"]["name"], event["version"]["version"]) == (
        "version.promoted",
        "fraud_detector",
        "1.0.0",
    )
    assert event["to_stage"] == "production" and event["actor"] == "release"
    workers = [p for p in deployment.processes if p.name.startswith("worker-")]
    assert len(workers) == 2 and all(worker.alive() for worker in workers), deployment.logs()

    # Archived: neither server names a production version any more; the promotion is
    # still counted where it happened, and the outbox is empty.
    for name, promotions in (("app-a", 0), ("app-b", 1)):
        probes = check_instance_probes(deployment, name)
        assert probes.readiness["webhook_worker"] == "ok", name
        assert probes.production() == {}, name
        assert probes.value("registry_promotions_total", origin="local") == promotions, name
        assert probes.value("registry_webhook_outbox_backlog") == 0, name
