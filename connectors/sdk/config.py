"""One YAML file per connector, validated with pydantic.

Errors name the key path and what is wrong, e.g.
``source.watermark_column: required for type sql``. Secrets are not written in the
file: the SASL password and the link-key passphrase come from files named here or
from settings at the entry point.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    model_validator,
)

from connectors.sdk.errors import ConnectorConfigInvalid, RecordIdFromIdentifier
from connectors.sdk.mapping import RECORD_ID_IDENTIFIER, MappingSpec
from connectors.sdk.sources.csv import CsvSourceConfig
from connectors.sdk.sources.http import HttpSourceConfig
from connectors.sdk.sources.sql import SqlSourceConfig
from connectors.sdk.tokenise import TOKEN_FIELDS, TokenRules, check_id_lengths
from connectors.sdk.validation import FieldRule
from lmis_hub.settings import KafkaSettings
from lmis_hub.topics import agency_code_problem, dataset_topic
from schemas.catalog import SchemaCatalog, SchemaVersion
from schemas.errors import InvalidSchema, UnknownDataset

_DATASET = re.compile(r"^[a-z][a-z0-9_]*$")

SourceConfig = Annotated[
    CsvSourceConfig | SqlSourceConfig | HttpSourceConfig, Field(discriminator="type")
]


class KafkaConnection(BaseModel):
    """`kafka:` — passed through to the Kafka clients; the password is read from a file."""

    model_config = ConfigDict(extra="forbid")

    bootstrap_servers: str
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "SASL_SSL"
    sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] | None = None
    sasl_username: str | None = None
    sasl_password_file: Path | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    client_id: str = "lmis-connector"

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaConnection:
        if self.security_protocol.startswith("SASL"):
            missing = [
                n
                for n in ("sasl_mechanism", "sasl_username", "sasl_password_file")
                if getattr(self, n) is None
            ]
            if missing:
                raise ValueError(f"{', '.join(missing)} required when security_protocol uses SASL")
        return self

    def settings(self) -> KafkaSettings:
        """The hub's Kafka settings for these values, the password read from its file."""
        password = None
        if self.sasl_password_file is not None:
            try:
                text = self.sasl_password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConnectorConfigInvalid(
                    f"kafka.sasl_password_file: cannot read {self.sasl_password_file} "
                    f"({exc.strerror})"
                ) from exc
            password = SecretStr(text)
        return KafkaSettings(
            bootstrap_servers=self.bootstrap_servers,
            security_protocol=self.security_protocol,
            sasl_mechanism=self.sasl_mechanism,
            sasl_username=self.sasl_username,
            sasl_password=password,
            ssl_cafile=self.ssl_cafile,
            ssl_certfile=self.ssl_certfile,
            ssl_keyfile=self.ssl_keyfile,
            client_id=self.client_id,
        )


class TokeniseConfig(BaseModel):
    """`tokenise:` — where K_link is and the agency's normalisation rules."""

    model_config = ConfigDict(extra="forbid")

    link_key_file: Path
    national_id_lengths: list[int] = Field(default_factory=lambda: [9])
    nis_number_lengths: list[int] = Field(default_factory=lambda: [6, 7, 8, 9])
    date_formats: list[str] = Field(default_factory=lambda: ["%Y-%m-%d"])
    emit: list[str] | None = Field(None, description="Token kinds to emit; default: all.")
    person_ref_scope: str | None = Field(
        None,
        description="Prefix of person_ref values before tokenising, so agency person numbers "
        "cannot collide across agencies; default: the connector's agency.",
    )

    #: The token kinds the connector's schema version carries (set by ConnectorConfig;
    #: None when the schema is not in the packaged catalog): a person dataset's older
    #: version lacks the kinds added since, and sealing refuses a field it does not name.
    _carried: frozenset[str] | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _known_kinds(self) -> TokeniseConfig:
        unknown = sorted(set(self.emit or ()) - set(TOKEN_FIELDS))
        if unknown:
            raise ValueError(f"emit: unknown token kinds {unknown}")
        check_id_lengths(self.national_id_lengths, self.nis_number_lengths)
        return self

    def rules(self, *, regions: frozenset[str] | None = None) -> TokenRules:
        """The tokeniser's rules. ``regions`` is accepted for the callers written when the
        region was tokenised; it is no longer a token kind (it travels in the clear, checked
        against its code list by the validation), so it changes nothing."""
        del regions
        emit = frozenset(self.emit) if self.emit is not None else None
        if self._carried is not None:
            emit = (emit if emit is not None else frozenset(TOKEN_FIELDS)) & self._carried
        return TokenRules(
            national_id_lengths=frozenset(self.national_id_lengths),
            nis_number_lengths=frozenset(self.nis_number_lengths),
            date_formats=tuple(self.date_formats),
            emit=emit,
            person_ref_scope=self.person_ref_scope,
        )


@cache
def load_catalog(schemas_dir: Path | None) -> SchemaCatalog:
    """The packaged schemas, with those of ``schemas_dir`` (a connector's ``schemas_dir``)."""
    return SchemaCatalog.load(extra_dir=schemas_dir)


def _schema_token_kinds(
    agency: str, dataset: str, version: int, schemas_dir: Path | None
) -> frozenset[str] | None:
    """The token kinds a schema version carries; None if there is no such version."""
    try:
        schema = load_catalog(schemas_dir).get(agency, dataset, version)
    except UnknownDataset:
        return None
    return frozenset(schema.token_fields().values())


