"""The one settings object: environment variables `OT_*`, an optional TOML file, then defaults.

Nested sections use a double underscore in the environment: `OT_COLLECTOR__BATCH_SIZE=500`.
Every field carries a docstring; `tests/test_config.py` checks each one is documented in
`docs/operations.md`.
"""

from __future__ import annotations

import ipaddress
import os
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ot import paths


class ServerSettings(BaseModel):
    """The HTTP daemon (`ot serve`)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    host: str = "127.0.0.1"
    """Address to listen on. Use 0.0.0.0 or :: behind a firewall or reverse proxy."""

    port: int = Field(default=8000, ge=0, le=65535)
    """TCP port to listen on (0 picks a free one)."""

    workers: int = Field(default=1, ge=1, le=64)
    """Worker processes sharing the port through SO_REUSEPORT."""

    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    """Addresses or networks of reverse proxies whose X-Forwarded-For header is believed."""

    max_body_bytes: int = Field(default=65536, ge=1024)
    """Largest request body accepted on the collector endpoints; larger ones get 413."""

    public_url: str = ""
    """The URL visitors' browsers reach the collector at, used in printed snippets."""

    shutdown_timeout_seconds: float = Field(default=30.0, gt=0)
    """How long a graceful shutdown (SIGTERM) waits for queued hits to be committed."""


class Durability(StrEnum):
    """What an acknowledged hit survives (`OT_COLLECTOR__DURABILITY`; ot.db applies it)."""

    FULL = "full"  # a power cut or an operating system crash
    PROCESS = "process"  # a crash or kill -9 of `ot serve`, not a power cut


