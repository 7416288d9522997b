"""Settings for the model registry, read from environment variables.

Every value that differs between a laptop and a production deployment comes from the
environment; docs/deployment.md lists them. Without DATABASE_URL the registry runs on a
SQLite file under var/ in WAL mode with immediate write transactions.
"""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

# A development key is only acceptable with DEBUG on; the deploy checks refuse it.
INSECURE_DEV_SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"
SECRET_KEY = os.environ.get("SECRET_KEY") or INSECURE_DEV_SECRET_KEY
if SECRET_KEY == INSECURE_DEV_SECRET_KEY and not DEBUG:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set SECRET_KEY in the environment, or DEBUG=1 for development."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_filters",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "simple_history",
    "models_app",
    "approvals_app",
    "webhooks_app",
    "mlflow_app",
    "federation_app",
    "demo_app",
    # The site wiring: connects the metrics' counters in every process (registry_site.apps).
    "registry_site",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "models_app.middleware.RequestIdMiddleware",
    # Counts, times and logs each request by its URL pattern (registry_site.metrics).
    "registry_site.metrics.RequestMetricsMiddleware",
    "registry_site.security.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "registry_site.urls"
WSGI_APPLICATION = "registry_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "approvals_app.context_processors.review_inbox_count",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------

VAR_DIR = Path(os.environ.get("REGISTRY_VAR_DIR", BASE_DIR / "var"))
DEFAULT_SQLITE_URL = f"sqlite:///{VAR_DIR / 'registry.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or DEFAULT_SQLITE_URL,
        # Seconds a worker keeps its database connection (checked before reuse); 0 opens
        # one per request. A kept connection saves the connect and, on SQLite, the PRAGMAs
        # of every request: about a third of a simple read (docs/benchmarks.md).
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}

_ENGINES = {
    # Our backends add one thing to Django's: the flush that tests use may clear the
    # append-only audit tables (see registry_site/db/).
    "django.db.backends.sqlite3": "registry_site.db.sqlite3",
    "django.db.backends.postgresql": "registry_site.db.postgresql",
}
_default = DATABASES["default"]
if _default["ENGINE"] not in _ENGINES:
    raise ImproperlyConfigured("DATABASE_URL must name a SQLite or PostgreSQL database.")
_default["ENGINE"] = _ENGINES[_default["ENGINE"]]
if _default["ENGINE"].endswith("sqlite3"):
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    _default["OPTIONS"] = {
        # BEGIN IMMEDIATE takes the write lock at the start of every atomic block, so
        # concurrent writers queue for up to `timeout` seconds instead of failing with
        # "database is locked" when a deferred transaction tries to upgrade.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        # WAL checkpoints every 10,000 pages (about 40 MB) rather than SQLite's 1,000: a
        # registration rewrites the same few dozen pages, so a longer log is copied back
        # in far fewer page writes and fsyncs, and fewer requests wait for a checkpoint.
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000; "
            "PRAGMA wal_autocheckpoint=10000;"
        ),
    }
    # Tests use a file, not memory, so that threads in concurrency tests share it; one
    # per process, so that two test runs on one machine do not share a database.
    _default["TEST"] = {"NAME": str(VAR_DIR / f"test-registry-{os.getpid()}.sqlite3")}
else:
    _default["TEST"] = {"NAME": f"test_registry_{os.getpid()}"}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(os.environ.get("REGISTRY_ARTIFACT_ROOT", VAR_DIR / "artifacts"))

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- Security -------------------------------------------------------------------------

SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# A load balancer's health checks may call /healthz and /readyz over plain HTTP: they
# answer only whether the process is up and ready, so they are not redirected to HTTPS.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- Audit trail ----------------------------------------------------------------------

SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
# Hides the revert button; models_app.admin also refuses a crafted revert POST.
SIMPLE_HISTORY_REVERT_DISABLED = True

# --- Registry -------------------------------------------------------------------------

# Schemes a version's artifact_uri may use. file:// is off unless a single-machine
# setup turns it on with REGISTRY_ALLOW_FILE_URIS=1.
REGISTRY_ARTIFACT_SCHEMES = env_list(
    "REGISTRY_ARTIFACT_SCHEMES", "s3,gs,https,runs,models,mlflow-artifacts,registry"
)
if env_bool("REGISTRY_ALLOW_FILE_URIS", False) and "file" not in REGISTRY_ARTIFACT_SCHEMES:
    REGISTRY_ARTIFACT_SCHEMES.append("file")

