"""Password guessing is limited at every door that checks a password.

The dashboard's and the admin's sign-in forms, POST /api/v1/auth/token/ and MLflow basic
authentication (under /api/ and /ajax-api/) all refuse a (username, client address) pair
after AXES_FAILURE_LIMIT failures, even with the right password, for AXES_COOLOFF_TIME.
Other addresses are not locked; X-Forwarded-For is believed only from a trusted proxy; the
counters are shared by every process, in the database or in Redis.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from axes.models import AccessAttempt
from django.core.management import call_command
from django.db import connection
from django.db.models import F
from django.test import Client, RequestFactory
from knox.models import AuthToken

from registry_site.logins import client_ip

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "pw"  # tests.factories.UserFactory's password
LIMIT = 3
HOME = "203.0.113.10"
ELSEWHERE = "198.51.100.20"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    settings.REGISTRY_TRUSTED_PROXIES = []


# --- The doors ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Door:
    name: str
    success: int
    failure: int

    def attempt(self, username: str, password: str, ip: str, forwarded: str | None = None):
        headers = {"REMOTE_ADDR": ip}
        if forwarded is not None:
            headers["HTTP_X_FORWARDED_FOR"] = forwarded
        client = Client()
        credentials = {"username": username, "password": password}
        if self.name == "dashboard":
            return client.post("/accounts/login/", credentials, **headers)
        if self.name == "admin":
            return client.post("/admin/login/", {**credentials, "next": "/admin/"}, **headers)
        if self.name == "token":
            return client.post(
                "/api/v1/auth/token/", credentials, content_type="application/json", **headers
            )
        prefix = "ajax-api" if self.name == "mlflow-ajax" else "api"
        basic = base64.b64encode(f"{username}:{password}".encode()).decode()
        return client.get(
            f"/{prefix}/2.0/mlflow/registered-models/search",
            HTTP_AUTHORIZATION=f"Basic {basic}",
            **headers,
        )

    def assert_locked(self, response) -> None:
        assert response.status_code == 429, (self.name, response.status_code)
        assert int(response["Retry-After"]) == 15 * 60
        if self.name in ("dashboard", "admin"):
            page = response.content.decode()
            assert "Sign-in locked for now" in page
            assert "Try again in 15 minutes" in page
            assert "ask a registry administrator to unlock" in page
        elif self.name == "token":
            error = response.json()["error"]
            assert error["code"] == "locked_out"
            assert "up to 15 minutes" in error["message"]
            assert error["details"] == {"retry_after": 900, "failure_limit": LIMIT}
        else:
            body = response.json()
            assert body["error_code"] == "RESOURCE_EXHAUSTED"
            assert "up to 15 minutes" in body["message"]


DOORS = [
    Door("dashboard", success=302, failure=200),
    Door("admin", success=302, failure=200),
    Door("token", success=201, failure=401),
    Door("mlflow", success=200, failure=401),
    Door("mlflow-ajax", success=200, failure=401),
]


@pytest.fixture(params=DOORS, ids=lambda door: door.name)
def door(request):
    return request.param


@pytest.fixture
def user(people):
    return people.admin  # staff, so the admin's sign-in accepts it too


def fail_until_locked(door, username, ip, forwarded=None):
    """LIMIT wrong passwords: the last one already answers 429."""
    for _ in range(LIMIT - 1):
        assert door.attempt(username, "wrong", ip, forwarded).status_code == door.failure
    door.assert_locked(door.attempt(username, "wrong", ip, forwarded))


# --- Each door ---------------------------------------------------------------------------


def test_right_password_is_refused_after_the_limit(door, user):
    name = user.get_username()
    assert door.attempt(name, PASSWORD, HOME).status_code == door.success
    fail_until_locked(door, name, HOME)
    door.assert_locked(door.attempt(name, PASSWORD, HOME))
    door.assert_locked(door.attempt(name, PASSWORD, HOME))
    # Nobody elsewhere is locked out: the same account from another address gets in.
    assert door.attempt(name, PASSWORD, ELSEWHERE).status_code == door.success


def test_the_lock_ends_after_the_lockout_time(door, user):
    name = user.get_username()
    fail_until_locked(door, name, HOME)
    # Attempts during the lock are refused without extending it.
    door.assert_locked(door.attempt(name, "wrong", HOME))
    door.assert_locked(door.attempt(name, PASSWORD, HOME))
    assert AccessAttempt.objects.get().failures_since_start == LIMIT
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=16))
    assert door.attempt(name, PASSWORD, HOME).status_code == door.success


def test_forged_forwarded_for_does_not_get_around_the_limit(door, user):
    name = user.get_username()
    for n in range(LIMIT - 1):
        response = door.attempt(name, "wrong", HOME, forwarded=f"192.0.2.{n}")
        assert response.status_code == door.failure
    door.assert_locked(door.attempt(name, "wrong", HOME, forwarded="192.0.2.99"))
    door.assert_locked(door.attempt(name, PASSWORD, HOME, forwarded=ELSEWHERE))
    door.assert_locked(door.attempt(name, PASSWORD, HOME))


def test_behind_a_trusted_proxy_the_forwarded_address_counts(door, user, settings):
    settings.REGISTRY_TRUSTED_PROXIES = ["10.0.0.0/8"]
    name = user.get_username()
    fail_until_locked(door, name, "10.0.0.1", forwarded=HOME)
    # The same client through another of the proxies is still locked, and so is the client
    # adding its own X-Forwarded-For entry (the proxy appends the address it saw).
    door.assert_locked(door.attempt(name, PASSWORD, "10.0.0.2", forwarded=HOME))
    door.assert_locked(door.attempt(name, PASSWORD, "10.0.0.2", forwarded=f"{ELSEWHERE}, {HOME}"))
    # Another client behind the same proxy is not.
    assert door.attempt(name, PASSWORD, "10.0.0.1", forwarded=ELSEWHERE).status_code == (
        door.success
    )


def test_a_success_does_not_reset_another_address_counter(door, user):
    name = user.get_username()
    for _ in range(LIMIT - 1):
        assert door.attempt(name, "wrong", HOME).status_code == door.failure
    assert door.attempt(name, PASSWORD, ELSEWHERE).status_code == door.success
    door.assert_locked(door.attempt(name, "wrong", HOME))
    door.assert_locked(door.attempt(name, PASSWORD, HOME))


def test_one_user_locked_does_not_lock_another_from_the_same_address(door, user, people):
    fail_until_locked(door, "nobody-at-all", HOME)
    assert door.attempt(user.get_username(), PASSWORD, HOME).status_code == door.success


def test_ipv6_addresses_of_one_network_share_a_counter(door, user):
    name = user.get_username()
    for n in range(1, LIMIT):
        assert door.attempt(name, "wrong", f"2001:db8:1:2::{n}").status_code == door.failure
    door.assert_locked(door.attempt(name, "wrong", "2001:db8:1:2:ffff::1"))
    door.assert_locked(door.attempt(name, PASSWORD, "2001:db8:1:2:abcd::9"))
    assert door.attempt(name, PASSWORD, "2001:db8:1:3::1").status_code == door.success


# --- What is not counted -----------------------------------------------------------------


def test_api_tokens_are_not_passwords_and_are_not_counted(user):
    token_door = DOORS[2]
    _instance, token = AuthToken.objects.create(user=user)
    # Many wrong tokens lock nothing.
    for _ in range(LIMIT + 2):
        response = Client().get(
            "/api/v1/models/", HTTP_AUTHORIZATION="Token nope", REMOTE_ADDR=HOME
        )
        assert response.status_code == 401
        response = Client().get(
            "/api/2.0/mlflow/registered-models/search",
            HTTP_AUTHORIZATION="Bearer nope",
            REMOTE_ADDR=HOME,
        )
        assert response.status_code == 401
    assert not AccessAttempt.objects.exists()
    assert token_door.attempt(user.get_username(), PASSWORD, HOME).status_code == 201
    # A locked password does not stop a valid token.
    fail_until_locked(token_door, user.get_username(), HOME)
    ok = Client().get("/api/v1/models/", HTTP_AUTHORIZATION=f"Token {token}", REMOTE_ADDR=HOME)
    assert ok.status_code == 200
    ok = Client().get(
        "/api/2.0/mlflow/registered-models/search",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        REMOTE_ADDR=HOME,
    )
    assert ok.status_code == 200


def test_junk_usernames_are_counted_without_errors(user):
    mlflow = DOORS[3]
    for name in ("x" * 1000, ""):
        for _ in range(LIMIT - 1):
            assert mlflow.attempt(name, "wrong", HOME).status_code == 401
        mlflow.assert_locked(mlflow.attempt(name, "wrong", HOME))
    # A username with NUL cannot exist: refused before any password check, never a 500.
    for _ in range(LIMIT + 1):
        response = mlflow.attempt("\x00" + user.get_username(), PASSWORD, HOME)
        assert response.status_code == 401
        assert response.json()["error_code"] == "UNAUTHENTICATED"


# --- Unlocking ---------------------------------------------------------------------------


def test_an_admin_unlocks_with_the_management_command(user):
    token_door = DOORS[2]
    fail_until_locked(token_door, user.get_username(), HOME)
    call_command("axes_reset_ip_username", HOME, user.get_username(), verbosity=0)
    assert token_door.attempt(user.get_username(), PASSWORD, HOME).status_code == 201


def test_an_admin_unlocks_in_the_admin(user):
    token_door = DOORS[2]
    fail_until_locked(token_door, user.get_username(), HOME)
    attempt = AccessAttempt.objects.get(username=user.get_username())
    admin = Client()
    admin.force_login(user)
    page = admin.get("/admin/axes/accessattempt/")
    assert page.status_code == 200
    assert user.get_username().encode() in page.content
    response = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert token_door.attempt(user.get_username(), PASSWORD, HOME).status_code == 201


# --- The client address ------------------------------------------------------------------


def _ip(settings, remote, forwarded=None, proxies=()):
    settings.REGISTRY_TRUSTED_PROXIES = list(proxies)
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_ip(RequestFactory().get("/", **meta))


def test_client_address_without_trusted_proxies_is_remote_addr(settings):
    assert _ip(settings, HOME) == HOME
    assert _ip(settings, HOME, forwarded="192.0.2.1") == HOME
    assert _ip(settings, "::ffff:203.0.113.10") == HOME


def test_client_address_behind_trusted_proxies(settings):
    proxies = ["10.0.0.0/8", "172.16.0.1"]
    # The right-most address that is not a trusted proxy.
    assert _ip(settings, "10.0.0.1", "192.0.2.1, 203.0.113.10", proxies) == HOME
    assert _ip(settings, "10.0.0.1", "192.0.2.1, 203.0.113.10, 172.16.0.1", proxies) == HOME
    # A request from an address that is not a proxy: its header is not believed.
    assert _ip(settings, ELSEWHERE, "203.0.113.10", proxies) == ELSEWHERE
    # No header, or junk where a proxy's entry should be: the nearest address vouched for.
    assert _ip(settings, "10.0.0.1", None, proxies) == "10.0.0.1"
    assert _ip(settings, "10.0.0.1", "junk, 172.16.0.1", proxies) == "172.16.0.1"
    assert _ip(settings, "10.0.0.1", "", proxies) == "10.0.0.1"
    # IPv6 clients are counted per /64.
    assert _ip(settings, "10.0.0.1", "2001:db8::1:2:3:4", proxies) == "2001:db8::"


# --- Counters shared by every process ----------------------------------------------------

CHILD = """
import json, sys
import django
from django.test.utils import override_settings