class CollectorSettings(BaseModel):
    """The write path: validation limits, the queue and group commit."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    queue_size: int = Field(default=20000, ge=1)
    """Hits waiting for the writer at most; beyond it the collector answers 503 + Retry-After."""

    batch_size: int = Field(default=500, ge=1)
    """Most hits committed in one transaction."""

    batch_wait_ms: float = Field(default=5.0, ge=0)
    """How long the writer waits to fill a batch once the first hit of it arrived."""

    visit_timeout_minutes: int = Field(default=30, ge=1)
    """A visit ends after this many minutes without a hit."""

    durability: Durability = Durability.FULL
    """What an acknowledged hit survives. `full`: a power cut or an operating system crash
    (SQLite `synchronous=FULL`; PostgreSQL's own `synchronous_commit`, `on` unless changed).
    `process`: a crash or `kill -9` of `ot serve`; a power cut or an operating system crash may
    take the last commits (SQLite `synchronous=NORMAL`), and on PostgreSQL
    (`synchronous_commit=off`) so may a crash of PostgreSQL itself: at most those of the last 3 x
    `wal_writer_delay` (0.6 s by default). The database stays consistent either way. Only hits
    (the collector, access-log imports) are written in this mode; every other write is `full`."""

    own_process: bool = True
    """Enrich and commit hits in a process of their own (one per worker), beside the one that
    answers HTTP: the two share the work on two cores, about a fifth more hits per second than
    one process on this project's two-core benchmark machine, for more CPU per hit (the hits
    cross a socket). `false` keeps the whole write path on the server's event loop: one core,
    one process less."""

    allowed_query_params: list[str] = Field(
        default_factory=lambda: [
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_content",
            "utm_term",
            "ref",
            "source",
            "page",
            "q",
            "query",
            "search",
            "s",
            "id",
            "lang",
        ]
    )
    """Query parameters kept in stored page URLs; every other parameter is dropped."""

    max_props: int = Field(default=30, ge=0)
    """Most custom properties per event (Plausible's limit)."""

    max_prop_key_length: int = Field(default=300, ge=1)
    """Longest custom property name."""

    max_prop_value_length: int = Field(default=2000, ge=1)
    """Longest custom property value."""


class GeoSettings(BaseModel):
    """Country (and optionally city) lookup from offline databases."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    mmdb_path: Path | None = None
    """Optional MaxMind GeoLite2/GeoIP2 City database for region and city; countries come from
    the database bundled with geoip2fast."""


class RollupSettings(BaseModel):
    """Per-day rollups that dashboards over weeks and months read instead of raw hits."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    interval_seconds: float = Field(default=30.0, ge=0)
    """How often `ot serve` brings the rollups up to date (in a process of its own). Figures never
    lag: days not rolled yet are read from the raw hits, so a longer interval only costs
    queries more work. 0 leaves it to `ot-admin rollups run`."""


class StatsSettings(BaseModel):
    """Answering stats queries (the Stats API, shared statistics)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    query_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
    """How long one stats query may take; the database stops it then and the caller gets 503
    "the query took longer than ..." (`ot-admin stats query` too)."""

    query_processes: int = Field(default=2, ge=1, le=64)
    """Stats queries answered at once by each server process, each in a process of its own so
    that no query slows the collector; more wait for a free one (503 after the time above)."""


class AccountSettings(BaseModel):
    """Customer accounts: sessions, passwords, log-in protection."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    session_idle_minutes: int = Field(default=120, ge=1)
    """A session ends after this many minutes without a request."""

    session_absolute_hours: int = Field(default=168, ge=1)
    """A session ends this many hours after log-in, however active (default a week)."""

    password_min_length: int = Field(default=12, ge=8, le=128)
    """Shortest password accepted (no other composition rules; common passwords are refused)."""

    password_hash_memory_kib: int = Field(default=19 * 1024, ge=8)
    """Memory of each argon2id password hash in KiB (OWASP's recommendation: 19456, with 2
    passes). Lower it only for test runs: a cheaper hash is cheaper to guess. Each password is
    hashed again with new values at its owner's next log-in."""

    password_hash_passes: int = Field(default=2, ge=1)
    """Passes (argon2's time cost) of each password hash; see `password_hash_memory_kib`."""

    verification_link_hours: int = Field(default=24, ge=1, le=720)
    """How long an e-mail verification link stays valid; each link works once."""

    login_failures_before_delay: int = Field(default=5, ge=1)
    """Failed log-ins for one e-mail address before each further attempt must wait (2, 4, 8,
    ... seconds)."""

    login_ip_failures_before_delay: int = Field(default=20, ge=1)
    """Failed log-ins from one IP address (any e-mail) before it must wait likewise; higher
    than per account because offices and carriers share addresses."""

    login_max_delay_seconds: int = Field(default=900, ge=1)
    """The longest wait between attempts once log-ins are throttled."""

    login_failures_forgotten_after_minutes: int = Field(default=60, ge=1)
    """Failed log-ins are forgotten this long after the last one."""

    mails_per_address_per_day: int = Field(default=5, ge=1)
    """Mails that others can make us send to one address in 24 hours (registration links and
    notices, new-address links, team invitations); beyond it none is sent, while the answer to
    whoever asked stays the same. Security notices to an account's own address are not held
    back."""

    cookie_secure: bool = False
    """Mark the `ot_session` cookie Secure even on plain-HTTP requests (set it behind a
    TLS-terminating proxy); HTTPS requests always get a Secure cookie."""

    consent_statement_version: str = "2026-11-29"
    """The version of the hosting and transfer statement customers consent to; recorded with
    each consent."""


class MailSettings(BaseModel):
    """Outgoing e-mail (verification links, invitations, log-in notices)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    backend: Literal["outbox", "smtp"] = "outbox"
    """`outbox`: each mail is written as an .eml file to the data folder's `outbox/` (no mail
    server needed); `smtp`: sent through the server below."""

    sender: str = "opentracker <no-reply@localhost>"
    """The From address."""

    smtp_host: str = "localhost"
    """SMTP server host."""

    smtp_port: int = Field(default=587, ge=1, le=65535)
    """SMTP server port."""

    smtp_starttls: bool = True
    """Upgrade the SMTP connection with STARTTLS before logging in."""

    smtp_username: str = ""
    """SMTP user name; empty sends without logging in."""

    smtp_password: str = ""
    """SMTP password (prefer the environment or a file readable only by the service)."""


class AuditSettings(BaseModel):
    """The audit trail's signed checkpoints (see `ot.security.audit_checkpoints`)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    checkpoint_every_entries: int = Field(default=100, ge=1)
    """Sign a checkpoint of the chain's head once this many entries are not yet covered by one."""

    checkpoint_every_minutes: float = Field(default=10.0, gt=0)
    """Sign a checkpoint once the oldest entry not covered by one is this old: a cut-off tail can
    hide at most this much (or the number above) of the trail. `ot-admin audit verify` fails
    when an entry older than this (and a minute) is not covered."""

    signing_key_file: Path | None = None
    """The Ed25519 key that signs checkpoints (made on first use, mode 0600); empty means
    `audit-signing.key` in the data folder. Keep a copy of its public key (`ot-admin audit
    public-key`) apart from the server to verify with."""