class ConnectorConfig(BaseModel):
    """A whole connector: who it is, what it reads, how it maps, where it keeps state."""

    model_config = ConfigDict(extra="forbid")

    agency: str = Field(description="The agency's code, as registered at the hub.")
    dataset: str
    schema_major: int = Field(1, ge=1)
    state_dir: Path
    batch_size: int = Field(1000, ge=1, le=100_000)
    source: SourceConfig
    mapping: MappingSpec
    validation: dict[str, FieldRule] = Field(default_factory=dict)
    tokenise: TokeniseConfig
    kafka: KafkaConnection
    signing_key_file: Path | None = Field(
        None, description="Agency Ed25519 private key (PKCS#8 PEM, passphrase-encrypted)."
    )
    agreement_id: str | None = Field(
        None, description="Data-sharing agreement the data flows under."
    )
    agreement_version: int = Field(1, ge=1)
    periodicity: Literal["daily", "weekly", "monthly", "quarterly", "annual"] | None = Field(
        None,
        description="How often the agreement expects this dataset (its `periodicity`); "
        "`lmis-hub connector dag` schedules the connector on it in an agency's Airflow.",
    )
    hub_public_key_file: Path | None = Field(
        None, description="The hub's Ed25519 public key (PEM), to verify receipts."
    )
    resend_after_s: float = Field(600.0, gt=0, description="Resend a batch with no receipt after.")
    schemas_dir: Path | None = Field(
        None,
        description="A folder laid out like the packaged schemas/avro "
        "(<agency>/<dataset>/v<N>.avsc) with the schema of a dataset this release does "
        "not ship, as the LMIS unit hands it over.",
    )

    @model_validator(mode="after")
    def _dataset_name(self) -> ConnectorConfig:
        problem = agency_code_problem(self.agency)
        if problem is not None:
            raise ValueError(f"agency: {problem}")
        if not _DATASET.match(self.dataset):
            raise ValueError("dataset: lower case letters, digits and _ only")
        if self.tokenise.person_ref_scope is None:
            self.tokenise.person_ref_scope = self.agency
        try:
            self.tokenise._carried = _schema_token_kinds(
                self.agency, self.dataset, self.schema_major, self.schemas_dir
            )
        except InvalidSchema as exc:
            raise ValueError(f"schemas_dir: {exc.message}") from exc
        id_field = self.mapping.record_id_field
        spec = self.mapping.fields.get(id_field)
        if spec is None:
            pass  # the schema check at publishing says when a dataset needs one
        elif spec.record_id_of is None:
            spec.record_id_of = self.dataset  # always leaves as an opaque record id
        elif spec.record_id_of != self.dataset:
            raise ValueError(
                f"mapping.fields.{id_field}.record_id_of: must be this dataset ({self.dataset})"
            )
        for name, field in self.mapping.fields.items():
            if field.record_id_of is not None and not _DATASET.match(field.record_id_of):
                raise ValueError(f"mapping.fields.{name}.record_id_of: not a dataset name")
        return self

    @property
    def topic(self) -> str:
        return dataset_topic(self.agency, self.dataset, self.schema_major)

    def catalog(self) -> SchemaCatalog:
        """The schema catalog this connector maps against (packaged + ``schemas_dir``)."""
        return load_catalog(self.schemas_dir)

    def schema_version(self) -> SchemaVersion:
        """The schema version this connector writes (``agency/dataset`` v``schema_major``)."""
        return self.catalog().get(self.agency, self.dataset, self.schema_major)

    @property
    def state_db_path(self) -> Path:
        return self.state_dir / "state.db"


_TYPE_TAGS = {"csv", "sql", "http"}


def _describe(err: Any, data: Any) -> str:
    loc = [str(p) for p in err["loc"]]
    source_type = None
    if len(loc) >= 2 and loc[0] == "source" and loc[1] in _TYPE_TAGS:
        source_type = loc.pop(1)
    path = ".".join(loc) or "(top level)"
    kind = err["type"]
    if kind == "missing":
        what = f"required for type {source_type}" if source_type else "required"
    elif kind == "extra_forbidden":
        what = "unknown key"
    elif kind == "union_tag_invalid":
        what = f"type must be one of {sorted(_TYPE_TAGS)}"
        path = f"{path}.type" if not path.endswith("type") else path
    elif kind == "union_tag_not_found":
        what = f"type is required (one of {sorted(_TYPE_TAGS)})"
    else:
        what = err["msg"].removeprefix("Value error, ")
    return f"{path}: {what}"


def parse_config(data: Any, *, origin: str = "connector config") -> ConnectorConfig:
    """Validate an already loaded document; every problem is named by its key path."""
    try:
        return ConnectorConfig.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        problems = [_describe(err, data) for err in errors]
        message = f"{origin}: " + "; ".join(problems)
        if any(err["type"] == RECORD_ID_IDENTIFIER for err in errors):
            raise RecordIdFromIdentifier(message) from exc
        raise ConnectorConfigInvalid(message) from exc


def load_config(path: Path) -> ConnectorConfig:
    """Read and validate one connector's YAML file; relative paths are kept as written."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConnectorConfigInvalid(f"{path}: cannot be read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConnectorConfigInvalid(f"{path}:{where} is not valid YAML") from exc
    return parse_config(data, origin=str(path))
