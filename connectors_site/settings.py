"""Settings, all driven by environment variables with defaults that are safe on a laptop.

See the README's configuration table for every variable.
"""

from __future__ import annotations

import base64
import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "var"))
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """Use SECRET_KEY when given; otherwise generate one once and keep it in the data folder."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = DATA_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(50)
        try:
            with open(path, "x") as handle:  # "x": two processes starting together keep the first key
                handle.write(key)
        except FileExistsError:
            return path.read_text().strip()
        path.chmod(0o600)
        return key


SECRET_KEY = _secret_key()


def _field_encryption_keys() -> list[str]:
    """Fernet keys for secrets stored in the database (connectors' signing secrets), newest first.

    FIELD_ENCRYPTION_KEYS holds comma-separated keys: the first encrypts, every one decrypts, so a new key goes in
    front and an old one is dropped once ``manage.py rotate_encryption_key`` has re-encrypted the rows. Without it,
    one key is generated once into the data folder, like the secret key.
    """
    if keys := env_list("FIELD_ENCRYPTION_KEYS"):
        return keys
    path = DATA_DIR / "field_encryption_key"
    try:
        return [path.read_text().strip()]
    except FileNotFoundError:
        key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()  # a Fernet key
        try:
            with open(path, "x") as handle:
                handle.write(key)
        except FileExistsError:
            return [path.read_text().strip()]
        path.chmod(0o600)
        return [key]


FIELD_ENCRYPTION_KEYS = _field_encryption_keys()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_filters",
    "rest_framework",
    "knox",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks_db",
    "connectors_site",
    "assets",
    "connectors",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "connectors.sender_access.SenderAccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it answers a locked-out sign-in with the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "connectors_site.urls"
WSGI_APPLICATION = "connectors_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "connectors_site.common.context_processors.roles",
            ],
            "libraries": {"sorting": "connectors_site.common.sorting"},
        },
    },
]

# --- Database -------------------------------------------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes; IMMEDIATE takes the write lock at BEGIN so two writers
    # queue on the busy timeout instead of failing with "database is locked" on a lock upgrade. An identification
    # chunk dirties thousands of index pages: a 32 MiB page cache keeps them (memory-mapped I/O would add the
    # whole file to the worker's resident size), and a checkpoint every ~40 MiB of WAL instead of every 4 MiB
    # (after nearly every chunk) halves commit time.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA temp_store=MEMORY; "
            "PRAGMA cache_size=-32768; PRAGMA wal_autocheckpoint=10000;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not memory, so tests can share the test database with real worker and server processes.
    # Named per process so two test runs on one machine do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-db-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Tasks ----------------------------------------------------------------------------------------------------
TASKS = {
    "default": {
        "BACKEND": os.environ.get("TASK_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}

# --- Auth -----------------------------------------------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out user or address before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- I18N, static ---------------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # `serve` fills it with collectstatic; until then files come from the finders
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- Security headers -----------------------------------------------------------------------------------------
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
#: Strict-Transport-Security: seconds browsers remember to use HTTPS only (0: no header). Turn it on once the
#: site is served over HTTPS for good: browsers will refuse plain HTTP for that long.
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
#: Redirect plain HTTP to HTTPS (behind a TLS proxy, with BEHIND_TLS_PROXY so the forwarded scheme is trusted).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
#: Load balancers probe the health check over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

# --- Sign-in lockout (django-axes) and API token throttling ---------------------------------------------------
#: Failed sign-ins (UI and Django admin) before a user name, and separately an address, is locked out.
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
#: How long a lockout lasts, in minutes; 0 keeps it until an admin unlocks it (Django admin, Access attempts).
LOGIN_COOLOFF_MINUTES = float(os.environ.get("LOGIN_COOLOFF_MINUTES", "15"))
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_COOLOFF_MINUTES) if LOGIN_COOLOFF_MINUTES > 0 else None
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own: per user and per address
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "connectors_site.common.lockout.lockout_response"
AXES_CLIENT_IP_CALLABLE = "connectors_site.common.client_ip.client_ip"
AXES_VERBOSE = False
AXES_ENABLED = env_bool("LOGIN_LOCKOUT", True)
#: Failed API token checks one address may make per window before it gets 429 until the window ends.
API_TOKEN_FAILURE_LIMIT = int(os.environ.get("API_TOKEN_FAILURE_LIMIT", "20"))
API_TOKEN_FAILURE_WINDOW_SECONDS = int(os.environ.get("API_TOKEN_FAILURE_WINDOW_SECONDS", "300"))
#: Fresh credentials wait (encrypted) in the session this long for the page that shows them once.
ONE_TIME_SECRETS_TTL_SECONDS = int(os.environ.get("ONE_TIME_SECRETS_TTL_SECONDS", "300"))

# --- REST framework -------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "connectors_site.common.authentication.TokenWithRolesAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["connectors_site.common.permissions.ReadAnyWriteAdmin"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "connectors_site.common.pagination.CappedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "connectors_site.common.api.ProblemAutoSchema",
    "EXCEPTION_HANDLER": "connectors_site.common.api.exception_handler",
}
#: API tokens (`manage.py create_api_token`): stored as SHA-512 digests by django-rest-knox, looked up by their
#: first characters; no expiry unless the command is given one.
REST_KNOX = {"TOKEN_TTL": None, "AUTH_HEADER_PREFIX": "Token"}
API_DOCS_PUBLIC = env_bool("API_DOCS_PUBLIC", False)
SPECTACULAR_SETTINGS = {
    "TITLE": "Connector hub API",
    "DESCRIPTION": (
        "Manage webhook connectors, their asset identification rules, deliveries and the asset inventory. "
        "Authenticate with a session or `Authorization: Token <key>` (create one with "
        "`manage.py create_api_token USER`). Writes need the Connector admins group or staff status."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and the docs need a session or an API token, like every other page, unless API_DOCS_PUBLIC.
    "SERVE_PERMISSIONS": ["connectors_site.common.api_docs.ApiDocsAccess"],
    "SERVE_AUTHENTICATION": [  # token first: an anonymous call is answered 401 with WWW-Authenticate: Token
        "connectors_site.common.authentication.TokenWithRolesAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
}

# --- Intake ---------------------------------------------------------------------------------------------------
#: Largest delivery body accepted, in bytes; larger ones get 413 before any parsing.
WEBHOOK_MAX_BODY_BYTES = int(os.environ.get("WEBHOOK_MAX_BODY_BYTES", str(10 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = max(WEBHOOK_MAX_BODY_BYTES + 1024, 2_621_440)
#: Seconds a request body may take to arrive whole; a slower or stalled sender gets 408 and is disconnected.
BODY_READ_TIMEOUT_SECONDS = float(os.environ.get("BODY_READ_TIMEOUT_SECONDS", "30"))
#: Requests per minute one connector may send before it gets 429 (0 turns the limit off).
WEBHOOK_RATE_LIMIT_PER_MINUTE = int(os.environ.get("WEBHOOK_RATE_LIMIT_PER_MINUTE", "600"))
#: How long the previous signing secret keeps working after a rotation, in hours.
SECRET_ROTATION_OVERLAP_HOURS = float(os.environ.get("SECRET_ROTATION_OVERLAP_HOURS", "24"))
#: Records identified and written per transaction.
IDENTIFICATION_CHUNK_SIZE = int(os.environ.get("IDENTIFICATION_CHUNK_SIZE", "1000"))
# A rule definition's impact preview runs the Apply steps in a transaction it rolls back, holding the write locks
# Apply would hold: above this many live records to re-identify it is refused (Apply is not).
RULE_IMPACT_PREVIEW_MAX_RECORDS = int(os.environ.get("RULE_IMPACT_PREVIEW_MAX_RECORDS", "20000"))
#: A (kind, value) held by more than this many distinct assets identifies none of them (0 turns it off).
IDENTIFIER_SHARED_LIMIT = int(os.environ.get("IDENTIFIER_SHARED_LIMIT", "5"))
#: A record's updated_at / last_seen more than this many hours after the delivery was received is dropped with a
#: warning (a wrong clock would otherwise win every later comparison).
FUTURE_TIMESTAMP_TOLERANCE_HOURS = float(os.environ.get("FUTURE_TIMESTAMP_TOLERANCE_HOURS", "24"))
#: A worker's claim on a delivery; past it another worker may take the delivery over.
DELIVERY_LEASE_SECONDS = int(os.environ.get("DELIVERY_LEASE_SECONDS", "300"))
#: Each worker beats into its heartbeat row this often, from a thread of its own (a long chunk never delays it).
WORKER_HEARTBEAT_SECONDS = float(os.environ.get("WORKER_HEARTBEAT_SECONDS", "10"))
#: A worker silent for longer is presumed dead: its deliveries are taken over without waiting for their lease.
HEARTBEAT_STALE_SECONDS = float(os.environ.get("HEARTBEAT_STALE_SECONDS", "30"))
#: First retry delay in seconds; each further attempt waits twice as long (at most 10 minutes).
DELIVERY_RETRY_BASE_SECONDS = float(os.environ.get("DELIVERY_RETRY_BASE_SECONDS", "2"))
#: The sweep re-enqueues a due queued delivery whose task has not run for this many seconds.
DELIVERY_REQUEUE_AFTER_SECONDS = float(os.environ.get("DELIVERY_REQUEUE_AFTER_SECONDS", "60"))
#: Test-only fault injection: dotted path of a callable run before each processing attempt. Leave unset.
DELIVERY_FAULT_HOOK = os.environ.get("DELIVERY_FAULT_HOOK", "")
#: Attempts before a delivery that keeps failing on transient errors goes to "dead".
DELIVERY_MAX_ATTEMPTS = int(os.environ.get("DELIVERY_MAX_ATTEMPTS", "5"))
#: Finished deliveries (body, per-record errors and decisions) are deleted this many days after receipt by the
#: workers' hourly housekeeping; dead ones are kept until replayed or deleted. 0 keeps everything.
DELIVERY_RETENTION_DAYS = float(os.environ.get("DELIVERY_RETENTION_DAYS", "90"))
#: Overview: an inventory up to this many assets is recounted within the page view when it changed; a larger one
#: by a worker, while the page shows the previous counts with their time (assets.overview.counts).
OVERVIEW_INLINE_ASSETS = int(os.environ.get("OVERVIEW_INLINE_ASSETS", "50000"))
#: Overview: stored counts older than this many seconds are recounted even if no change was seen.
OVERVIEW_COUNTS_MAX_AGE = float(os.environ.get("OVERVIEW_COUNTS_MAX_AGE", "300"))
#: The workers' lifecycle pass (assets.lifecycle: the connectors' stale and purge rules) runs this often.
LIFECYCLE_INTERVAL_SECONDS = float(os.environ.get("LIFECYCLE_INTERVAL_SECONDS", "900"))
#: Source records per lifecycle batch (one short transaction each), and batches per pass at most: a pass with
#: more to do says so and the next one comes soon.
LIFECYCLE_BATCH_SIZE = int(os.environ.get("LIFECYCLE_BATCH_SIZE", "1000"))
LIFECYCLE_MAX_BATCHES = int(os.environ.get("LIFECYCLE_MAX_BATCHES", "50"))

# --- Metrics (GET /metrics, Prometheus; see the README) ---------------------------------------------------------
#: Bearer token a scraper must send. With METRICS_ALLOWED_NETWORKS too, both must hold; with neither, 404.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
#: Comma-separated addresses or CIDR networks allowed to scrape (the client address as the lockout sees it).
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS")

#: Secrets shown once travel in messages: keep them server-side, not in a readable cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

#: A delivery with more records than this is split into chunks of IDENTIFICATION_CHUNK_SIZE records that several
#: workers process at once (connectors.chunks); smaller ones are processed by one worker from start to end.
DELIVERY_SPLIT_RECORDS = int(os.environ.get("DELIVERY_SPLIT_RECORDS", "5000"))
