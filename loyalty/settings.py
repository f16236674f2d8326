"""All settings come from the environment (django-environ); see README "Production".

Embedded default: SQLite (IMMEDIATE transactions), locmem cache, eager Celery, console email.
Production: DATABASE_URL (PostgreSQL), REDIS_URL (Celery broker and cache), DEBUG off.
"""

import copy
import hashlib
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# The development key is only accepted with DEBUG on; loyalty.apps refuses to start otherwise.
INSECURE_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "import_export",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "loyalty.apps.LoyaltyConfig",
    "members.apps.MembersConfig",
    "rewards.apps.RewardsConfig",
    "campaigns.apps.CampaignsConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "loyalty.middleware.ContentSecurityPolicyMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "loyalty.middleware.ConfigMemoMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "loyalty.middleware.PrivatePagesMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "loyalty.middleware.AdminMfaRequiredMiddleware",
]

ROOT_URLCONF = "loyalty.urls"
WSGI_APPLICATION = "loyalty.wsgi.application"

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
                "django.template.context_processors.i18n",
                "members.context_processors.portal",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so two writers queue instead of failing mid-transaction.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
# Persistent connections: opening a PostgreSQL connection cost more than a whole purchase (about 12 ms
# here), and Django's default (0) opens one per request. Health checks replace a connection that dropped.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", env.bool("CONN_HEALTH_CHECKS", default=True))
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "DATABASE_PREPARED_STATEMENTS", default=True
):
    # loyalty/db.py: the hot statements (purchase posting, account locks, balance reads) are prepared once
    # per connection and run with a generic plan; the threshold is one no other query reaches.
    _options = DATABASES["default"].setdefault("OPTIONS", {})
    _options.setdefault("prepare_threshold", 2**31 - 1)
    _options["options"] = f"{_options.get('options', '')} -c plan_cache_mode=force_generic_plan".strip()
if replica_url := env.str("DATABASE_REPLICA_URL", default=""):
    # A PostgreSQL read replica for the KPI dashboard and the portal's read-only pages (loyalty/replicas.py).
    DATABASES["replica"] = {
        **env.db_url_config(replica_url),
        **{name: copy.deepcopy(DATABASES["default"][name]) for name in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS", "OPTIONS")
           if name in DATABASES["default"]},
        "TEST": {"MIRROR": "default"},
    }
    DATABASE_ROUTERS = ["loyalty.replicas.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
# Every cache key (and the broker's keys, see CELERY_BROKER_TRANSPORT_OPTIONS) is namespaced per install, so
# installs that share a Redis (staging and production, say) never read each other's values or tasks. By
# default the prefix is derived from the database the install uses.
_database = DATABASES["default"]
CACHE_KEY_PREFIX = env.str(
    "CACHE_KEY_PREFIX",
    default="loyalty-" + hashlib.sha256(
        "|".join(str(_database.get(part) or "") for part in ("ENGINE", "HOST", "PORT", "NAME")).encode()
    ).hexdigest()[:12],
)
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": CACHE_KEY_PREFIX}}
    # An admin import is uploaded, previewed, then confirmed, maybe on another web node: keep the file in Redis.
    IMPORT_EXPORT_TMP_STORAGE_CLASS = "import_export.tmp_storages.CacheStorage"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "KEY_PREFIX": CACHE_KEY_PREFIX}}

AUTH_USER_MODEL = "members.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Unknown coupon codes one API key may try per minute before 429 rate_limited.
REWARDS_COUPON_MISSES_PER_MINUTE = env.int("REWARDS_COUPON_MISSES_PER_MINUTE", default=10)
# Look-ups of unknown members (loyalty IDs, emails) one API key may make per minute before 429 rate_limited.
API_LOOKUP_MISSES_PER_MINUTE = env.int("API_LOOKUP_MISSES_PER_MINUTE", default=30)
LOGIN_REDIRECT_URL = "portal:dashboard"
LOGIN_URL = "account_login"

