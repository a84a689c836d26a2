"""Settings from environment variables, grouped by concern.

Secrets have no default in code: a missing secret stops the process at start
with a message naming the variable, instead of running with a guessable value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field


class SettingsError(RuntimeError):
    """A required environment variable is missing or malformed."""


def _get(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(name, default)
    if value is None or value == "":
        raise SettingsError(f"environment variable {name} is required / 缺少环境变量 {name}")
    return value


def _bool(value: str) -> bool:
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"not a boolean: {value!r}")


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str
    pool_min: int = 2
    pool_max: int = 10


@dataclass(frozen=True, slots=True)
class RedisSettings:
    url: str
    queue: str = "tenderhall:queue"


@dataclass(frozen=True, slots=True)
class StorageSettings:
    endpoint: str
    access_key: str
    secret_key: str
    secure: bool = False
    region: str = "us-east-1"
    bucket_prefix: str = "tenderhall"

    def bucket(self, name: str) -> str:
        return f"{self.bucket_prefix}-{name}"


@dataclass(frozen=True, slots=True)
class WebSettings:
    session_secret: str
    session_days: int = 7
    secure_cookies: bool = False
    debug: bool = False
    public_url: str = "http://127.0.0.1:8000"
    # answers of the public tender list kept per process (core/readcache.py); 0 keeps none
    read_cache_entries: int = 1024


@dataclass(frozen=True, slots=True)
class LoginSettings:
    """Password guessing: failures counted in Redis per account and per client address.

    An account is locked after ``max_failures`` wrong passwords within ``window_minutes``,
    for ``lock_minutes``; an address after ``address_max_failures`` (several people may
    share one office address, so it is higher). API keys expire after ``api_key_days``
    unless their creator asks for less, and never after more than ``api_key_max_days``.
    """

    max_failures: int = 5
    address_max_failures: int = 20
    window_minutes: int = 15
    lock_minutes: int = 15
    api_key_days: int = 90
    api_key_max_days: int = 365
    key_prefix: str = "tenderhall:login"


@dataclass(frozen=True, slots=True)
class Settings:
    database: DatabaseSettings
    redis: RedisSettings
    storage: StorageSettings
    web: WebSettings
    # the key officers' shares are held under until the lot's key is rebuilt
    # (trading/opening/officers.py): a secret of its own, so that rotating the
    # session secret does not strand them
    share_hold_key: str
    log_json: bool = True
    log_level: str = "INFO"
    # the built-in timestamp authority: certificate (then chain) and key, PEM
    tsa_cert_file: str = ""
    tsa_key_file: str = ""
    # a remote RFC 3161 authority (HTTP); when set it is used instead of the built-in
    # one, and TSA_CERT_FILE, if given, is its published chain (no key)
    tsa_url: str = ""
    # where development CAs live; their CRL, OCSP and root routes are served only
    # when this is set (never in production)
    dev_ca_dir: str = ""
    # the platform's seal on the PDFs it issues (notices, records): certificate
    # (then chain) and key, PEM
    platform_cert_file: str = ""
    platform_key_file: str = ""
    # OCDS: the ocid prefix registered with the Open Contracting Partnership
    ocds_prefix: str = "ocds-th0000"
    # object lock on stored bids: COMPLIANCE (nobody can delete one before its
    # retention ends); GOVERNANCE only where an operator must be able to clean
    # up, as the ingest benchmark does
    bid_lock_mode: str = "COMPLIANCE"
    # the bearer token Prometheus presents at /metrics; unset, /metrics answers 404
    metrics_token: str = ""
    login: LoginSettings = field(default_factory=LoginSettings)
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            database=DatabaseSettings(
                url=_get(env, "DATABASE_URL"),
                pool_min=int(env.get("DATABASE_POOL_MIN", "2")),
                pool_max=int(env.get("DATABASE_POOL_MAX", "10")),
            ),
            redis=RedisSettings(
                url=_get(env, "REDIS_URL"),
                queue=env.get("REDIS_QUEUE", "tenderhall:queue"),
            ),
            storage=StorageSettings(
                endpoint=_get(env, "S3_ENDPOINT"),
                access_key=_get(env, "S3_ACCESS_KEY"),
                secret_key=_get(env, "S3_SECRET_KEY"),
                secure=_bool(env.get("S3_SECURE", "false")),
                region=env.get("S3_REGION", "us-east-1"),
                bucket_prefix=env.get("S3_BUCKET_PREFIX", "tenderhall"),
            ),
            web=WebSettings(
                session_secret=_get(env, "SESSION_SECRET"),
                session_days=int(env.get("SESSION_DAYS", "7")),
                # behind HTTPS, cookies are Secure unless explicitly turned off
                secure_cookies=_bool(env.get(
                    "SECURE_COOKIES",
                    str(env.get("PUBLIC_URL", "").startswith("https://")))),
                debug=_bool(env.get("DEBUG", "false")),
                public_url=env.get("PUBLIC_URL", "http://127.0.0.1:8000"),
                read_cache_entries=_whole(env, "READ_CACHE_ENTRIES", 1024, least=0),
            ),
            share_hold_key=_get(env, "SHARE_HOLD_KEY"),
            log_json=_bool(env.get("LOG_JSON", "true")),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            tsa_cert_file=env.get("TSA_CERT_FILE", ""),
            tsa_key_file=env.get("TSA_KEY_FILE", ""),
            tsa_url=_url(env.get("TSA_URL", ""), "TSA_URL"),
            dev_ca_dir=dev_ca_dir(env=env),
            platform_cert_file=env.get("PLATFORM_CERT_FILE", ""),
            platform_key_file=env.get("PLATFORM_KEY_FILE", ""),
            ocds_prefix=env.get("OCDS_PREFIX", "ocds-th0000"),
            bid_lock_mode=_lock_mode(env.get("BID_LOCK_MODE", "COMPLIANCE")),
            metrics_token=_token(env.get("METRICS_TOKEN", "")),
            login=LoginSettings(
                max_failures=_positive(env, "LOGIN_MAX_FAILURES", 5),
                address_max_failures=_positive(env, "LOGIN_ADDRESS_MAX_FAILURES", 20),
                window_minutes=_positive(env, "LOGIN_WINDOW_MINUTES", 15),
                lock_minutes=_positive(env, "LOGIN_LOCK_MINUTES", 15),
                api_key_days=_positive(env, "API_KEY_DAYS", 90),
                api_key_max_days=_positive(env, "API_KEY_MAX_DAYS", 365),
                key_prefix=env.get("LOGIN_KEY_PREFIX", "tenderhall:login"),
            ),
        )


def _lock_mode(value: str) -> str:
    if value.upper() not in {"COMPLIANCE", "GOVERNANCE"}:
        raise SettingsError(f"BID_LOCK_MODE must be COMPLIANCE or GOVERNANCE, not {value!r}")
    return value.upper()


def _url(value: str, name: str) -> str:
    if value and not value.startswith(("http://", "https://")):
        raise SettingsError(f"{name} must be an http(s) URL, not {value!r}")
    return value


def _token(value: str) -> str:
    # a short token is guessable by anyone who can reach /metrics
    if value and len(value) < 32:
        raise SettingsError("METRICS_TOKEN must be at least 32 characters (e.g. openssl rand -hex 32)")
    return value


def dev_ca_dir(default: str = "", env: Mapping[str, str] | None = None) -> str:
    """Where development CAs live (``DEV_CA_DIR``), read here only: the CA and demo-PKI
    commands, which need no other setting, ask for it alone, with a default of their own."""
    env = os.environ if env is None else env
    return env.get("DEV_CA_DIR", "") or default


def _whole(env: Mapping[str, str], name: str, default: int, *, least: int) -> int:
    raw = env.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if value < least:
        raise SettingsError(f"{name} must be at least {least}, not {value}")
    return value


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    return _whole(env, name, default, least=1)