config = json.loads(sys.argv[1])
django.setup()
from django.contrib.auth import authenticate
from django.test import RequestFactory

with override_settings(**config["settings"]):
    for _ in range(config["failures"]):
        request = RequestFactory().post("/api/v1/auth/token/", REMOTE_ADDR=config["ip"])
        assert authenticate(request, username=config["username"], password="wrong") is None
print("counted")
"""


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def fail_in_another_process(username: str, ip: str, settings: dict) -> None:
    """LIMIT wrong passwords for `username` from `ip`, checked by a separate Python process."""
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    env.update(DJANGO_SETTINGS_MODULE="registry_site.test_settings", DATABASE_URL=_database_url())
    config = {"settings": settings, "failures": LIMIT, "username": username, "ip": ip}
    result = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(config)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("counted")


@pytest.fixture
def redis_counters(settings):
    """The counters in Redis (as with REDIS_URL), under a key prefix of this test's own."""
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    server = redis.Redis.from_url(url)
    try:
        server.ping()
    except redis.RedisError as exc:
        # As with the browser tests: skipped (and said) on a machine without Redis, a
        # failure in CI, which must run them.
        reason = (
            f"These tests need a Redis server at {url} (apt-get install redis-server, or set "
            f"REDIS_URL): {exc}"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    prefix = f"test-logins-{uuid.uuid4().hex}"
    caches = {
        **settings.CACHES,
        "axes": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": prefix,
        },
    }
    overrides = {
        "CACHES": caches,
        "AXES_CACHE": "axes",
        "AXES_HANDLER": "axes.handlers.cache.AxesCacheHandler",
    }
    for name, value in overrides.items():  # the handler last: it opens the cache
        setattr(settings, name, value)
    yield overrides
    keys = list(server.scan_iter(f"{prefix}:*"))
    if keys:
        server.delete(*keys)