# MLflow aliases that are not stored but always name the model's production version;
# setting one promotes through the guards (docs/mlflow.md). Compared case-insensitively.
REGISTRY_PROTECTED_ALIASES = [
    alias.lower() for alias in env_list("REGISTRY_PROTECTED_ALIASES", "champion,production")
]

# LOG_FORMAT=json writes one JSON object per line (registry_site.logs.JsonFormatter): each
# request (request id, user, route, method, status, duration) and each background job's
# round; plain text otherwise.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text").strip().lower()
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "registry_site.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # django-axes announces its configuration at every start and management command;
        # its lockout and failure records come from other loggers and still reach the log.
        "axes.apps": {"level": "WARNING"},
    },
}

# --- REST API ---------------------------------------------------------------------------

INSTALLED_APPS.append("drf_spectacular_sidecar")  # Swagger UI files, served locally (no CDN)
# Django's own 404/500 pages under /api/ become the API's JSON error shape.
MIDDLEWARE.insert(
    MIDDLEWARE.index("models_app.middleware.RequestIdMiddleware") + 1,
    "models_app.api.common.ApiErrorMiddleware",
)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # knox tokens (hashed, expiring, revocable); listed first so that an anonymous
        # request is answered 401 with WWW-Authenticate: Token, not 403.
        "models_app.api.common.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["models_app.api.common.SafeJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "models_app.api.common.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "models_app.api.common.RegistryPagination",
    "PAGE_SIZE": 50,
}
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=int(os.environ.get("REGISTRY_TOKEN_TTL_HOURS", str(30 * 24)))),
    "AUTO_REFRESH": False,
    "AUTH_HEADER_PREFIX": "Token",
}
# Largest artifact PUT /api/v1/…/artifact/ accepts (bytes); larger uploads get 413.
REGISTRY_MAX_ARTIFACT_BYTES = int(
    os.environ.get("REGISTRY_MAX_ARTIFACT_BYTES", str(512 * 1024 * 1024))
)

# Artifacts in S3-compatible object storage (django-storages, the "s3" extra) when a
# bucket is named; otherwise on the local disk under MEDIA_ROOT.
if os.environ.get("REGISTRY_S3_BUCKET"):
    _s3_options = {
        "bucket_name": os.environ["REGISTRY_S3_BUCKET"],
        "location": os.environ.get("REGISTRY_S3_PREFIX", ""),
        "default_acl": None,
        "file_overwrite": False,
        "querystring_auth": True,
        # A download is copied from the bucket to a temporary file before it is streamed
        # to the client. django-storages keeps that copy in memory, however large, unless
        # told when to move it to disk: past Django's own limit for uploads (2.5 MB).
        "max_memory_size": 2_621_440,
    }
    for _option, _variable in (
        ("endpoint_url", "REGISTRY_S3_ENDPOINT_URL"),
        ("region_name", "REGISTRY_S3_REGION"),
        ("access_key", "REGISTRY_S3_ACCESS_KEY_ID"),
        ("secret_key", "REGISTRY_S3_SECRET_ACCESS_KEY"),
    ):
        if os.environ.get(_variable):
            _s3_options[_option] = os.environ[_variable]
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": _s3_options}

