"""Django settings for thinkscope, read from the environment.

Two shapes of deployment:

* **Embedded default** (``DATABASE_URL`` unset): SQLite and a Celery broker on the filesystem, all
  under ``THINKSCOPE_DATA_DIR`` (default ``./var``). The secret key is generated once into that
  directory. This is what ``make run`` starts.
* **Production** (``DATABASE_URL`` set, e.g. ``postgres://…``): ``SECRET_KEY`` must be set; Redis is
  the broker when ``REDIS_URL`` is set.

Every key is documented in ``.env.example``.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from app.endpoints import EndpointConfigError, load_endpoints
from app.scorers import load_scorers

BASE_DIR = Path(__file__).resolve().parent.parent


# Every setting below is read through these helpers, so a variable set to an empty (or blank) value
# counts as unset: `.env.example` lists every variable with an empty value, and `THINKSCOPE_X=` must
# mean "the default", never an empty path, host list or number. (django-environ keeps an empty value
# as "", which is why thinkscope reads the environment with these few lines instead.)
def env_str(name: str, default: str = "") -> str:
    """The variable's value, or ``default`` when it is unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or default


def env_int(name: str, default: int) -> int:
    """An integer variable; unset or blank gives ``default``, anything else not an integer is refused."""
    value = env_str(name)
    try:
        return int(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None


def env_float(name: str, default: float) -> float:
    """A number variable; unset or blank gives ``default``, anything else not a number is refused."""
    value = env_str(name)
    try:
        return float(value) if value else default
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}.") from None


def env_bool(name: str, default: bool = False) -> bool:
    """Read a boolean flag from the environment ("1", "true", "yes", "on" are true)."""
    value = env_str(name)
    if not value:
        return default
    return value.lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    """Read a comma-separated list from the environment."""
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DATA_DIR = Path(env_str("THINKSCOPE_DATA_DIR") or BASE_DIR / "var").resolve()


DATABASE_URL = env_str("DATABASE_URL")
EMBEDDED = not DATABASE_URL


def embedded_secret_key(data_dir: Path) -> str:
    """Return the embedded default's secret key, generating it once into the data directory."""
    key_file = data_dir / "secret_key"
    if not key_file.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


DEBUG = env_bool("DEBUG", False)
if env_str("SECRET_KEY"):
    SECRET_KEY = env_str("SECRET_KEY")
elif EMBEDDED:
    SECRET_KEY = embedded_secret_key(DATA_DIR)
else:
    raise ImproperlyConfigured("SECRET_KEY must be set when DATABASE_URL points at a server database.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "traces",
    "workers",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "app.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "app.urls"
WSGI_APPLICATION = "app.wsgi.application"

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
    }
]

if EMBEDDED:
    DATABASES: dict[str, dj_database_url.DBConfig] = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(DATA_DIR / "thinkscope.sqlite3")),
            # The web process, the worker and imports write concurrently: wait instead of failing.
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
            # A file, not memory: the worker processes started by the tests open the same database.
            "TEST": {"NAME": str(DATA_DIR / "test.sqlite3")},
        }
    }
else:
    # Connections are kept a minute; a health check before reuse drops one the server closed.
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "project-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # filled by collectstatic; WhiteNoise warns while it is absent
WHITENOISE_USE_FINDERS = True
# Hashed names, gzip copies, cached for years once collected (app/static_files.py says when they apply).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "app.static_files.StaticFiles"},
}

# Uploads larger than this are refused with a clear message (imports stream from disk instead).
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
THINKSCOPE_MAX_UPLOAD_BYTES = env_int("THINKSCOPE_MAX_UPLOAD_BYTES", 512 * 1024 * 1024)
# An upload is deleted once its import commits; one whose import failed is kept this many hours for
# an operator to look at, then deleted (traces/actions/uploads.py: each import task sweeps, and
# `manage.py sweep_uploads`). Empty means the default.
THINKSCOPE_FAILED_UPLOAD_RETENTION_HOURS = env_float("THINKSCOPE_FAILED_UPLOAD_RETENTION_HOURS", 48)