class VerificationSettings(BaseModel):
    """How a site's owner proves control of its domain: a DNS TXT record or a file on its web
    server (see `ot.sites.verification`)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    dns_nameservers: list[str] = Field(default_factory=list)
    """Nameservers (IP addresses) asked for the TXT records that prove control of a site's
    domain; empty asks the system's (/etc/resolv.conf)."""

    dns_port: int = Field(default=53, ge=1, le=65535)
    """The port those nameservers answer on."""

    @field_validator("dns_nameservers")
    @classmethod
    def _addresses_only(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(f"'{value}' is not an IP address") from None
        return values


class RightsSettings(BaseModel):
    """The customer's own rights: account deletion, per-site retention, erasure."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    deletion_grace_days: int = Field(default=30, ge=0, le=365)
    """Days between asking for an account's deletion and the purge of its data; during them
    the owner can log in again and cancel."""

    housekeeping_interval_seconds: float = Field(default=3600.0, ge=0)
    """How often `ot serve` deletes hits past each site's retention and purges accounts whose
    grace period is over (in its background process). 0 leaves it to `ot-admin retention run`."""

    batch_size: int = Field(default=5000, ge=1, le=1_000_000)
    """Hits deleted per transaction by retention, erasure and purges, so the collector's writer
    never waits long for the database."""


class ApiSettings(BaseModel):
    """Our own API under /ot/v1: body size and rate limits, HTTPS headers."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    max_body_bytes: int = Field(default=16384, ge=256)
    """Largest request body accepted under /ot/v1; larger ones get 413."""

    rate_per_minute: int = Field(default=120, ge=0)
    """Requests each client IP, and each logged-in account or API key, may make to /ot/v1 per
    minute on average; beyond it they get 429 with Retry-After. 0 turns the limit off."""

    rate_burst: int = Field(default=60, ge=1)
    """Requests a client may make at once before the per-minute rate applies."""

    hsts_max_age_seconds: int = Field(default=31536000, ge=0)
    """Strict-Transport-Security max-age sent on answers served over HTTPS (directly or
    through a trusted proxy's X-Forwarded-Proto); 0 sends none."""


class GrantSettings(BaseModel):
    """Third parties' reads through grants."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    reads_per_hour: int = Field(default=600, ge=0)
    """Reads each grant (its key and its share link together) may make in any hour, counted in
    its reads log across every worker; beyond it they get 429 with Retry-After. 0 turns the
    limit off."""


class PayPalSettings(BaseModel):
    """Payments through PayPal's REST API (`ot.billing.paypal`), with the credentials of a REST
    app from PayPal's developer dashboard."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    client_id: str = ""
    """The REST app's client id; empty means billing through PayPal is off."""

    client_secret: str = ""
    """The REST app's secret (prefer the environment or a file readable only by the service)."""

    mode: Literal["sandbox", "live"] = "sandbox"
    """`sandbox`: PayPal's test environment, where no real money moves; `live`: real payments."""

    endpoint: str = ""
    """PayPal's API base URL; empty means the mode's own (https://api.sandbox.paypal.com or
    https://api.paypal.com). Plain http:// is taken for loopback addresses only (a test
    server)."""

    webhook_id: str = ""
    """The id PayPal gave our webhook when it was registered; PayPal verifies each incoming
    event's signature against it."""

    request_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    """How long a request to PayPal waits to connect, and then for each part of the answer,
    before it is tried again (as the same request, so nothing is charged twice)."""

    @field_validator("endpoint")
    @classmethod
    def _https_unless_loopback(cls, endpoint: str) -> str:
        if not endpoint:
            return endpoint
        # The client's id and secret go there: never in clear text over a network.
        url = urlsplit(endpoint)
        loopback = url.hostname in ("localhost", "127.0.0.1", "::1")
        if url.hostname and (url.scheme == "https" or (url.scheme == "http" and loopback)):
            return endpoint.rstrip("/")
        raise ValueError(
            "must be an https:// URL (http:// only to localhost, 127.0.0.1 or [::1]), "
            "such as https://api.sandbox.paypal.com"
        )


class Plan(BaseModel):
    """One plan customers can be on: a monthly pageview quota and its monthly price."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,39}$")
    """How the plan is named in commands, the API and invoices (`starter`)."""

    monthly_pageviews: int = Field(gt=0)
    """Pageviews a month the price covers; usage beyond it is shown, never cut off."""

    price: Decimal = Field(ge=0, max_digits=10, decimal_places=2)
    """The monthly price in the billing currency, taxes included; 0 issues no invoice."""


def _default_plans() -> list[Plan]:
    return [
        Plan(name="free", monthly_pageviews=10_000, price=Decimal("0")),
        Plan(name="starter", monthly_pageviews=100_000, price=Decimal("9.00")),
        Plan(name="business", monthly_pageviews=1_000_000, price=Decimal("29.00")),
        Plan(name="enterprise", monthly_pageviews=10_000_000, price=Decimal("99.00")),
    ]


class BillingSettings(BaseModel):
    """Plans, invoices and dunning (`ot.billing`); payments go through PayPal (`[paypal]`)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    """The ISO 4217 currency of every price and invoice."""

    plans: list[Plan] = Field(default_factory=_default_plans, min_length=1)
    """The plans, each with its quota and price (as a JSON list in `OT_BILLING__PLANS`)."""

    default_plan: str = "free"
    """The plan of an account no operator has put on another."""

    invoice_prefix: str = Field(default="OT", pattern=r"^[A-Z0-9]{1,10}$")
    """Invoice numbers read PREFIX-YEAR-NNNNNN."""

    payment_days: int = Field(default=14, ge=1, le=120)
    """Days from an invoice's issue to its due date."""

    grace_days: int = Field(default=14, ge=1, le=120)
    """Days past the due date (a reminder is sent at the due date) before the dashboard is
    locked; hits are still collected while it is."""

    issuer: str = "opentracker"
    """Who issues the invoices, as printed at their top (name, address, tax number)."""

    @model_validator(mode="after")
    def _default_plan_is_a_plan(self) -> BillingSettings:
        names = [plan.name for plan in self.plans]
        if len(set(names)) != len(names):
            raise ValueError("plans: each plan needs a name of its own")
        if self.default_plan not in names:
            raise ValueError(
                f"default_plan: {self.default_plan!r} is not one of the plans ({', '.join(names)})"
            )
        return self


class SshSettings(BaseModel):
    """Customers' terminal UI over SSH (`ssh stats@our-host`): sshd asks `ot-admin ssh
    authorized-keys` whose key is offered, and the key's forced command gets its session from
    the server through a Unix socket only the SSH login can reach (docs/operations.md)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    socket: str = ""
    """The Unix socket the server hands SSH sessions out on; empty turns SSH access off."""

    socket_group: str = ""
    """The group given the socket (mode 0660), which the SSH login must be in; empty keeps the
    server's own group."""

    login: str = "stats"
    """The system user customers log in as over SSH: keys are answered for it alone."""

    tui_command: str = ""
    """The `ot` program the forced command runs; empty means the one beside this Python."""


class LogSettings(BaseModel):
    """Logging. Personal data, tokens and secrets are never logged."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Lowest level written."""

    format: Literal["json", "text"] = "json"
    """`json`: one JSON object per line (for log shippers); `text`: for people."""

    access_log: bool = True
    """Log one line per HTTP request (method, path without query, status, duration; no IPs)."""


class Settings(BaseSettings):
    """Everything configurable about opentracker."""

    model_config = SettingsConfigDict(
        env_prefix="OT_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
        use_attribute_docstrings=True,
        hide_input_in_errors=True,  # a refused database URL must not repeat its password
    )

    data_dir: Path = Path("./ot-data")
    """Folder for the embedded database, generated secrets and metric files."""

    database_url: str = ""
    """SQLAlchemy URL; empty means SQLite in the data folder. PostgreSQL:
    `postgresql+asyncpg://user:password@host/dbname`."""

    secrets_file: Path | None = None
    """The file of encryption keys (JSON, mode 0600, made on first start); empty means
    `secrets.json` in the data folder. Point it at a mounted secret to keep the keys out of the
    data folder and its backups; `ot-admin keys rotate` needs to write it."""

    server: ServerSettings = Field(default_factory=ServerSettings)
    """The HTTP daemon."""

    collector: CollectorSettings = Field(default_factory=CollectorSettings)
    """The write path."""

    geo: GeoSettings = Field(default_factory=GeoSettings)
    """Geolocation databases."""

    rollups: RollupSettings = Field(default_factory=RollupSettings)
    """Rollups for fast dashboards."""

    stats: StatsSettings = Field(default_factory=StatsSettings)
    """Stats queries' time budget and processes."""

    accounts: AccountSettings = Field(default_factory=AccountSettings)
    """Customer accounts and their sessions."""

    mail: MailSettings = Field(default_factory=MailSettings)
    """Outgoing e-mail."""

    audit: AuditSettings = Field(default_factory=AuditSettings)
    """The audit trail's signed checkpoints."""

    log: LogSettings = Field(default_factory=LogSettings)
    """Logging."""

    rights: RightsSettings = Field(default_factory=RightsSettings)
    """Account deletion, retention and erasure."""

    api: ApiSettings = Field(default_factory=ApiSettings)
    """Limits and headers of our own API."""

    verification: VerificationSettings = Field(default_factory=VerificationSettings)
    """How sites' domains are verified."""

    grants: GrantSettings = Field(default_factory=GrantSettings)
    """Limits of third parties' reads through grants."""

    paypal: PayPalSettings = Field(default_factory=PayPalSettings)
    """Payments through PayPal."""

    billing: BillingSettings = Field(default_factory=BillingSettings)
    """Plans, invoices and dunning."""

    ssh: SshSettings = Field(default_factory=SshSettings)
    """The terminal UI over SSH."""

    @field_validator("database_url")
    @classmethod
    def _async_driver_only(cls, url: str) -> str:
        if url and not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (async drivers)"
            )
        return url

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{paths.sqlite_path(self.data_dir.resolve())}"

    @property
    def is_embedded_database(self) -> bool:
        return not self.database_url

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if _config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=_config_file))
        return tuple(sources)