SPECTACULAR_SETTINGS = {
    "TITLE": "Model registry API",
    "DESCRIPTION": (
        "A governed registry for machine-learning models. Authenticate with "
        "`Authorization: Token <token>` from POST /api/v1/auth/token/. Every error has the "
        'shape {"error": {"code", "message", "details"}}.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Password guessing (django-axes; docs/deployment.md) --------------------------------

# Every password check (dashboard and admin sign-in, POST /api/v1/auth/token/, MLflow basic
# authentication) goes through authenticate(), where axes' backend refuses a (username,
# client address) pair after REGISTRY_LOGIN_MAX_FAILURES failures, for
# REGISTRY_LOGIN_LOCKOUT_MINUTES after the last one. The middleware, last, turns a refusal
# into 429 (registry_site.logins.lockout_response).
INSTALLED_APPS.append("axes")
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
MIDDLEWARE.append("axes.middleware.AxesMiddleware")


def env_positive_int(name: str, default: int) -> int:
    value = os.environ.get(name) or str(default)
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ImproperlyConfigured(f"{name} must be a whole number of at least 1, not {value!r}.")
    return number


# The largest catalog push (POST /api/v1/federation/push/) this registry accepts, in
# bytes; other JSON bodies keep Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB).
REGISTRY_MAX_PUSH_BYTES = env_positive_int("REGISTRY_MAX_PUSH_BYTES", 2_621_440)

# Production health signals older than this many days are deleted by
# `manage.py prune_signals` (run it daily, docs/deployment.md).
REGISTRY_SIGNAL_RETENTION_DAYS = env_positive_int("REGISTRY_SIGNAL_RETENTION_DAYS", 30)

AXES_FAILURE_LIMIT = env_positive_int("REGISTRY_LOGIN_MAX_FAILURES", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_positive_int("REGISTRY_LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Attempts during a lockout are refused without being counted, so the lockout ends a
# fixed time after the failure that started it, as the 429 answer says.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A success leaves the counters alone: every door counts the same way (API and MLflow
# password checks are not sign-ins), and no success ever clears another pair's counter.
AXES_RESET_ON_SUCCESS = False
# No table of successful sign-ins: only the counters of failures are kept.
AXES_DISABLE_ACCESS_LOG = True
AXES_CLIENT_IP_CALLABLE = "registry_site.logins.client_ip"
AXES_USERNAME_CALLABLE = "registry_site.logins.attempted_username"
AXES_LOCKOUT_CALLABLE = "registry_site.logins.lockout_response"

# Addresses (or CIDR networks) of the reverse proxies in front of the app. Only a request
# whose REMOTE_ADDR is one of them has its X-Forwarded-For read, from the right, past
# every trusted proxy. Without it, X-Forwarded-For is ignored: a client could write it.
REGISTRY_TRUSTED_PROXIES = env_list("REGISTRY_TRUSTED_PROXIES")
for _proxy in REGISTRY_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(
            f"REGISTRY_TRUSTED_PROXIES: {_proxy!r} is not an IP address or CIDR network."
        ) from _exc
# DRF's throttles (none is used today) would read X-Forwarded-For the same way: not at
# all without a trusted proxy, else the address the nearest proxy saw.
REST_FRAMEWORK["NUM_PROXIES"] = 1 if REGISTRY_TRUSTED_PROXIES else 0

# The counters live in the database (axes' own tables, created by `migrate`), which every
# app process shares; with REDIS_URL they live in Redis instead.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES["axes"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "registry",
    }
    AXES_CACHE = "axes"
    AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
else:
    AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"


# The registry's own cache of answers read far more than written (today: which version of
# a model is in production). Services drop an answer when they change it; with REDIS_URL
# every process sees that at once. Without Redis each process keeps its own copy, which
# another process's change cannot drop: those copies live only a few seconds
# (docs/deployment.md). 0 turns the cache off.
def _seconds(name: str, default: str) -> int:
    """A whole number of seconds, 0 or more, from the environment."""
    try:
        value = int(os.environ.get(name, default))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number.") from exc
    if value < 0:
        raise ImproperlyConfigured(f"{name} must be 0 or more.")
    return value


REGISTRY_CACHE_SECONDS = _seconds("REGISTRY_CACHE_SECONDS", "300" if REDIS_URL else "3")
# Which user an API token signs in, cached so that an authenticated read costs no query:
# on by default (60 s) only with REDIS_URL, where a revocation in one process drops the
# entry for all of them at once. A process's own cache could not learn of a revocation
# made in another process; set it without Redis only for a single-process server.
REGISTRY_TOKEN_CACHE_SECONDS = _seconds("REGISTRY_TOKEN_CACHE_SECONDS", "60" if REDIS_URL else "0")
if REDIS_URL:
    CACHES["registry"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "registry-answers",
        "TIMEOUT": REGISTRY_CACHE_SECONDS,
    }
else:
    CACHES["registry"] = {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "registry-answers",
        "TIMEOUT": REGISTRY_CACHE_SECONDS,
    }

# --- Webhooks (webhooks_app) ------------------------------------------------------------

# Seconds to wait for a receiver to answer one delivery.
REGISTRY_WEBHOOK_TIMEOUT = float(os.environ.get("REGISTRY_WEBHOOK_TIMEOUT", "5"))
# Attempts before a delivery is dead (dead-lettered; an admin can redeliver it).
REGISTRY_WEBHOOK_MAX_ATTEMPTS = int(os.environ.get("REGISTRY_WEBHOOK_MAX_ATTEMPTS", "8"))
# Retry n waits a random time up to min(CAP, BASE · 2^(n-1)) seconds (full jitter).
REGISTRY_WEBHOOK_BACKOFF_BASE = float(os.environ.get("REGISTRY_WEBHOOK_BACKOFF_BASE", "10"))
REGISTRY_WEBHOOK_BACKOFF_CAP = float(os.environ.get("REGISTRY_WEBHOOK_BACKOFF_CAP", "3600"))
# How long a worker's claim on a delivery lasts; a killed worker's claims are retaken after.
REGISTRY_WEBHOOK_LEASE_SECONDS = float(os.environ.get("REGISTRY_WEBHOOK_LEASE_SECONDS", "120"))
# After a subscription's secret is rotated, deliveries are signed with the old secret as
# well as the new one for this many seconds, so that receivers can switch without losing
# any; 0 signs with the new secret alone from the moment of the rotation.
REGISTRY_WEBHOOK_SECRET_OVERLAP_SECONDS = _seconds(
    "REGISTRY_WEBHOOK_SECRET_OVERLAP_SECONDS", "86400"
)
# Outbound address checks: private, loopback and link-local destinations are refused
# unless ALLOW_PRIVATE is on; ALLOWED_HOSTS (names, .domain suffixes, IPs or CIDR
# networks), when set, is the only list of destinations allowed. Cloud metadata
# addresses are always refused.
REGISTRY_WEBHOOK_ALLOW_PRIVATE = env_bool("REGISTRY_WEBHOOK_ALLOW_PRIVATE", False)
REGISTRY_WEBHOOK_ALLOWED_HOSTS = env_list("REGISTRY_WEBHOOK_ALLOWED_HOSTS")

# --- Federation (federation_app) --------------------------------------------------------

# This registry's name in a federation, e.g. "team-fraud": a central catalog qualifies the
# names of the models it mirrors with it ("team-fraud.fraud_detector"). "local" means the
# registry is not part of a federation.
REGISTRY_ID = os.environ.get("REGISTRY_ID", "local")
# Set both to make this a team registry: `manage.py sync_catalog` pushes its catalog to the
# central registry's REST API with this token (of the central "catalog_sync" user).
REGISTRY_CENTRAL_URL = os.environ.get("REGISTRY_CENTRAL_URL", "")
REGISTRY_CENTRAL_TOKEN = os.environ.get("REGISTRY_CENTRAL_TOKEN", "")
# Items (models or audit events) per request of a sync; the cursor advances per batch.
REGISTRY_SYNC_BATCH_SIZE = int(os.environ.get("REGISTRY_SYNC_BATCH_SIZE", "50"))
# How long a sync keeps looking for an audit event id that was skipped because its
# transaction had not committed yet (PostgreSQL hands out ids before commit).
REGISTRY_SYNC_GAP_SECONDS = int(os.environ.get("REGISTRY_SYNC_GAP_SECONDS", "600"))

# --- Health and metrics (docs/operations.md) ---------------------------------------------

# GET /readyz fails when a webhook subscription is active and no worker has written its
# heartbeat for this many seconds (0: not checked), or when more deliveries than this wait
# in the outbox (0: not checked).
REGISTRY_READYZ_WORKER_MAX_AGE = _seconds("REGISTRY_READYZ_WORKER_MAX_AGE", "60")
REGISTRY_READYZ_MAX_BACKLOG = _seconds("REGISTRY_READYZ_MAX_BACKLOG", "1000")
# GET /metrics answers a request with `Authorization: Bearer <REGISTRY_METRICS_TOKEN>`, or
# from an address in REGISTRY_METRICS_ALLOW (IP addresses or CIDR networks; loopback only
# by default, empty to allow none).
REGISTRY_METRICS_TOKEN = os.environ.get("REGISTRY_METRICS_TOKEN", "")
REGISTRY_METRICS_ALLOW = env_list("REGISTRY_METRICS_ALLOW", "127.0.0.0/8,::1/128")
for _network in REGISTRY_METRICS_ALLOW:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(
            f"REGISTRY_METRICS_ALLOW: {_network!r} is not an IP address or CIDR network."
        ) from _exc
# The gauges that count rows (the outbox backlog, the dead letters) count no further.
REGISTRY_METRICS_COUNT_CAP = env_positive_int("REGISTRY_METRICS_COUNT_CAP", 100_000)
