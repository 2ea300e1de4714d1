"""The schema catalog: every dataset's versions, their fingerprints and schema resolution.

Schemas are read from ``schemas/avro/<agency>/<dataset>/v<N>.avsc`` (package data), parsed
with fastavro and fingerprinted with CRC-64-AVRO of their Parsing Canonical Form
(:mod:`schemas.fingerprint`). The newest version of a dataset is its *reader* schema: data
written with any older version is resolved to it by Avro schema resolution.

Schema attributes the hub relies on (checked when the catalog loads):

* ``lmis.agency``, ``lmis.dataset``, ``lmis.version`` — must match the file's place;
* ``lmis.event_date`` — the date field the lake partitions on;
* ``lmis.record_id`` — the field holding the record's opaque id (see :mod:`schemas.record_ids`);
* every field has a ``doc``; token fields carry ``"token": "<kind>"``; classification
  fields carry ``"codelist": "<list>"``.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, cast

import fastavro
import yaml
from fastavro.schema import SchemaParseException

from lmis_hub.tokens import RETIRED_TOKEN_KINDS, token_field
from lmis_hub.tokens import TOKEN_KINDS as CONTRACT_TOKEN_KINDS
from lmis_hub.topics import agency_code_problem, dataset_topic
from schemas.errors import InvalidSchema, UnknownDataset, UnknownSchema
from schemas.fingerprint import fingerprint, fingerprint_bytes, fingerprint_hex

MODES = (
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
)
#: Kinds a schema version may carry: the contract's, and the retired ones that versions
#: published before their retirement still name (no connector emits them any more).
TOKEN_KINDS = frozenset(CONTRACT_TOKEN_KINDS) | frozenset(RETIRED_TOKEN_KINDS)
_VERSION_FILE = re.compile(r"^v([1-9][0-9]*)\.avsc$")


@dataclass(frozen=True, eq=False)
class SchemaVersion:
    """One version of one dataset's schema."""

    agency: str
    dataset: str
    version: int
    raw: Mapping[str, Any] = field(repr=False)
    parsed: Any = field(repr=False)
    fingerprint: int

    @property
    def key(self) -> str:
        return f"{self.agency}/{self.dataset}"

    @property
    def fingerprint_bytes(self) -> bytes:
        return fingerprint_bytes(self.fingerprint)

    @property
    def fingerprint_hex(self) -> str:
        return fingerprint_hex(self.fingerprint)

    @property
    def topic(self) -> str:
        return dataset_topic(self.agency, self.dataset, self.version)

    @property
    def event_date_field(self) -> str:
        return str(self.raw["lmis.event_date"])

    @property
    def record_id_field(self) -> str:
        return str(self.raw["lmis.record_id"])

    @property
    def fields(self) -> list[dict[str, Any]]:
        return list(self.raw["fields"])

    def token_fields(self) -> dict[str, str]:
        """Field name -> token kind, for every token field (a field of an array kind,
        :data:`lmis_hub.tokens.ARRAY_TOKEN_KINDS`, holds a list of tokens)."""
        return {f["name"]: f["token"] for f in self.raw["fields"] if "token" in f}


def _check(raw: Any, where: str, agency: str, dataset: str, version: int) -> None:
    if not isinstance(raw, dict) or raw.get("type") != "record":
        raise InvalidSchema(f"{where}: the top level must be a record schema")
    expected = {"lmis.agency": agency, "lmis.dataset": dataset, "lmis.version": version}
    for attr, value in expected.items():
        if raw.get(attr) != value:
            raise InvalidSchema(
                f"{where}: attribute {attr} must be {value!r}, is {raw.get(attr)!r}"
            )
    if not raw.get("doc"):
        raise InvalidSchema(f"{where}: the record has no doc")
    names = {f.get("name") for f in raw.get("fields", [])}
    for attr in ("lmis.event_date", "lmis.record_id"):
        if raw.get(attr) not in names:
            raise InvalidSchema(f"{where}: {attr} names {raw.get(attr)!r}, which is not a field")
    for f in raw["fields"]:
        if not f.get("doc"):
            raise InvalidSchema(f"{where}: field {f.get('name')!r} has no doc")
        kind = f.get("token")
        if kind is not None and (kind not in TOKEN_KINDS or f["name"] != token_field(kind)):
            raise InvalidSchema(
                f"{where}: field {f['name']!r} has token kind {kind!r}; "
                "token fields are named <kind>_token with a kind from the shared contract"
            )


