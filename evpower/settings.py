"""EvPower settings, driven entirely by environment variables (see README "Configuration").

Development works with no environment at all (SQLite, in-memory channel layer and cache).
Production (EVPOWER_ENV=production) refuses to import with unsafe values.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy
from django_guid.integrations import CeleryIntegration
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from evpower.security import (
    DEV_SECRET_KEY,
    SLOW_PASSWORD_HASHERS,
    database_tls_problems,
    key_and_database_problems,
    operator_token_problems,
    password_hasher_problems,
    production_problems,
    provider_problems,
)

# === Environment: where we run, secrets, hosts ===================================================
BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env is a convenience for developers; real environment variables always win.
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

EVPOWER_ENV = env.str("EVPOWER_ENV", default="development")
if EVPOWER_ENV not in ("development", "production"):
    raise ImproperlyConfigured(f"EVPOWER_ENV must be development or production: {EVPOWER_ENV!r}")
IS_PRODUCTION = EVPOWER_ENV == "production"

# scripts/run.sh writes the running demo's choices (REDIS_URL when a local Redis answered, the
# payment sandbox) to .run/demo.env and deletes it when it stops, so that manage.py in another
# shell reaches the same charger socket and services. Development only; real variables and
# .env win; the tests set EVPOWER_DEMO_ENV_FILE empty (a running demo must not steer them).
DEMO_ENV_FILE = env.str("EVPOWER_DEMO_ENV_FILE", default=str(BASE_DIR / ".run" / "demo.env"))
if not IS_PRODUCTION and DEMO_ENV_FILE and Path(DEMO_ENV_FILE).is_file():
    env.read_env(DEMO_ENV_FILE)

DEBUG = env.bool("DEBUG", default=not IS_PRODUCTION)
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)
# earlier keys, still accepted for what they signed (staff sessions, signed links) while
# SECRET_KEY rotates; drop them once those have expired
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if IS_PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# names the platform's own neighbours call it by on a private network (compose: "web", for
# Prometheus's scrape and Alertmanager's webhook), added to the public ALLOWED_HOSTS
ALLOWED_HOSTS += env.list("INTERNAL_HOSTS", default=[])

if IS_PRODUCTION:
    _problems = production_problems(secret_key=SECRET_KEY, debug=DEBUG, allowed_hosts=ALLOWED_HOSTS)
    if _problems:
        raise ImproperlyConfigured("Refusing to start in production: " + "; ".join(_problems))
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

# === Security headers, HTTPS, cookies, CSP =======================================================
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Django sends HSTS on HTTPS requests only (request.is_secure(), i.e. behind a load balancer
# with SECURE_PROXY_SSL_HEADER), so a year in production cannot lock out a plain-HTTP dev box.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if IS_PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Staff sessions end after a working day; the driver API uses JWTs, not cookies.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)
CSRF_COOKIE_HTTPONLY = True  # the admin reads the token from its forms, never from JavaScript
# Content-Security-Policy (django-csp): every script and style is served by us (the admin's and
# Swagger UI's, from STATIC_URL); no inline script anywhere. Inline styles stay allowed: the
# admin's widgets and our SVG meter curve set style attributes. connect-src 'self' covers the
# same-origin WebSocket of the live views. CSP_REPORT_URI sends violation reports.
_CSP_REPORT_URI = env.str("CSP_REPORT_URI", default="")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        **({"report-uri": [_CSP_REPORT_URI]} if _CSP_REPORT_URI else {}),
    },
}
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# what monitoring calls over the private network (plain HTTP to the web container; the
# public port 80 is redirected by nginx before it gets here). Both need a bearer token.
SECURE_REDIRECT_EXEMPT = env.list(
    "SECURE_REDIRECT_EXEMPT", default=[r"^metrics$", r"^alerts/alertmanager$"]
)
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# === Apps, middleware, URLs, templates ===========================================================
INSTALLED_APPS = [
    # the admin theme (README "The operator's cockpit"); before the admin, whose templates
    # it overrides
    "unfold.apps.BasicAppConfig",  # the theme without its own site: ours (2FA) stays admin.site
    "unfold.contrib.filters",
    # django.contrib.admin with our site (2FA) as admin.site
    "cockpit.admin_config.CockpitAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files for /api/docs/, served without a CDN
    "corsheaders",
    "channels",
    "django_celery_beat",
    # operations and security (README "Operations and security")
    "csp",
    "django_guid",
    "django_prometheus",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "auditlog",
    "evpower.apps.EvPowerConfig",  # the core: the security-event log
    "accounts",
    "stations",
    "charging",
    "payments",
    "maintenance",
    "cockpit",  # the operator's cockpit: on top, nothing imports it
    "ocpp_bridge",
]

MIDDLEWARE = [
    "evpower.timing.response_time_middleware",  # outermost: X-Response-Time on every answer
    "evpower.health.LivenessMiddleware",  # probes must bypass host checks and redirects
    # gzip for large API reads only, never next to a secret (BREACH: evpower/compression.py)
    "evpower.compression.SafeGZipMiddleware",
    # outermost of the rest, so every answer (errors and refusals too) is counted and timed
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # the correlation id: from X-Request-ID (or new), in every log line and in the response
    "evpower.correlation.request_id_shape_middleware",  # a malformed X-Request-ID: a new id
    "django_guid.middleware.guid_middleware",
    "django.middleware.security.SecurityMiddleware",
    "cockpit.middleware.AdminCSPMiddleware",  # django-csp's, wider for the admin
    # before anything that can answer (CommonMiddleware): preflights get CORS headers too
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "cockpit.middleware.AdminLocaleMiddleware",  # ru/en for the admin only
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified() for the admin's 2FA
    "cockpit.audit.AuditlogMiddleware",  # the staff member behind each audited change
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # the admin's brute-force lockout answers here
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

# django-axes first: it refuses a locked-out username/IP before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "evpower.urls"
WSGI_APPLICATION = "evpower.wsgi.application"
ASGI_APPLICATION = "evpower.asgi.application"

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
            ],
        },
    },
]

# === Database ====================================================================================
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# 0: under ASGI every HTTP request runs on a thread of its own, so a persistent connection
# would be left open per request until PostgreSQL refuses new ones. The charger side keeps
# its connections in its own fixed pool of threads (OCPP_DB_CONN_MAX_AGE, ocpp_bridge/db.py).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
# Persistent connections go stale behind pgbouncer/failover; check before reuse.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The laptop database. The charger threads and request threads write at the same time;
    # SQLite fails a transaction that read first and then wants to write while another
    # writes ("database is locked", at once). IMMEDIATE takes the write lock at BEGIN, so
    # writers queue for up to `timeout` seconds instead; WAL lets readers go on meanwhile.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    if not IS_PRODUCTION:
        # SQLite cannot make the one unique constraint with NULLS NOT DISTINCT (on
        # ReconciliationIssue; it holds on PostgreSQL, where the tests and production
        # run): the demo says nothing about a constraint it cannot have.
        SILENCED_SYSTEM_CHECKS = ["models.W047"]
# hosts that are this machine (or its private compose network): no TLS needed to reach them
DB_LOCAL_HOSTS = env.list("DB_LOCAL_HOSTS", default=["localhost", "127.0.0.1", "::1", "postgres"])
if IS_PRODUCTION and (_db_problems := database_tls_problems(DATABASES["default"], DB_LOCAL_HOSTS)):
    raise ImproperlyConfigured("Refusing to start in production: " + "; ".join(_db_problems))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# === Redis: cache and channel layer ==============================================================
# Without Redis everything still runs in one process (dev, run.sh); with several ASGI
# processes Redis is required so a command reaches the process that holds a charger's socket.
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 reads with a 5 s socket timeout by default, the same as
                # channels_redis's blocking pop: idle consumers would crash on a race.
                # A Redis restart leaves dead pooled connections behind: retry a command
                # on a fresh connection (with backoff) instead of failing it.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": 30,
                        "retry": Retry(ExponentialBackoff(cap=1.0, base=0.05), 6),
                        "retry_on_error": [RedisConnectionError, OSError],
                        "health_check_interval": 15,
                    }
                ],
                "capacity": 1000,
                "expiry": 60,
                "group_expiry": 86400,
            },
        }
    }
    _CACHE_SOCKET_TIMEOUT = env.float("CACHE_SOCKET_TIMEOUT", default=2.0)
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # redis-py waits forever by default: a Redis that hangs would hang every
            # request (and job) that reads the cache, instead of failing it
            "OPTIONS": {
                "socket_timeout": _CACHE_SOCKET_TIMEOUT,
                "socket_connect_timeout": _CACHE_SOCKET_TIMEOUT,
            },
        }
    }
else:
    # in-memory, one process only; its channel names tell other processes so
    CHANNEL_LAYERS = {"default": {"BACKEND": "evpower.channel_layer.ProcessLocalChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# === Passwords, languages, static files ==========================================================
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Django's own list unless set: the test suite sets the fast MD5 hasher (evpower/tests/
# pytest_environment.py), which production refuses below.
PASSWORD_HASHERS = env.list("PASSWORD_HASHERS", default=list(SLOW_PASSWORD_HASHERS))
if IS_PRODUCTION and (_hasher_problems := password_hasher_problems(PASSWORD_HASHERS)):
    raise ImproperlyConfigured("Refusing to start in production: " + "; ".join(_hasher_problems))

LANGUAGE_CODE = "en"
# The admin speaks these (cockpit/middleware.py); the driver API stays in English.
LANGUAGES = [("en", "English"), ("ru", "Русский")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]  # the cockpit's own scripts and styles

# === The driver API: DRF, throttling, CORS, app versions, OpenAPI ================================
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "evpower.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "evpower.api.errors.exception_handler",
    # drivers (accounts.Client) authenticate with our JWTs; staff use the admin
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.ClientJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.permissions.IsActiveClient"],
    "DEFAULT_PAGINATION_CLASS": "evpower.api.pagination.Pagination",
    "PAGE_SIZE": 20,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
    # evpower/api/throttling.py: `limits` rate strings, several per scope joined by ";"
    "DEFAULT_THROTTLE_CLASSES": [
        "evpower.api.throttling.AnonRateThrottle",
        "evpower.api.throttling.ClientRateThrottle",
        "evpower.api.throttling.ScopedRateThrottle",
        "evpower.api.throttling.MoneyIpRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        # per IP; generous because mobile carriers put many drivers behind one address (CGNAT)
        "anon": env.str("THROTTLE_RATE_ANON", default="120/minute;2000/hour"),
        "client": env.str("THROTTLE_RATE_CLIENT", default="300/minute;5000/hour"),
        "auth": env.str("THROTTLE_RATE_AUTH", default="10/minute;60/hour"),  # OTP, per IP
        "money": env.str("THROTTLE_RATE_MONEY", default="10/minute;100/hour"),  # per client
        # the same money endpoints per IP: many fresh accounts from one address
        "money_ip": env.str("THROTTLE_RATE_MONEY_IP", default="60/minute;600/hour"),
    },
    # 0: the client address is REMOTE_ADDR (uvicorn --proxy-headers sets it from trusted
    # proxies only); never the raw X-Forwarded-For, which a caller can forge
    "NUM_PROXIES": env.int("API_NUM_PROXIES", default=0),
}
# Counted atomically in Redis when there is one; a process-local memory store otherwise (dev).
THROTTLE_STORAGE_URL = env.str("THROTTLE_STORAGE_URL", default=REDIS_URL or "memory://")
THROTTLE_STRATEGY = env.str("THROTTLE_STRATEGY", default="sliding-window-counter")
THROTTLE_STORAGE_TIMEOUT = env.float("THROTTLE_STORAGE_TIMEOUT", default=0.5)
THROTTLE_KEY_PREFIX = env.str("THROTTLE_KEY_PREFIX", default="evpower")
# With the store down, these scopes answer 503 (OTP pumping costs money); others go unlimited.
THROTTLE_FAIL_CLOSED_SCOPES = env.list("THROTTLE_FAIL_CLOSED_SCOPES", default=["auth"])

# Browser origins allowed to call /api/ (the mobile app needs none); tokens travel in the
# Authorization header, never cookies, so credentials stay off.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_HEADERS = (
    "accept",
    "accept-language",
    "authorization",
    "content-type",
    "idempotency-key",
)
CORS_EXPOSE_HEADERS = ("Retry-After", "X-Request-ID")
CORS_ALLOW_CREDENTIALS = False

# Mobile app versions for GET /api/v1/version.
# an Idempotency-Key answer is replayed this long; a claim left in progress longer than the
# stale time (a crashed worker) is taken over (payments/idempotency.py)
IDEMPOTENCY_KEY_TTL = timedelta(days=7)
IDEMPOTENCY_STALE_AFTER = timedelta(minutes=5)

APP_MINIMUM_VERSION = env.str("APP_MINIMUM_VERSION", default="1.0.0")
APP_LATEST_VERSION = env.str("APP_LATEST_VERSION", default=APP_MINIMUM_VERSION)

SPECTACULAR_SETTINGS = {
    "TITLE": "EvPower API",
    "DESCRIPTION": "Driver API of EvPower. Errors always come as "
    '`{"error": {"code", "message", "details"}}` (see the ErrorEnvelope schema).',
    "VERSION": "1.0.0",
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",  # operation ids and tags start after /api/v1/
    "COMPONENT_SPLIT_REQUEST": True,  # separate request/response models for generated clients
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],  # schema and docs are public, whatever token is sent
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # several models have a `kind` choice set; name each one in the schema
    "ENUM_NAME_OVERRIDES": {
        "KindEnum": "accounts.models.Device.Kind",
        "LedgerEntryKindEnum": "payments.models.LedgerTransaction.Kind",
    },
}

# === Driver accounts: tokens, login codes, SMS ===================================================
# Driver accounts (accounts/): JWTs, one-time login codes, SMS delivery, deletion.
SIMPLE_JWT = {
    # access tokens are checked against their login session on every request anyway;
    # the short life bounds what a stolen one is worth if the database check were bypassed
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=min(env.int("JWT_ACCESS_MINUTES", default=15), 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,  # done by accounts.tokens (with reuse detection)
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default="") or SECRET_KEY,
    "ALGORITHM": "HS256",
    "ISSUER": "evpower",
    # a driver's token is for the driver API and app socket, not for anything else that
    # might share the key (and a token made for something else is refused here)
    "AUDIENCE": "evpower-app",
    "USER_ID_CLAIM": "client_id",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "LEEWAY": 10,
}
# keys rotate without logging drivers out: tokens signed with an earlier key are accepted
# until they expire (accounts/jwt_keys.py). Without a key of their own, tokens follow
# SECRET_KEY and its fallbacks.
JWT_SIGNING_KEY_FALLBACKS = env.list(
    "JWT_SIGNING_KEY_FALLBACKS",
    default=[] if env.str("JWT_SIGNING_KEY", default="") else SECRET_KEY_FALLBACKS,
)
if IS_PRODUCTION and (
    _key_problems := key_and_database_problems(
        jwt_signing_key=SIMPLE_JWT["SIGNING_KEY"],
        jwt_fallback_keys=JWT_SIGNING_KEY_FALLBACKS,
        database_url=env.str("DATABASE_URL", default=""),
    )
):
    raise ImproperlyConfigured("Refusing to start in production: " + "; ".join(_key_problems))
# texts sent outside a request (SMS, push) to a client who chose no language in the profile
CLIENT_DEFAULT_LANGUAGE = env.str("CLIENT_DEFAULT_LANGUAGE", default="ru")
OTP_TTL_SECONDS = env.int("OTP_TTL_SECONDS", default=300)
OTP_MAX_ATTEMPTS = env.int("OTP_MAX_ATTEMPTS", default=3)
OTP_RESEND_SECONDS = env.int("OTP_RESEND_SECONDS", default=60)
OTP_DAILY_LIMIT_PER_PHONE = env.int("OTP_DAILY_LIMIT_PER_PHONE", default=10)
# per IP (IPv6 per /64); mobile carriers put many drivers behind one address (CGNAT)
OTP_DAILY_LIMIT_PER_IP = env.int("OTP_DAILY_LIMIT_PER_IP", default=100)
ACCOUNT_DELETION_GRACE_DAYS = env.int("ACCOUNT_DELETION_GRACE_DAYS", default=30)
# accounts.sms.backends.ConsoleBackend (development) or accounts.sms.http.HttpJsonBackend
SMS_BACKEND = env.str("SMS_BACKEND", default="accounts.sms.backends.ConsoleBackend")
SMS_HTTP_URL = env.str("SMS_HTTP_URL", default="")
SMS_HTTP_TOKEN = env.str("SMS_HTTP_TOKEN", default="")
SMS_HTTP_SENDER = env.str("SMS_HTTP_SENDER", default="EvPower")
SMS_HTTP_TIMEOUT = env.float("SMS_HTTP_TIMEOUT", default=10.0)
SMS_HTTP_CA_BUNDLE = env.str("SMS_HTTP_CA_BUNDLE", default="")
if IS_PRODUCTION:
    _sms_problems = [
        problem
        for problem, bad in (
            # console/memory backends deliver nothing (and log codes)
            ("SMS_BACKEND must be a real gateway", SMS_BACKEND.startswith("accounts.sms.backends")),
            (
                "SMS_HTTP_URL must be https",
                SMS_BACKEND.endswith("HttpJsonBackend") and not SMS_HTTP_URL.startswith("https://"),
            ),
            (
                "SMS_HTTP_TOKEN is unset",
                SMS_BACKEND.endswith("HttpJsonBackend") and not SMS_HTTP_TOKEN,
            ),
        )
        if bad
    ]
    if _sms_problems:
        raise ImproperlyConfigured("Refusing to start in production: " + "; ".join(_sms_problems))

# === Celery and the beat schedule ================================================================
# Celery: without Redis the in-memory broker keeps imports and `manage.py check` working;
# results are never read back (tasks record their effects in the database).
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "maintenance.scheduler:CodeDefinedScheduler"
# Defined in code; the database scheduler copies these into its tables when beat starts,
# where operators see, pause or retime them in the admin.
CELERY_BEAT_SCHEDULE = {
    "reservations-expire": {"task": "stations.reservations_expire", "schedule": 60.0},
    # charging sessions (charging/session/sweeps.py): starts never plugged in, the 12 h cap,
    # stops the charger never reported
    "sessions-cancel-unplugged": {"task": "charging.sessions_cancel_unplugged", "schedule": 60.0},
    "sessions-stop-overlong": {"task": "charging.sessions_stop_overlong", "schedule": 1800.0},
    "sessions-close-unreported": {"task": "charging.sessions_close_unreported", "schedule": 300.0},
    # top-ups (payments/tasks.py): expired payments re-checked and closed; yesterday's
    # statements reconciled once the providers have closed their day
    "payments-expire": {"task": "payments.expire", "schedule": 3600.0},
    "payments-reconcile": {
        "task": "payments.reconcile",
        "schedule": crontab(minute="30", hour="2"),
    },
}
CELERY_BEAT_SCHEDULE.update(
    {
        # the network's own clockwork: see each task's module
        "stations-liveness": {"task": "stations.liveness_sweep", "schedule": 120.0},
        "maintenance-purge": {
            "task": "maintenance.retention_purge",
            "schedule": crontab(minute="15", hour="3"),
        },
        "accounts-anonymise": {
            "task": "accounts.anonymise_due",
            "schedule": crontab(minute="45", hour="3"),
        },
        "accounts-low-balance": {
            "task": "accounts.low_balance_notices",
            "schedule": crontab(minute="0", hour="9"),
        },
        "maintenance-backup": {
            "task": "maintenance.backup",
            "schedule": crontab(minute="0", hour="1"),
        },
    }
)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
# Tasks are idempotent and claim their work (conditional UPDATE / row locks), so a task
# whose worker died is run again rather than lost; the broker must not hand a task to a
# second worker while the first still runs it: visibility timeout > the longest time limit.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
BACKUP_TIME_LIMIT = env.int("BACKUP_TIME_LIMIT", default=3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": BACKUP_TIME_LIMIT + 600}

# === Retention and backups =======================================================================
# Retention (days) of what the daily purge deletes (maintenance/retention.py)
RETENTION_DAYS = {
    "meter_samples": env.int("RETAIN_METER_SAMPLES_DAYS", default=400),
    # one figure for the OCPP log: the daily purge and `purge_ocpp_log` use the same
    "ocpp_messages": env.int("OCPP_MESSAGE_LOG_RETENTION_DAYS", default=30),
    "idempotency_keys": env.int("RETAIN_IDEMPOTENCY_KEYS_DAYS", default=7),
    "otp_codes": env.int("RETAIN_OTP_CODES_DAYS", default=30),
    "command_records": env.int("RETAIN_COMMAND_RECORDS_DAYS", default=180),
    # what 2.0.1 stations report on their own (NotifyEvent; monitoring, limits... reports)
    "station_events": env.int("RETAIN_STATION_EVENTS_DAYS", default=180),
    "charger_reports": env.int("RETAIN_CHARGER_REPORTS_DAYS", default=180),
}

# Backups (maintenance/backups.py): pg_dump custom format, verified, kept BACKUP_RETENTION_DAYS
BACKUP_DIR = env.str("BACKUP_DIR", default=str(BASE_DIR / "backups-data"))
BACKUP_RETENTION_DAYS = env.int("BACKUP_RETENTION_DAYS", default=30)
BACKUP_RESTORE_CHECK_DAILY = env.bool("BACKUP_RESTORE_CHECK_DAILY", default=False)
BACKUP_PG_BIN_DIR = env.str("BACKUP_PG_BIN_DIR", default="")  # empty: matched to the server
BACKUP_COMPRESS_LEVEL = env.int("BACKUP_COMPRESS_LEVEL", default=6)

# === Notifications to drivers, alerts to operators, e-mail =======================================
# Notifications: push to drivers (accounts/notifications/), alerts to operators
# (evpower/alerts.py)
FCM = {
    "project_id": env.str("FCM_PROJECT_ID", default=""),
    "credentials_file": env.str("FCM_CREDENTIALS_FILE", default=""),  # service account
    "url": env.str("FCM_URL", default="https://fcm.googleapis.com"),
    "token_url": env.str("FCM_TOKEN_URL", default="https://oauth2.googleapis.com/token"),
}
WEBPUSH = {
    "vapid_private_key": env.str("WEBPUSH_VAPID_PRIVATE_KEY", default=""),
    "vapid_subject": env.str("WEBPUSH_VAPID_SUBJECT", default="mailto:ops@evpower.kg"),
}
ALERT_EMAILS = env.list("ALERT_EMAILS", default=[])
TELEGRAM = {
    "bot_token": env.str("TELEGRAM_BOT_TOKEN", default=""),
    "chat_id": env.str("TELEGRAM_CHAT_ID", default=""),
    "api_url": env.str("TELEGRAM_API_URL", default="https://api.telegram.org"),
}
ALERT_MIN_INTERVAL_SECONDS = env.int("ALERT_MIN_INTERVAL_SECONDS", default=900)  # per subject
# the signed webhook channel (evpower/alert_channels.py): both set, or the channel is off
ALERT_WEBHOOK = {
    "url": env.str("ALERT_WEBHOOK_URL", default=""),
    "secret": env.str("ALERT_WEBHOOK_SECRET", default=""),
}
# which channels each severity goes to (configured ones only); empty: the history only
_ALL_CHANNELS = "email,telegram,webhook"
ALERT_ROUTES = {
    severity: tuple(
        name.strip()
        for name in env.str(f"ALERT_ROUTE_{severity.upper()}", default=default).split(",")
        if name.strip()
    )
    for severity, default in (
        ("critical", _ALL_CHANNELS),
        ("high", _ALL_CHANNELS),
        ("medium", _ALL_CHANNELS),
        ("low", ""),
    )
}
if _unknown_channels := {n for route in ALERT_ROUTES.values() for n in route} - {
    "email",
    "telegram",
    "webhook",
}:
    raise ImproperlyConfigured(f"ALERT_ROUTE_*: unknown channels {sorted(_unknown_channels)}")
# Alertmanager's webhook receiver (/alerts/alertmanager): `Authorization: Bearer <token>`;
# empty: the endpoint refuses everything
ALERTMANAGER_WEBHOOK_TOKEN = env.str("ALERTMANAGER_WEBHOOK_TOKEN", default="")
# security events that raise an alert: this many of a kind from one identity or address
# within the window (charger logins refused, forged payment callbacks)
SECURITY_ALERT_BURST = env.int("SECURITY_ALERT_BURST", default=10)
SECURITY_ALERT_WINDOW_SECONDS = env.int("SECURITY_ALERT_WINDOW_SECONDS", default=300)
LOW_BALANCE_THRESHOLD = env.str("LOW_BALANCE_THRESHOLD", default="50.00")
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if not DEBUG
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
# a mail server that wants a login: the account, and STARTTLS (587) or implicit TLS (465)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured(
        "EMAIL_USE_TLS (STARTTLS, port 587) and EMAIL_USE_SSL (implicit TLS, 465): one of them"
    )
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="EvPower <noreply@evpower.kg>")

# === Observability ===============================================================================
# Queries counted and timed by django-prometheus (django_db_* metrics on /metrics): its
# engines are the stock ones with an instrumented cursor.
_PROMETHEUS_DB_ENGINES = {
    "django.db.backends.postgresql": "django_prometheus.db.backends.postgresql",
    "django.db.backends.sqlite3": "django_prometheus.db.backends.sqlite3",
}
DATABASES["default"]["ENGINE"] = _PROMETHEUS_DB_ENGINES.get(
    DATABASES["default"]["ENGINE"], DATABASES["default"]["ENGINE"]
)
# /health/detailed: a staff session or `Authorization: Bearer <HEALTH_TOKEN>` (empty: staff only)
HEALTH_TOKEN = env.str("HEALTH_TOKEN", default="")
# probe answers are reused this long per process, so probes cannot load the database
HEALTH_CACHE_SECONDS = env.float("HEALTH_CACHE_SECONDS", default=2.0)
# a dependency that has not answered within this is reported down (probes must answer in time)
HEALTH_CHECK_TIMEOUT = env.float("HEALTH_CHECK_TIMEOUT", default=2.0)
# beat records a tick every few seconds; older than this it is reported degraded
HEALTH_BEAT_MAX_AGE_SECONDS = env.int("HEALTH_BEAT_MAX_AGE_SECONDS", default=60)
# /metrics: a staff session or `Authorization: Bearer <METRICS_TOKEN>` (empty: staff only),
# and when METRICS_ALLOWED_IPS is set (addresses or CIDR blocks) only from those addresses
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
# `manage.py smoke_check` after a deploy: requests with `X-Smoke-Check: <SMOKE_CHECK_TOKEN>`
# ask for a login code as a dry run (validated and rate-limited, no SMS); empty: no dry runs
SMOKE_CHECK_TOKEN = env.str("SMOKE_CHECK_TOKEN", default="")
if IS_PRODUCTION and (
    _token_problems := operator_token_problems(
        HEALTH_TOKEN=HEALTH_TOKEN,
        METRICS_TOKEN=METRICS_TOKEN,
        SMOKE_CHECK_TOKEN=SMOKE_CHECK_TOKEN,
        ALERTMANAGER_WEBHOOK_TOKEN=ALERTMANAGER_WEBHOOK_TOKEN,
    )
):
    raise ImproperlyConfigured("Refusing to start in production: " + "; ".join(_token_problems))

# === Logging =====================================================================================
# One line per event on stderr: JSON in production (for a log collector), plain text in
# development. The one handler masks secrets and personal data (evpower/logmask.py) and adds
# the correlation id (evpower/correlation.py). Django's, Celery's and uvicorn's loggers go
# through it too: uvicorn configures its own before Django loads, and this replaces their
# handlers once the app is imported (no --log-config needed; their levels stay uvicorn's).
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if IS_PRODUCTION else "plain")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain: {LOG_FORMAT!r}")
_LOCAL_LOGGERS = (
    "evpower",
    "ocpp_bridge",
    "accounts",
    "stations",
    "charging",
    "payments",
    "maintenance",
    "cockpit",
    "celery",
)
_TO_CONSOLE = {"handlers": ["console"], "propagate": False}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "mask": {"()": "evpower.logmask.MaskingFilter"},  # first: it fixes the message
        "correlation_id": {"()": "django_guid.log_filters.CorrelationId"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s %(correlation_id)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": True,
        },
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["mask", "correlation_id"],
        },
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        **{name: {**_TO_CONSOLE, "level": LOG_LEVEL} for name in _LOCAL_LOGGERS},
        # instead of Django's default handlers (unmasked, and one mails admins)
        "django": {**_TO_CONSOLE, "level": "INFO"},
        "django.server": {**_TO_CONSOLE, "level": "INFO"},
        "uvicorn": _TO_CONSOLE,
        "uvicorn.access": _TO_CONSOLE,
    },
}
# Celery workers log through LOGGING too (CeleryIntegration(use_django_logging=True) below
# hooks Celery's setup_logging; without the hook Celery would take over the root logger).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# The correlation id (evpower/correlation.py): X-Request-ID in and out, into Celery tasks.
DJANGO_GUID = {
    "GUID_HEADER_NAME": "X-Request-ID",
    # any id of a safe shape is kept (evpower.correlation.request_id_shape_middleware drops
    # other values first), not only UUIDs as django-guid's own check would
    "VALIDATE_GUID": False,
    # corsheaders sets Access-Control-Expose-Headers (CORS_EXPOSE_HEADERS); django-guid
    # would overwrite it on every answer
    "EXPOSE_HEADER": False,
    "INTEGRATIONS": [CeleryIntegration(use_django_logging=True)],
}

# === The charger edge: OCPP ======================================================================
# OCPP (charger side). See README "Configuration".
OCPP_HEARTBEAT_INTERVAL = env.int("OCPP_HEARTBEAT_INTERVAL", default=300)
OCPP_AUTO_REGISTER = env.bool("OCPP_AUTO_REGISTER", default=False)
OCPP_MAX_FRAME_BYTES = env.int("OCPP_MAX_FRAME_BYTES", default=65536)
OCPP_RATE_PER_SECOND = env.float("OCPP_RATE_PER_SECOND", default=20.0)
OCPP_RATE_BURST = env.int("OCPP_RATE_BURST", default=100)
OCPP_MESSAGE_LOG_ENABLED = env.bool("OCPP_MESSAGE_LOG_ENABLED", default=True)
OCPP_MESSAGE_LOG_RETENTION_DAYS = RETENTION_DAYS["ocpp_messages"]
# Only these peers may vouch for a client certificate via the headers below.
OCPP_TRUSTED_PROXIES = env.list("OCPP_TRUSTED_PROXIES", default=[])
OCPP_CLIENT_CERT_VERIFY_HEADER = env.str(
    "OCPP_CLIENT_CERT_VERIFY_HEADER", default="x-ssl-client-verify"
).lower()
OCPP_CLIENT_CERT_DN_HEADER = env.str(
    "OCPP_CLIENT_CERT_DN_HEADER", default="x-ssl-client-s-dn"
).lower()
# WebSocket front door (evpower/ws_guard.py), per peer address: sockets open in one process,
# and new connections per window in all processes together (the API throttle store)
WS_MAX_CONNECTIONS_PER_IP = env.int("WS_MAX_CONNECTIONS_PER_IP", default=500)
WS_CONNECT_RATE_PER_IP = env.str("WS_CONNECT_RATE_PER_IP", default="300/minute;3000/hour")
OCPP_DATA_TRANSFER_VENDORS = env.list("OCPP_DATA_TRANSFER_VENDORS", default=["org.evpower"])
OCPP_OFFLINE_GRACE_SECONDS = env.int("OCPP_OFFLINE_GRACE_SECONDS", default=60)
# threads (each with its own DB connection) that apply charger messages, per process
OCPP_DB_THREADS = env.int("OCPP_DB_THREADS", default=16)
OCPP_DB_CONN_MAX_AGE = env.int("OCPP_DB_CONN_MAX_AGE", default=300)
# group-commit batches of one kind written at the same time (ocpp_bridge/coalescer.py)
OCPP_BATCH_WRITERS = env.int("OCPP_BATCH_WRITERS", default=2)
# seconds a public map answer is served from the edge cache (stations/edge_cache.py); 0: off
MAP_EDGE_CACHE_SECONDS = env.int("MAP_EDGE_CACHE_SECONDS", default=5)
# seconds a map summary is cached before it is built again (stations/map_cache.py)
MAP_SUMMARY_CACHE_SECONDS = 30
# seconds a charger has to answer one of our calls, and commands that may wait per station
OCPP_CALL_TIMEOUT = env.float("OCPP_CALL_TIMEOUT", default=30.0)
OCPP_COMMAND_QUEUE = env.int("OCPP_COMMAND_QUEUE", default=10)

# === Payments ====================================================================================
# The payment sandbox (payments/sandbox/; development only, production refuses it): it plays
# the providers' side of their real protocols on this server under PAYMENT_SANDBOX_URL +
# "/sandbox/", so a top-up goes through our real client, callback and verification code.
# With it on, the sandboxed providers and their settings default to it; explicit values win.
PAYMENT_SANDBOX = env.bool("PAYMENT_SANDBOX", default=False)
PAYMENT_SANDBOX_URL = env.str("PAYMENT_SANDBOX_URL", default="http://127.0.0.1:8000").rstrip("/")
SANDBOXED_PROVIDERS = ("odengi", "payme", "click")
if IS_PRODUCTION and PAYMENT_SANDBOX:
    raise ImproperlyConfigured(
        "Refusing to start in production: PAYMENT_SANDBOX is on (it fakes the payment providers)"
    )


def _provider_default(real: str, sandboxed: str) -> str:
    return sandboxed if PAYMENT_SANDBOX else real


_SANDBOX = f"{PAYMENT_SANDBOX_URL}/sandbox"

# Payments (docs/product.md §5; payments/topups.py, payments/providers/). A provider is offered
# only when listed here AND configured below; secrets come from the environment only.
PAYMENT_PROVIDERS = env.list(  # odengi, obank, payme, click
    "PAYMENT_PROVIDERS", default=list(SANDBOXED_PROVIDERS) if PAYMENT_SANDBOX else []
)
TOPUP_LIMITS = {
    "min": env.str("TOPUP_MIN", default="10.00"),
    "max": env.str("TOPUP_MAX", default="50000.00"),
}
TOPUP_EXPIRY_MINUTES = env.int("TOPUP_EXPIRY_MINUTES", default=30)
PAYMENT_HTTP_TIMEOUT_SECONDS = env.float("PAYMENT_HTTP_TIMEOUT_SECONDS", default=10.0)
PAYMENT_HTTP_ATTEMPTS = env.int("PAYMENT_HTTP_ATTEMPTS", default=3)
PAYMENT_HTTP_BACKOFF_SECONDS = env.float("PAYMENT_HTTP_BACKOFF_SECONDS", default=0.5)
PAYMENT_BREAKER_FAILURES = env.int("PAYMENT_BREAKER_FAILURES", default=5)
PAYMENT_BREAKER_RESET_SECONDS = env.int("PAYMENT_BREAKER_RESET_SECONDS", default=60)
# reconciliation: an open payment this long past its expiry is reported as stuck
RECONCILE_STUCK_AFTER_HOURS = env.int("RECONCILE_STUCK_AFTER_HOURS", default=2)
# per-provider settings (see each provider's module docstring)
PAYME = {
    "merchant_id": env.str("PAYME_MERCHANT_ID", default=_provider_default("", "sandbox-merchant")),
    "key": env.str("PAYME_KEY", default=_provider_default("", "sandbox-payme-key")),
    "checkout_url": env.str(
        "PAYME_CHECKOUT_URL",
        default=_provider_default("https://checkout.paycom.uz", f"{_SANDBOX}/payme/checkout"),
    ),
}
CLICK = {
    "service_id": env.str("CLICK_SERVICE_ID", default=_provider_default("", "9001")),
    "merchant_id": env.str("CLICK_MERCHANT_ID", default=_provider_default("", "9002")),
    "merchant_user_id": env.str("CLICK_MERCHANT_USER_ID", default=_provider_default("", "9003")),
    "secret_key": env.str(
        "CLICK_SECRET_KEY", default=_provider_default("", "sandbox-click-secret")
    ),
    "pay_url": env.str(
        "CLICK_PAY_URL",
        default=_provider_default("https://my.click.uz/services/pay", f"{_SANDBOX}/click/pay"),
    ),
    "api_url": env.str(
        "CLICK_API_URL",
        default=_provider_default("https://api.click.uz/v2/merchant", f"{_SANDBOX}/click/api"),
    ),
}
ODENGI = {
    "url": env.str(
        "ODENGI_URL",
        default=_provider_default(
            "https://mw-api-test.dengi.kg/api/json/json.php", f"{_SANDBOX}/odengi/api"
        ),
    ),
    "sid": env.str("ODENGI_SID", default=_provider_default("", "1000000001")),
    "password": env.str(
        "ODENGI_PASSWORD", default=_provider_default("", "sandbox-odengi-password")
    ),
    "result_url": env.str(
        "ODENGI_RESULT_URL",
        default=_provider_default("", f"{PAYMENT_SANDBOX_URL}/api/v1/payments/odengi/callback"),
    ),
}
OBANK = {
    "url": env.str("OBANK_URL", default=""),
    "merchant_id": env.str("OBANK_MERCHANT_ID", default=""),
    "cert_path": env.str("OBANK_CERT_PATH", default=""),  # PKCS#12 client certificate
    "cert_password": env.str("OBANK_CERT_PASSWORD", default=""),
    "ca_path": env.str("OBANK_CA_PATH", default=""),  # empty: the system's CAs
    "return_url": env.str("OBANK_RETURN_URL", default=""),
}

if IS_PRODUCTION:
    _provider_problems = provider_problems(
        enabled=PAYMENT_PROVIDERS,
        configs={"payme": PAYME, "click": CLICK, "odengi": ODENGI, "obank": OBANK},
    )
    if _provider_problems:
        raise ImproperlyConfigured(
            "Refusing to start in production: " + "; ".join(_provider_problems)
        )

# === Charging sessions ===========================================================================
# Charging sessions (docs/product.md §4; charging/session/limits.py, sweeps.py). Money in som.
CHARGING_MAX_ACTIVE_SESSIONS = env.int("CHARGING_MAX_ACTIVE_SESSIONS", default=1)  # per client
CHARGING_NO_LIMIT_CAP = env.str("CHARGING_NO_LIMIT_CAP", default="200.00")  # + session fee
CHARGING_MIN_HOLD = env.str("CHARGING_MIN_HOLD", default="10.00")
# stop this many seconds of charging (at the current power) before the limit: the next
# MeterValues would come one sampling interval too late
CHARGING_STOP_LOOKAHEAD_SECONDS = env.int("CHARGING_STOP_LOOKAHEAD_SECONDS", default=30)
CHARGING_PLUG_IN_MINUTES = env.int("CHARGING_PLUG_IN_MINUTES", default=10)
CHARGING_MAX_HOURS = env.int("CHARGING_MAX_HOURS", default=12)
# a stop accepted (or a charger gone) this long without its StopTransaction is billed from
# the last reading; a StopTransaction arriving later is parked if it disagrees
CHARGING_UNREPORTED_STOP_MINUTES = env.int("CHARGING_UNREPORTED_STOP_MINUTES", default=30)
# Live-view news from the charger path (stations/live_delivery.py): posted after the
# charger's answer, never awaited on it; bounded, dropped and counted when Redis is away
# how long a command may take to reach the process holding the charger's socket (the
# channel layer); beyond it the command ends `unreachable` (a driver's start: 503 at once)
OCPP_COMMAND_DELIVERY_SECONDS = env.float("OCPP_COMMAND_DELIVERY_SECONDS", default=3.0)
# how often a driver's realtime socket re-checks its login (a logout or block also closes
# it at once through the channel layer; this catches a message that was lost)
APP_SOCKET_RECHECK_SECONDS = env.float("APP_SOCKET_RECHECK_SECONDS", default=60.0)
# /ws/app/?token= only over TLS (the proxy's X-Forwarded-Proto: https makes it wss for the
# server): a plain-HTTP socket would show the driver's token to anyone on the path
APP_SOCKET_REQUIRE_TLS = env.bool("APP_SOCKET_REQUIRE_TLS", default=IS_PRODUCTION)
# charger password checks (ocpp_bridge/password_gate.py): hashed on threads of their own;
# beyond this many handshakes in progress the next gets 503 + Retry-After before any work
# (at most half the cores by default, niced: the event loop and the database come first)
OCPP_PASSWORD_THREADS = env.int("OCPP_PASSWORD_THREADS", default=max(1, (os.cpu_count() or 2) // 2))
OCPP_PASSWORD_NICE = env.int("OCPP_PASSWORD_NICE", default=10)
OCPP_HANDSHAKE_MAX_PENDING = env.int("OCPP_HANDSHAKE_MAX_PENDING", default=64)
OCPP_HANDSHAKE_RETRY_AFTER = env.int("OCPP_HANDSHAKE_RETRY_AFTER", default=5)
LIVE_DELIVERY_LANES = env.int("LIVE_DELIVERY_LANES", default=16)
LIVE_DELIVERY_BACKLOG = env.int("LIVE_DELIVERY_BACKLOG", default=500)  # per lane
LIVE_DELIVERY_TIMEOUT = env.float("LIVE_DELIVERY_TIMEOUT", default=2.0)
LIVE_DELIVERY_PAUSE = env.float("LIVE_DELIVERY_PAUSE", default=5.0)

# meter plausibility (charging/plausibility.py): energy beyond rated power × time × margin
# is never billed; the session is billed to its last plausible reading and parked for review
CHARGING_PLAUSIBLE_POWER_MARGIN = env.float("CHARGING_PLAUSIBLE_POWER_MARGIN", default=1.25)
CHARGING_PLAUSIBLE_CLOCK_SLACK_SECONDS = env.int(
    "CHARGING_PLAUSIBLE_CLOCK_SLACK_SECONDS", default=60
)
# the rated power assumed for a connector and station without one (kW)
CHARGING_PLAUSIBLE_POWER_CEILING_KW = env.float(
    "CHARGING_PLAUSIBLE_POWER_CEILING_KW", default=400.0
)

# requests slower than this are logged once each, with their route and correlation id
# (evpower/timing.py); every answer carries X-Response-Time
SLOW_REQUEST_SECONDS = env.float("SLOW_REQUEST_SECONDS", default=1.0)
# API reads at least this large are sent gzipped to clients that accept it
COMPRESS_MIN_BYTES = env.int("COMPRESS_MIN_BYTES", default=1024)

# === Error reporting =============================================================================
# Sentry only when a DSN is set; no personal data, every event masked (evpower/sentry.py).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from evpower.sentry import (
        init_sentry,
    )  # only with a DSN: the SDK and its integrations load then

    init_sentry(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default=EVPOWER_ENV),
        release=env.str("SENTRY_RELEASE", default=""),
        # a sample of requests and tasks traced (performance); 0 turns tracing off
        traces_sample_rate=env.float(
            "SENTRY_TRACES_SAMPLE_RATE", default=0.1 if IS_PRODUCTION else 0.0
        ),
    )

# === Admin security ==============================================================================
# Staff sign in to the admin only (drivers use phone codes), so these guard the admin login.
# Brute-force lockout (django-axes): a username from one address is refused after
# AXES_FAILURE_LIMIT wrong passwords or second-factor codes, for the cool-off; a good login
# resets the count. Unlock early: `manage.py axes_reset_username <name>` (or axes_reset_ip).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30))
# username AND address together: an attacker cannot lock a colleague out from elsewhere
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# the socket address only (uvicorn --proxy-headers already takes it from trusted proxies);
# a raw X-Forwarded-For is whatever the caller typed
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
AXES_LOCKOUT_TEMPLATE = "admin/lockout.html"  # answered with 429 Too Many Requests
AXES_HTTP_RESPONSE_CODE = 429

# Two-factor login (django-otp TOTP) for the whole admin. Off in development so the demo
# admin/admin works on a fresh laptop; enrol staff with `manage.py staff_2fa_setup <name>`.
ADMIN_REQUIRE_2FA = env.bool("ADMIN_REQUIRE_2FA", default=IS_PRODUCTION)
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="EvPower")

# Audit log (django-auditlog; models registered in cockpit/audit.py): entries carry the
# request's correlation id, the one in our logs and X-Request-ID
AUDITLOG_CID_GETTER = "django_guid.get_guid"

# === The operator's cockpit (README "The operator's cockpit") ====================================
# Theme: django-unfold (Tailwind, kept up with each Django release, dark mode, sidebar,
# filters, charts). Its sidebar is ours: grouped by job, each entry shown to whoever may
# view its list (cockpit/nav.py).
UNFOLD = {
    "SITE_TITLE": "EvPower",
    "SITE_HEADER": "EvPower",
    "SITE_SUBHEADER": gettext_lazy("Charging network"),
    "SITE_SYMBOL": "ev_station",
    "SITE_FAVICONS": [{"rel": "icon", "type": "image/svg+xml", "href": "cockpit.nav.favicon_url"}],
    "SHOW_LANGUAGES": True,
    "SHOW_HISTORY": True,
    "ENVIRONMENT": "cockpit.nav.environment_badge",
    "DASHBOARD_CALLBACK": "cockpit.dashboard.dashboard_callback",
    "STYLES": ["cockpit.nav.cockpit_stylesheet"],
    "COLORS": {
        "primary": {  # EvPower green
            "50": "oklch(98.2% .018 155.826)",
            "100": "oklch(96.2% .044 156.743)",
            "200": "oklch(92.5% .084 155.995)",
            "300": "oklch(87.1% .15 154.449)",
            "400": "oklch(79.2% .209 151.711)",
            "500": "oklch(72.3% .219 149.579)",
            "600": "oklch(62.7% .194 149.214)",
            "700": "oklch(52.7% .154 150.069)",
            "800": "oklch(44.8% .119 151.328)",
            "900": "oklch(39.3% .095 152.535)",
            "950": "oklch(26.6% .065 152.934)",
        },
    },
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": True,
        "navigation": "cockpit.nav.sidebar_navigation",
    },
}
# The map of locations draws OpenStreetMap tiles by default (their tile usage policy asks
# for a real referer, which the admin sends); point this at your own tile server if needed.
ADMIN_MAP_TILE_URL = env.str(
    "ADMIN_MAP_TILE_URL", default="https://tile.openstreetmap.org/{z}/{x}/{y}.png"
)