# django-allauth: email only, no username; verification before a till-enrolled member is claimed.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="mandatory")
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_ADAPTER = "members.adapter.AccountAdapter"
# First and last name, the programme terms, marketing consent, and a friend's referral code (filled in from
# /r/<code>): members.forms.SignupForm.
ACCOUNT_SIGNUP_FORM_CLASS = "members.forms.SignupForm"
# allauth's own subject prefix ("[host] ") is replaced by the programme's name as the sender.
ACCOUNT_EMAIL_SUBJECT_PREFIX = ""
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
}
# Two-factor sign-in (django-allauth MFA): an authenticator app (TOTP) and single-use recovery codes, managed
# at /accounts/2fa/. Staff sign in to the admin through allauth's sign-in (/admin/login/ sends them there),
# which asks for a code once TOTP is on; wrong codes count towards the failed-login limit above.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", default="Loyalty admin")
# Staff without TOTP are sent to set it up before any admin page (default: on unless DEBUG).
ADMIN_MFA_REQUIRED = env.bool("ADMIN_MFA_REQUIRED", default=not DEBUG)
# Behind a reverse proxy every request comes from the proxy's address, so the per-IP limits above would
# be shared by all visitors: set TRUSTED_PROXY_COUNT to the number of proxies that append to X-Forwarded-For
# (0, the default, uses the connection's address and ignores the header, which clients can forge).
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("nl", _("Dutch"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# English dates day first ("12 March 2026"), not the US "March 12, 2026" / "03/12/2026" (loyalty/formats/en).
FORMAT_MODULE_PATH = ["loyalty.formats"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Amsterdam")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
if "EMAIL_URL" in env:
    vars().update(env.email_url("EMAIL_URL"))
# The address member emails come from; the programme's name is shown as the sender.
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="loyalty@localhost")
# Where members reach the portal: links and images in emails (which have no request to take it from).
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

# Celery: Redis when REDIS_URL is set, otherwise tasks run in-process (eager).
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Jobs are acknowledged late: a job whose worker died (kill -9, a lost machine) stays unacknowledged in Redis
# and is delivered to another worker once this many seconds have passed since it was taken. It must be longer
# than the longest job (else a job still running is started a second time; harmless, the jobs are
# idempotent, but wasted work): the expiry of 1,000,000 lots takes about 25 s here (README "Performance").
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=900)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "global_keyprefix": f"{CACHE_KEY_PREFIX}:",  # installs sharing a Redis never take each other's tasks
    "unacked_restore_throttle": 1,  # look for abandoned jobs on every sweep (every 10 s), not every tenth
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["loyalty.api.parsers.JSONParser"],  # bounded size and nesting depth
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "loyalty.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Loyalty points API",
    "DESCRIPTION": "REST contract v1 for tills, webshops and scripts.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # /api/docs/ loads Swagger UI from drf-spectacular-sidecar's static files (no CDN).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True},
    "ENUM_NAME_OVERRIDES": {
        "MemberStatusEnum": "members.models.MemberStatus",
        "TransactionKindEnum": "loyalty.models.ledger.TransactionKind",
        "RoundingEnum": "loyalty.models.program.Rounding",
        "ExpiryExtensionEnum": "loyalty.models.program.ExpiryExtension",
        "TierMetricEnum": "loyalty.models.program.TierMetric",
        "TierWindowEnum": "loyalty.models.program.TierWindow",
        "RewardKindEnum": "rewards.models.RewardKind",
        "RedemptionStatusEnum": "rewards.models.RedemptionStatus",
        "RedemptionKindEnum": "rewards.models.REDEMPTION_KIND_CHOICES",
        "PromotionKindEnum": "campaigns.models.promotions.PromotionKind",
    },
}

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Browser protections (README "Security"). The pages load scripts and styles only from our own static files:
# no inline code anywhere (tests/test_security.py checks the templates), so an injected script cannot run.
CONTENT_SECURITY_POLICY = {
    # API answers are JSON for programs, never pages (nosniff): building the policy for each one cost 50 µs on
    # every purchase (loyalty.middleware.ContentSecurityPolicyMiddleware skips it there).
    "EXCLUDE_URL_PREFIXES": ["/api/v1/"],
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# Powerful browser features the pages never use are switched off; copying a referral link needs the clipboard.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    "accelerometer": [], "camera": [], "display-capture": [], "geolocation": [], "gyroscope": [],
    "magnetometer": [], "microphone": [], "midi": [], "payment": [], "usb": [], "clipboard-write": ["self"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