class SchemaCatalog:
    """All schema versions, by dataset and by fingerprint, and each dataset's compatibility mode."""

    def __init__(
        self, versions: list[SchemaVersion], *, modes: Mapping[str, str], default_mode: str
    ) -> None:
        self._by_dataset: dict[str, list[SchemaVersion]] = {}
        self._by_fingerprint: dict[int, SchemaVersion] = {}
        for sv in sorted(versions, key=lambda s: (s.agency, s.dataset, s.version)):
            self._by_dataset.setdefault(sv.key, []).append(sv)
            other = self._by_fingerprint.get(sv.fingerprint)
            if other is not None:
                raise InvalidSchema(
                    f"{sv.key} v{sv.version} has the same fingerprint as "
                    f"{other.key} v{other.version}; a version must change the schema"
                )
            self._by_fingerprint[sv.fingerprint] = sv
        self._modes = dict(modes)
        self.default_mode = default_mode

    @classmethod
    def load(
        cls, root: Traversable | None = None, *, extra_dir: Traversable | None = None
    ) -> SchemaCatalog:
        """Read every .avsc under ``root`` (default: the packaged ``schemas/avro``) and,
        when given, under ``extra_dir`` (laid out the same way: the schemas of agencies
        and datasets added after this release, ``HUB_SCHEMAS__EXTRA_DIR``). A version
        present in both is refused; so is an ``extra_dir`` that does not exist."""
        roots = [root or resources.files("schemas").joinpath("avro")]
        if extra_dir is not None:
            if not extra_dir.is_dir():
                raise InvalidSchema(f"schema folder {extra_dir} does not exist")
            roots.append(extra_dir)
        versions: list[SchemaVersion] = []
        seen: set[tuple[str, str, int]] = set()
        default_mode = "FULL_TRANSITIVE"
        modes: dict[str, str] = {}
        for n, folder in enumerate(roots):
            for sv in cls._read_folder(folder):
                if (sv.agency, sv.dataset, sv.version) in seen:
                    raise InvalidSchema(
                        f"{sv.key} v{sv.version} is in {folder} and in an earlier schema "
                        "folder; a version is defined once"
                    )
                seen.add((sv.agency, sv.dataset, sv.version))
                versions.append(sv)
            config_file = folder.joinpath("catalog.yaml")
            config: dict[str, Any] = {}
            if config_file.is_file():
                config = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
            if n == 0:
                default_mode = str(config.get("default", default_mode))
            modes.update({str(k): str(v) for k, v in (config.get("datasets") or {}).items()})
        for name, mode in [("default", default_mode), *modes.items()]:
            if mode not in MODES:
                raise InvalidSchema(
                    f"catalog.yaml: {name}: unknown compatibility mode {mode!r}; "
                    f"use one of {', '.join(MODES)}"
                )
        return cls(versions, modes=modes, default_mode=default_mode)

    @classmethod
    def _read_folder(cls, root: Traversable) -> Iterator[SchemaVersion]:
        for agency_dir in sorted(root.iterdir(), key=lambda t: t.name):
            if not agency_dir.is_dir() or agency_dir.name.startswith(("_", ".")):
                continue
            problem = agency_code_problem(agency_dir.name)
            if problem is not None:
                raise InvalidSchema(f"{root}: folder {agency_dir.name}: {problem}")
            for dataset_dir in sorted(agency_dir.iterdir(), key=lambda t: t.name):
                if not dataset_dir.is_dir() or dataset_dir.name.startswith(("_", ".")):
                    continue
                for file in sorted(dataset_dir.iterdir(), key=lambda t: t.name):
                    match = _VERSION_FILE.match(file.name)
                    if match:
                        yield cls._read(file, agency_dir.name, dataset_dir.name, int(match[1]))

    @staticmethod
    def _read(file: Traversable, agency: str, dataset: str, version: int) -> SchemaVersion:
        where = f"{agency}/{dataset}/{file.name}"
        try:
            raw = json.loads(file.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidSchema(f"{where}: not valid JSON: {exc}") from exc
        _check(raw, where, agency, dataset, version)
        try:
            parsed = fastavro.parse_schema(raw, _write_hint=False)
        except (SchemaParseException, KeyError, TypeError, ValueError) as exc:
            raise InvalidSchema(f"{where}: not a valid Avro schema: {exc}") from exc
        return SchemaVersion(agency, dataset, version, raw, parsed, fingerprint(raw))

    # Look-ups -------------------------------------------------------------------

    def datasets(self) -> list[str]:
        """Every dataset as ``agency/dataset``."""
        return list(self._by_dataset)

    def __iter__(self) -> Iterator[SchemaVersion]:
        for versions in self._by_dataset.values():
            yield from versions

    def versions(self, agency: str, dataset: str) -> list[SchemaVersion]:
        key = f"{agency}/{dataset}"
        if key not in self._by_dataset:
            raise UnknownDataset(f"no schema for dataset {key}")
        return list(self._by_dataset[key])

    def current(self, agency: str, dataset: str) -> SchemaVersion:
        """The newest version: the reader schema everything is resolved to."""
        return self.versions(agency, dataset)[-1]

    def get(self, agency: str, dataset: str, version: int | None = None) -> SchemaVersion:
        if version is None:
            return self.current(agency, dataset)
        for sv in self.versions(agency, dataset):
            if sv.version == version:
                return sv
        raise UnknownDataset(f"dataset {agency}/{dataset} has no version {version}")

    def by_fingerprint(self, value: int | bytes | str) -> SchemaVersion:
        """The writer schema with this fingerprint (int, 8 wire bytes or 16 hex digits)."""
        if isinstance(value, str):
            try:
                value = bytes.fromhex(value)
            except ValueError:
                raise UnknownSchema(f"schema fingerprint {value!r} is not hex") from None
        if isinstance(value, bytes):
            if len(value) != 8:
                raise UnknownSchema(f"schema fingerprint must be 8 bytes, got {len(value)}")
            value = int.from_bytes(value, "little")
        sv = self._by_fingerprint.get(value)
        if sv is None:
            raise UnknownSchema(f"no schema with fingerprint {fingerprint_hex(value)}")
        return sv

    def mode(self, agency: str, dataset: str) -> str:
        """The dataset's compatibility mode (from catalog.yaml, else the default)."""
        return self._modes.get(f"{agency}/{dataset}", self.default_mode)

    # Resolution -----------------------------------------------------------------

    def resolve(self, datum: bytes, writer: SchemaVersion) -> dict[str, Any]:
        """Decode one schemaless datum written with ``writer`` as the current reader version."""
        reader = self.current(writer.agency, writer.dataset)
        record = fastavro.schemaless_reader(io.BytesIO(datum), writer.parsed, reader.parsed)
        return cast(dict[str, Any], record)