# Set only for the duration of `load_settings`, because pydantic-settings asks the class (not the
# instance) for its sources.
_config_file: Path | None = None


def describe_settings_error(error: ValidationError) -> str:
    """One line naming each bad setting by its environment variable, without its value."""
    problems = []
    for problem in error.errors():
        variable = "OT_" + "__".join(str(part).upper() for part in problem["loc"])
        problems.append(f"{variable}: {problem['msg']}")
    return "invalid settings: " + "; ".join(problems)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings once: explicit overrides, then `OT_*` variables, then the TOML file."""
    global _config_file
    if config_file is not None and not config_file.is_file():
        raise FileNotFoundError(f"configuration file not found: {config_file}")
    unknown = sorted(set(_ot_variables()) - set(setting_variables()))
    if unknown:
        # pydantic-settings ignores them; a typo such as OT_SERVER_PORT must not go unnoticed.
        raise ValueError(
            f"unknown setting {', '.join(unknown)} in the environment "
            "(sections are separated by a double underscore: OT_SERVER__PORT)"
        )
    _config_file = config_file
    try:
        return Settings(**overrides)
    finally:
        _config_file = None


def _ot_variables() -> list[str]:
    return [name for name in os.environ if name.upper().startswith("OT_")]


def setting_variables(model: type[BaseModel] = Settings, prefix: str = "OT_") -> list[str]:
    """The environment variable of every setting, sections included (OT_SERVER__PORT)."""
    names = []
    for name, field in model.model_fields.items():
        variable = f"{prefix}{name.upper()}"
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names.append(variable)  # a whole section as JSON
            names.extend(setting_variables(annotation, variable + "__"))
        else:
            names.append(variable)
    return names