@pytest.mark.slow  # counts in a subprocess
@pytest.mark.django_db(transaction=True)
def test_counters_are_shared_across_processes_in_the_database(people):
    token_door = DOORS[2]
    name = people.admin.get_username()
    fail_in_another_process(name, HOME, {})
    assert AccessAttempt.objects.get(username=name).failures_since_start == LIMIT
    token_door.assert_locked(token_door.attempt(name, PASSWORD, HOME))
    assert token_door.attempt(name, PASSWORD, ELSEWHERE).status_code == 201


@pytest.mark.slow  # counts in a subprocess
@pytest.mark.django_db(transaction=True)
def test_counters_are_shared_across_processes_in_redis(people, redis_counters):
    token_door = DOORS[2]
    name = people.admin.get_username()
    fail_in_another_process(name, HOME, redis_counters)
    assert not AccessAttempt.objects.exists()  # counted in Redis, not in the database
    token_door.assert_locked(token_door.attempt(name, PASSWORD, HOME))
    assert token_door.attempt(name, PASSWORD, ELSEWHERE).status_code == 201


def test_every_door_is_limited_with_redis(user, redis_counters):
    name = user.get_username()
    for door in DOORS:
        ip = f"203.0.113.{DOORS.index(door) + 50}"
        fail_until_locked(door, name, ip)
        door.assert_locked(door.attempt(name, PASSWORD, ip))
        assert door.attempt(name, PASSWORD, ELSEWHERE).status_code == door.success
    assert not AccessAttempt.objects.exists()
    call_command("axes_reset_ip_username", "203.0.113.52", name, verbosity=0)
    assert DOORS[2].attempt(name, PASSWORD, "203.0.113.52").status_code == 201


