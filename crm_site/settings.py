"""Store CRM settings: one file, every deployment choice read from the environment.

Without any environment the site runs on SQLite with in-process background jobs, which is
what `make run` and the SQLite test run use. Production sets DATABASE_URL, REDIS_URL,
SECRET_KEY and ALLOWED_HOSTS (see README.md and docker-compose.yml).
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab  # noqa: F401 - used by the beat schedule entries
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# The default key is an error in `check --deploy` (tenancy/checks.py; Django itself only
# warns), so a production that forgets SECRET_KEY is caught before it serves anything.
SECRET_KEY = env.str(
    "SECRET_KEY", default="django-insecure-development-only-key-do-not-use-in-production"
)
# Personal data at rest (tenancy/encryption.py, docs/customers.md "Encryption at rest"):
# FIELD_ENCRYPTION_KEYS is `kid:base64key` newest first, FIELD_BLIND_INDEX_KEY the HMAC key
# of the phone and name indexes. A deployment (a SECRET_KEY of its own) without them stops
# here: starting with a key nobody keeps would write data that no one can read later. Only
# the development setup (the repository's SECRET_KEY: `make run`, the tests) falls back to
# the public development keys below, which `check --deploy` refuses (tenancy.E003).
DEVELOPMENT_FIELD_ENCRYPTION_KEYS = ["dev:ZGV2ZWxvcG1lbnQtb25seS1maWVsZC1rZXktLS0tLS0="]
DEVELOPMENT_FIELD_BLIND_INDEX_KEY = "ZGV2ZWxvcG1lbnQtb25seS1ibGluZC1pbmRleC1rZXk="
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
FIELD_BLIND_INDEX_KEY = env.str("FIELD_BLIND_INDEX_KEY", default="")
if not (FIELD_ENCRYPTION_KEYS and FIELD_BLIND_INDEX_KEY):
    if not SECRET_KEY.startswith("django-insecure-development-only"):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS and FIELD_BLIND_INDEX_KEY must be set: members' personal "
            "data is encrypted with them (see .env.example and docs/customers.md)."
        )
    FIELD_ENCRYPTION_KEYS = FIELD_ENCRYPTION_KEYS or DEVELOPMENT_FIELD_ENCRYPTION_KEYS
    FIELD_BLIND_INDEX_KEY = FIELD_BLIND_INDEX_KEY or DEVELOPMENT_FIELD_BLIND_INDEX_KEY
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "tenancy.admin_config.CrmAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "axes",
    "csp",
    "django_filters",
    "import_export",
    "tenancy",
    "stores",
    "catalog",
    "customers",
    "interactions",
    "loyalty",
    "campaigns",
    "analytics",
]

MIDDLEWARE = [
    # First, so every log line of the request carries its id.
    "tenancy.logs.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before whitenoise, so static files carry the policy too: every response has it.
    "csp.middleware.CSPMiddleware",
    # Before the Host check (CommonMiddleware): probes come by address. SecurityMiddleware
    # reads no host for /healthz (SECURE_REDIRECT_EXEMPT).
    "tenancy.middleware.HealthzMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tenancy.middleware.TenantMiddleware",
    "tenancy.replica.PinToPrimaryMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crm_site.urls"
WSGI_APPLICATION = "crm_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenancy.context_processors.staff",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the dev server read while a background job writes; IMMEDIATE avoids
    # "database is locked" on upgrade from a read to a write lock.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
else:
    # Behind PgBouncer in transaction mode (DATABASE_POOLED=1) server-side cursors cannot
    # live across transactions, and PgBouncer keeps the connections (docs/scaling.md).
    POOLED = env.bool("DATABASE_POOLED", default=False)
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0 if POOLED else 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = POOLED
    # A streaming replica for dashboards, reports and exports (tenancy/replica.py): only reads
    # marked `reads_from_replica()` go there, and never while it is down or lagging.
    if env.str("DATABASE_REPLICA_URL", default=""):
        DATABASES["replica"] = env.db("DATABASE_REPLICA_URL")
        DATABASES["replica"].update(
            CONN_MAX_AGE=DATABASES["default"]["CONN_MAX_AGE"],
            CONN_HEALTH_CHECKS=True,
            DISABLE_SERVER_SIDE_CURSORS=POOLED,
            TEST={"MIRROR": "default"},
        )
        # A replica that does not answer must not hold a page for long.
        DATABASES["replica"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 2)
DATABASE_ROUTERS = ["tenancy.replica.ReplicaRouter"]
REPLICA_MAX_LAG_SECONDS = env.float("REPLICA_MAX_LAG_SECONDS", default=10.0)
REPLICA_CHECK_SECONDS = env.float("REPLICA_CHECK_SECONDS", default=5.0)
REPLICA_PIN_SECONDS = env.int("REPLICA_PIN_SECONDS", default=10)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The PostgreSQL role the web and worker processes connect as. It must be neither superuser
# nor BYPASSRLS; tenancy refuses such a connection (see tenancy/rls.py).
DATABASE_APP_ROLE = env.str("DATABASE_APP_ROLE", default="crm_app")

# --- Cache, sessions, background jobs ------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# The cache is an accelerator, never a dependency (docs/reliability.md): a Redis that is down
# or slow answers "not cached" within CACHE_TIMEOUT_MS and the page reads PostgreSQL.
CACHE_TIMEOUT_SECONDS = env.int("CACHE_TIMEOUT_MS", default=300) / 1000
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "tenancy.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "crm",
            "OPTIONS": {
                "socket_connect_timeout": CACHE_TIMEOUT_SECONDS,
                "socket_timeout": CACHE_TIMEOUT_SECONDS,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Sessions are written to PostgreSQL first and cached in Redis: with the cache above a Redis
# outage reads them from the database (before, it failed every sign-in). Known limit: a
# sign-out during an outage deletes the row but not a copy Redis kept through the outage
# (a partition, not a restart); docs/reliability.md.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
# Without a broker the jobs run in-process, right after the transaction that queued them
# commits. That keeps `make run` self-contained; with REDIS_URL they go through Redis.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
# Every task is idempotent (claim rows, conditional updates, leases), so a message is acked
# only once its task has finished and one whose worker died is delivered again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Redis hands an unacked message to another worker after the visibility timeout: it must be
# longer than the longest task (1 h time limit) and any countdown, or a task still running
# would be started a second time. Jobs whose worker died are taken over sooner by the jobs
# sweeper (leases, tenancy/jobs.py), not by this timeout.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 2 * 60 * 60,
    "socket_connect_timeout": 2,
}
# Queuing from a web request must not hang on a broker that is down: fail fast, the job's
# row is already committed and the sweeper queues it again (tenancy/jobs.py).
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
CELERY_TIMEZONE = "UTC"
# Every periodic job goes through tenancy.fan_out (one task per tenant) and decides
# "which day" in the tenant's own time zone. Apps add their entries here.
CELERY_BEAT_SCHEDULE: dict[str, dict] = {}
# Proof of life for monitoring: beat queues it, a worker stamps the time in the cache, and
# `manage.py check_heartbeat` (beat's healthcheck) fails when the stamp is too old.
BEAT_HEARTBEAT_SECONDS = env.int("BEAT_HEARTBEAT_SECONDS", default=60)
CELERY_BEAT_SCHEDULE["tenancy-heartbeat"] = {
    "task": "tenancy.heartbeat",
    "schedule": timedelta(seconds=BEAT_HEARTBEAT_SECONDS),
}
# Every 6 hours, so each tenant's new day is picked up soon in its own time zone (idempotent).
CELERY_BEAT_SCHEDULE["stores-reviews-due"] = {
    "task": "tenancy.fan_out",
    "args": ["stores.reviews_mark_due"],
    "schedule": crontab(minute=20, hour="*/6"),
}
CELERY_BEAT_SCHEDULE["stores-sweep-import-uploads"] = {
    "task": "tenancy.fan_out",
    "args": ["stores.sweep_import_uploads"],
    "schedule": crontab(minute=50),
}
CELERY_BEAT_SCHEDULE["interactions-escalate-overdue-cases"] = {
    "task": "tenancy.fan_out",
    "args": ["interactions.escalate_overdue_cases"],
    "schedule": timedelta(minutes=15),
}
CELERY_BEAT_SCHEDULE["interactions-remind-due-follow-ups"] = {
    "task": "tenancy.fan_out",
    "args": ["interactions.remind_due_follow_ups"],
    "schedule": crontab(minute=5),
}
# Hourly: each tenant's new day is picked up soon in its own zone; claim rows keep it once.
CELERY_BEAT_SCHEDULE["interactions-greet-anniversaries"] = {
    "task": "tenancy.fan_out",
    "args": ["interactions.greet_anniversaries"],
    "schedule": crontab(minute=35),
}
# The jobs sweeper: member imports that the broker refused or lost, or whose worker died
# (lease passed), are queued again from their rows; a repeat is a no-op (docs/reliability.md).
CELERY_BEAT_SCHEDULE["customers-sweep-import-jobs"] = {
    "task": "tenancy.fan_out",
    "args": ["customers.sweep_import_jobs"],
    "schedule": timedelta(minutes=1),
}
# Retention policy (customers.privacy): anonymise members inactive for the tenant's N years.
# 03:40 in Beijing, after the nightly aggregates wrote the last purchases; off per tenant
# unless set, and a repeat finds nobody left.
CELERY_BEAT_SCHEDULE["customers-retention"] = {
    "task": "tenancy.fan_out",
    "args": ["customers.retention_anonymise"],
    "schedule": crontab(hour=19, minute=40),
}
# Hourly: personal-data requests due within the tenant's reminder days, and overdue ones, go
# to their owners' inboxes once each (claimed on the request row).
CELERY_BEAT_SCHEDULE["customers-remind-data-requests"] = {
    "task": "tenancy.fan_out",
    "args": ["customers.remind_data_requests"],
    "schedule": crontab(minute=25),
}
CELERY_BEAT_SCHEDULE["analytics-sweep-sale-imports"] = {
    "task": "tenancy.fan_out",
    "args": ["analytics.sweep_sale_imports"],
    "schedule": timedelta(minutes=1),
}
# How long a running import holds its job without renewing the lease (it renews every 5,000
# rows checked and before writing); longer than the longest write of one file.
IMPORT_LEASE_SECONDS = env.int("IMPORT_LEASE_SECONDS", default=10 * 60)
# Example shape: {"task": "tenancy.fan_out", "args": ["stores.rereview_due"],
#                 "schedule": crontab(minute=15)}
# Hourly, so every tenant gets yesterday's aggregates in the first hour after its own
# midnight; the job skips a day that is already built (analytics/aggregation.py).
# Hourly: a sample of the last two days' buyers is asked for a rating (tenant settings
# survey_purchase_sample_rate, survey_purchase_min_days); nobody is asked twice.
# Every 6 hours: last month's points settlement statements of franchise and joint-operation
# stores, once each tenant's month has ended on its own clock; only missing ones are written
# (a draft HQ is reviewing is never replaced by the job).
CELERY_BEAT_SCHEDULE["loyalty-settle-last-month"] = {
    "task": "tenancy.fan_out",
    "args": ["loyalty.settle_last_month"],
    "schedule": crontab(minute=40, hour="*/6"),
}
CELERY_BEAT_SCHEDULE["analytics-purchase-surveys"] = {
    "task": "tenancy.fan_out",
    "args": ["analytics.purchase_surveys"],
    "schedule": crontab(minute=45),
}
CELERY_BEAT_SCHEDULE["analytics-nightly-aggregates"] = {
    "task": "tenancy.fan_out",
    "args": ["analytics.nightly_aggregates"],
    "schedule": crontab(minute=20),
}
# Daily: last month's incentive statements, built once the month is over in the tenant's
# time zone and refreshed daily (late imports) until a manager confirms them.
CELERY_BEAT_SCHEDULE["analytics-incentive-statements"] = {
    "task": "tenancy.fan_out",
    "args": ["analytics.incentive_statements"],
    "schedule": crontab(minute=50, hour="*/6"),
}
# Hourly, after the aggregates: each store's 4-week forecast once yesterday is built (the job
# waits for the aggregates and skips stores already forecast today; analytics/forecasting.py).
CELERY_BEAT_SCHEDULE["analytics-nightly-forecasts"] = {
    "task": "tenancy.fan_out",
    "args": ["analytics.nightly_forecasts"],
    "schedule": crontab(minute=40),
}
# Hourly: "bought together" pairs rebuilt once per local day per tenant
# (analytics/recommendations.py).
CELERY_BEAT_SCHEDULE["analytics-nightly-recommendations"] = {
    "task": "tenancy.fan_out",
    "args": ["analytics.nightly_recommendations"],
    "schedule": crontab(minute=50),
}

# --- Auth and login throttling -----------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "tenancy.membership.CachedModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# How many reverse proxies in front of the site append to X-Forwarded-For. 0 means the
# client talks to gunicorn directly and the header is ignored (it could be forged).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# Sign-in throttling (tenancy/throttle.py): an account + address pair locks after
# LOGIN_FAILURE_LIMIT failures; an account after LOGIN_ACCOUNT_FAILURE_LIMIT from anywhere and
# an address after LOGIN_ADDRESS_FAILURE_LIMIT against any accounts, both only for devices
# the account has not signed in from. Locking the account or the address outright let an
# attacker lock the real person, or a whole store behind one NAT address, out.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
LOGIN_ACCOUNT_FAILURE_LIMIT = env.int("LOGIN_ACCOUNT_FAILURE_LIMIT", default=20)
LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=100)
LOGIN_KNOWN_ADDRESS_DAYS = env.int("LOGIN_KNOWN_ADDRESS_DAYS", default=30)
LOGIN_DEVICE_COOKIE_DAYS = env.int("LOGIN_DEVICE_COOKIE_DAYS", default=180)
AXES_HANDLER = "tenancy.throttle.LoginThrottleHandler"
AXES_LOCKOUT_CALLABLE = "tenancy.throttle.lockout_response"
# Refused attempts during a lock are not counted: the lock ends on time, and an attacker who
# keeps trying cannot keep a pair locked for ever by doing so.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "tenancy.net.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# --- Internationalisation ------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Dates as YYYY-MM-DD in both languages (crm_site/formats/<locale>/formats.py).
FORMAT_MODULE_PATH = ["crm_site.formats"]
# The fallback zone for times shown outside a tenant (each tenant has its own zone). Django also
# sets the process's TZ from it; CI runs the suite once with TIME_ZONE=UTC to prove no rule
# depends on it.
TIME_ZONE = env("TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True
CURRENCY = "CNY"

# --- Static and media files ----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
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
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- Security ------------------------------------------------------------------------------
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # the load balancer probes over plain HTTP
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY_COUNT else None
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_FAILURE_VIEW = "tenancy.errors.csrf_failure"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 12 * 60 * 60
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (django-csp) on every response. Our templates have no inline
# script, style attribute or event handler (tests/tenancy/test_csp.py scans them), so nothing
# inline may run: an injected <script> or onerror= is refused by the browser even if it
# slipped past escaping.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="crm@localhost")

# LOG_FORMAT=json: one JSON object per line with request id, tenant and task id
# (tenancy/logs.py), for a log collector; "text" (default) for people.
LOG_FORMAT = env.str("LOG_FORMAT", default="text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "tenancy.logs.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            **({"formatter": "json"} if LOG_FORMAT == "json" else {}),
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}

# Loyalty: expiry is decided by each lot's expiry instant (local month end), so an hourly
# run expires points within the hour in every tenant's zone; a repeat changes nothing.
CELERY_BEAT_SCHEDULE["loyalty-expire-points"] = {
    "task": "tenancy.fan_out",
    "args": ["loyalty.expire_points"],
    "schedule": crontab(minute=5),
}
# Points pending in a sale's return window become spendable within the hour after it ends;
# a repeat finds nothing left to release.
CELERY_BEAT_SCHEDULE["loyalty-release-pending"] = {
    "task": "tenancy.fan_out",
    "args": ["loyalty.release_pending"],
    "schedule": crontab(minute=15),
}
CELERY_BEAT_SCHEDULE["loyalty-evaluate-tiers"] = {
    "task": "tenancy.fan_out",
    "args": ["loyalty.evaluate_tiers"],
    "schedule": crontab(hour=17, minute=20),  # 01:20 in Beijing
}
CELERY_BEAT_SCHEDULE["loyalty-notify-expiring"] = {
    "task": "tenancy.fan_out",
    "args": ["loyalty.notify_expiring"],
    "schedule": crontab(hour=1, minute=30),  # 09:30 in Beijing
}

# Campaigns: due campaigns and the outbox every minute (retries with backoff, messages held
# for quiet hours); birthdays every 15 minutes, each tenant greeting at its own local time
# (the claim rows make every repeat a no-op).
CELERY_BEAT_SCHEDULE["campaigns-run-due"] = {
    "task": "tenancy.fan_out",
    "args": ["campaigns.run_due"],
    "schedule": timedelta(minutes=1),
}
CELERY_BEAT_SCHEDULE["campaigns-dispatch"] = {
    "task": "tenancy.fan_out",
    "args": ["campaigns.dispatch"],
    "schedule": timedelta(minutes=1),
}
CELERY_BEAT_SCHEDULE["campaigns-birthdays"] = {
    "task": "tenancy.fan_out",
    "args": ["campaigns.birthday_fan_out"],
    "schedule": crontab(minute="*/15"),
}
CELERY_BEAT_SCHEDULE["campaigns-points-expiry-notices"] = {
    "task": "tenancy.fan_out",
    "args": ["campaigns.points_expiry_notices"],
    "schedule": crontab(hour=2, minute=0),  # 10:00 in Beijing, after loyalty writes them
}

# Sender backend per channel (dotted class paths); the default records into the outbox only.
CAMPAIGN_SENDERS = {
    "sms": env.str("CAMPAIGN_SMS_BACKEND", default="campaigns.senders.OutboxSender"),
    "wechat": env.str("CAMPAIGN_WECHAT_BACKEND", default="campaigns.senders.OutboxSender"),
    "email": env.str("CAMPAIGN_EMAIL_BACKEND", default="campaigns.senders.OutboxSender"),
    "in_store": "campaigns.senders.OutboxSender",
}
CAMPAIGN_SMS_URL = env.str("CAMPAIGN_SMS_URL", default="")
CAMPAIGN_SMS_API_KEY = env.str("CAMPAIGN_SMS_API_KEY", default="")
CAMPAIGN_SMS_SIGN = env.str("CAMPAIGN_SMS_SIGN", default="")
# The gateway's batch endpoint (many numbers in one call); empty sends one number per call.
CAMPAIGN_SMS_BATCH_URL = env.str("CAMPAIGN_SMS_BATCH_URL", default="")
CAMPAIGN_SMS_BATCH_SIZE = env.int("CAMPAIGN_SMS_BATCH_SIZE", default=100)
# Provider calls in flight at once per worker process (batches, or single messages for a
# provider that cannot batch).
CAMPAIGN_SEND_CONCURRENCY = env.int("CAMPAIGN_SEND_CONCURRENCY", default=8)
# Shared with the SMS provider: it signs each reply callback (HMAC-SHA256 of the body).
# Empty refuses every callback.
CAMPAIGN_SMS_REPLY_SECRET = env.str("CAMPAIGN_SMS_REPLY_SECRET", default="")
CAMPAIGN_WECHAT_URL = env.str("CAMPAIGN_WECHAT_URL", default="")
CAMPAIGN_WECHAT_ACCESS_TOKEN = env.str("CAMPAIGN_WECHAT_ACCESS_TOKEN", default="")
CAMPAIGN_WECHAT_TEMPLATE_ID = env.str("CAMPAIGN_WECHAT_TEMPLATE_ID", default="")
CAMPAIGN_EMAIL_SUBJECT = env.str("CAMPAIGN_EMAIL_SUBJECT", default="")