# --- Security (SECURITY.md says what each covers) -------------------------------------------
# Scripts only from our own files (static/js): no inline script, no inline handler, no eval. Inline
# style attributes are allowed (bar widths), style elements are not. Sent as a header on every response.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Login: this many failures for one username from one address lock it for the window (traces/views/auth.py).
LOGIN_FAILURE_LIMIT = env_int("THINKSCOPE_LOGIN_FAILURE_LIMIT", 5)
LOGIN_FAILURE_WINDOW = env_int("THINKSCOPE_LOGIN_FAILURE_WINDOW", 15 * 60)  # seconds
# Password reset: this many requests for one email, or from one address, refuse more for the window.
PASSWORD_RESET_LIMIT = env_int("THINKSCOPE_PASSWORD_RESET_LIMIT", 5)
PASSWORD_RESET_WINDOW = env_int("THINKSCOPE_PASSWORD_RESET_WINDOW", 60 * 60)  # seconds
# Who may create projects (traces/actions/projects.py): `staff` (the default) or `everyone`. An operator
# creates the others' projects with `manage.py create_project SLUG --owner USER`.
THINKSCOPE_PROJECT_CREATORS = env_str("THINKSCOPE_PROJECT_CREATORS", "staff").lower()
if THINKSCOPE_PROJECT_CREATORS not in ("staff", "everyone"):
    raise ImproperlyConfigured(
        "THINKSCOPE_PROJECT_CREATORS must be 'staff' or 'everyone', "
        f"not {THINKSCOPE_PROJECT_CREATORS!r}."
    )
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    # The limits' counters (traces/ratelimit.py), shared by every web process: Redis in a server
    # deployment, else files under the data directory.
    "rate-limits": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env_str("REDIS_URL")}
        if env_str("REDIS_URL")
        else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(DATA_DIR / "cache")}
    ),
}
SESSION_COOKIE_HTTPONLY = True
# Django's default name, `sessionid`, collides with other Django tools on the same host.
SESSION_COOKIE_NAME = env_str("THINKSCOPE_SESSION_COOKIE_NAME", "sessionid")
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the <meta> tag, not the cookie.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# HTTPS-only cookies, redirect and HSTS: on by default for a server deployment; the embedded
# default and the test suite serve plain http on 127.0.0.1 (THINKSCOPE_HTTPS=0).
HTTPS = env_bool("THINKSCOPE_HTTPS", not DEBUG and not EMBEDDED)
if HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # container healthchecks speak plain http inside the network
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "thinkscope API",
    "DESCRIPTION": "Traces, steps, labels, runs, imports and exports of reasoning traces.",
    "VERSION": "0.1.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # A membership's role, a change's old and new role: one choice set, one name in the schema.
    "ENUM_NAME_OVERRIDES": {"RoleEnum": "traces.models.project.Role"},
}

# --- Celery (docs/concepts.md §4 Workers): `gpu` queue for generation/rollouts/judges, `default` for the rest.
REDIS_URL = env_str("REDIS_URL")
BROKER_DIR = DATA_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # A task not acknowledged within the visibility timeout (its worker was killed: tasks are
    # acks_late) is delivered again; the sweep that finds such tasks runs every interval × throttle s.
    # Keep the timeout above the longest task (a chunk of a generation run): a shorter one re-delivers
    # tasks still running, which are idempotent but do the work twice.
    VISIBILITY_TIMEOUT = env_int("THINKSCOPE_BROKER_VISIBILITY_TIMEOUT", 3600)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "unacked_restore_interval": min(10, VISIBILITY_TIMEOUT),
        "unacked_restore_throttle": 1 if VISIBILITY_TIMEOUT < 600 else 10,
    }
else:
    # kombu's filesystem transport: a real worker process with no broker server to run.
    for folder in ("queue", "processed", "control"):
        (BROKER_DIR / folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),  # broadcast (purge, cancel); default is ./control
        "store_processed": False,
    }
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"workers.tasks.gpu_*": {"queue": "gpu"}}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True  # job status lives on model rows
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# --- Generation: where the embedded model's converted weights are cached.
MODEL_CACHE_DIR = Path(env_str("THINKSCOPE_MODEL_CACHE") or DATA_DIR / "models")
# The endpoints models generate on (servers, API key variables, local folders) are the operator's
# configuration, never a project's: app/endpoints.py describes the file. `embedded` is always there.
# The same file declares the process reward model folders projects may score with (app/scorers.py).
try:
    MODEL_ENDPOINTS = load_endpoints(env_str("THINKSCOPE_ENDPOINTS_FILE") or None)
    PRM_SCORERS = load_scorers(env_str("THINKSCOPE_ENDPOINTS_FILE") or None)
except EndpointConfigError as error:
    raise ImproperlyConfigured(str(error)) from None

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