# --- Settings ----------------------------------------------------------------------------


def _settings_in_fresh_process(**env_vars) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("REGISTRY_") and key != "REDIS_URL"
    }
    env.update(DEBUG="1", **env_vars)
    code = (
        "import json; from registry_site import settings as s; print(json.dumps({"
        "'limit': s.AXES_FAILURE_LIMIT, 'minutes': s.AXES_COOLOFF_TIME.total_seconds() / 60,"
        "'handler': s.AXES_HANDLER, 'proxies': s.REGISTRY_TRUSTED_PROXIES,"
        "'num_proxies': s.REST_FRAMEWORK['NUM_PROXIES'],"
        "'cache': s.CACHES.get('axes', {}).get('BACKEND')}))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )


@pytest.mark.slow  # settings read in a subprocess
def test_limits_come_from_the_environment():
    default = json.loads(_settings_in_fresh_process().stdout)
    assert default == {
        "limit": 5,
        "minutes": 15,
        "handler": "axes.handlers.database.AxesDatabaseHandler",
        "proxies": [],
        "num_proxies": 0,
        "cache": None,
    }
    configured = json.loads(
        _settings_in_fresh_process(
            REGISTRY_LOGIN_MAX_FAILURES="10",
            REGISTRY_LOGIN_LOCKOUT_MINUTES="60",
            REGISTRY_TRUSTED_PROXIES="10.0.0.0/8, 192.0.2.7",
            REDIS_URL="redis://127.0.0.1:6379/0",
        ).stdout
    )
    assert configured == {
        "limit": 10,
        "minutes": 60,
        "handler": "axes.handlers.cache.AxesCacheHandler",
        "proxies": ["10.0.0.0/8", "192.0.2.7"],
        "num_proxies": 1,
        "cache": "django.core.cache.backends.redis.RedisCache",
    }


@pytest.mark.slow  # settings read in a subprocess
@pytest.mark.parametrize(
    "variable, value",
    [
        ("REGISTRY_LOGIN_MAX_FAILURES", "0"),
        ("REGISTRY_LOGIN_MAX_FAILURES", "many"),
        ("REGISTRY_LOGIN_LOCKOUT_MINUTES", "-5"),
        ("REGISTRY_TRUSTED_PROXIES", "proxy.example.com"),
    ],
)
def test_bad_limit_settings_stop_the_process(variable, value):
    result = _settings_in_fresh_process(**{variable: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert variable in result.stderr
