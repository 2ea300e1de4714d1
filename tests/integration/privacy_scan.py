"""The scan of a whole run for the synthetic nation's raw identifiers: every Kafka message
(key, headers, value; Avro container values decoded field by field) and every lake file
(Parquet values, statistics and footer metadata; Iceberg metadata JSON; manifest lists
and manifests decoded, bounds included), each also as raw bytes.

What counts as a secret, by kind (:data:`KINDS`):

* national IDs and NIS numbers: a whole run of digits equal to one (as in
  :meth:`Secrets.found`, so that the NIS number ``000000214`` inside the contribution
  key ``K0000000214`` is not taken for one);
* dates of birth in ISO and in every connector config's date format, anywhere in text;
  written only in digits (``19850602``) as a whole run of digits;
* given and family names of 5 letters or more, anywhere in text, except in business-name
  fields (``employer_name``, ``enterprise_name``: "Charles Contractors Ltd" is a business
  that carries a family name), where only a full name ("Given Family") counts;
* agency person numbers (the NIS number above; the job board's jobseeker numbers and the
  TVET trainee numbers) and the agency row keys of every row that names a person (claim,
  complaint, accident, contribution, enrolment, certification and placement numbers):
  record ids must be opaque (ARCHITECTURE "Privacy"), so none of these may travel. They
  count as a whole key (``J0000042`` not preceded by a letter or digit, not followed by a
  digit).

Typed dates (an Avro ``date`` field, a Parquet ``date32`` column or statistic, an Iceberg
date bound) are not text: an event date (a registration in 1999) can fall on anybody's
birthday by chance — with 3,000 persons about one day in eight between 1940 and 2009 is
somebody's date of birth. A typed date column counts as carrying dates of birth when at
least 3 and more than half of its values are dates of birth of the nation
(:class:`DateColumns`), which an event-date column does not reach and a date-of-birth
column cannot miss.

A finding names the kind and the place, never the value.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import struct
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from tests.connectors.contract.harness import BUSINESS_NAME_FIELDS, Secrets, consumer

NATIONAL_ID = "national ID"
NIS_NUMBER = "NIS number"
NAME = "given or family name"
FULL_NAME = "full name"
DATE_OF_BIRTH = "date of birth"
TYPED_DATE_OF_BIRTH = "date of birth (typed date column)"
PERSON_NUMBER = "agency person number (jobseeker or trainee number)"
ROW_KEY = "agency row key of a person's record"
KINDS = (
    NATIONAL_ID,
    NIS_NUMBER,
    NAME,
    FULL_NAME,
    DATE_OF_BIRTH,
    TYPED_DATE_OF_BIRTH,
    PERSON_NUMBER,
    ROW_KEY,
)

#: Truth tables whose record id is the agency's number for the person.
PERSON_NUMBER_TABLES = {("jobboard", "jobseekers"), ("tvet", "trainees")}
#: An agency key: a few capitals, an optional hyphen, digits (J0000001, CVQ-0000001).
AGENCY_KEY = re.compile(rb"(?<![A-Za-z0-9])[A-Z]{1,4}-?[0-9]{4,12}(?![0-9])")
#: Typed date columns with fewer matches than this are chance.
DOB_COLUMN_MIN = 3
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Finding:
    """A secret of ``kind`` at ``where`` (the value itself is never kept)."""

    kind: str
    where: str

    def __str__(self) -> str:
        return f"{self.kind} in {self.where}"


@dataclass
class Scanner:
    """The nation's raw identifiers (:class:`Secrets` of the contract suite, plus the
    agency person numbers and person-row keys) and the scan of bytes for them."""

    secrets: Secrets
    national_ids: frozenset[bytes]
    nis_numbers: frozenset[bytes]
    person_numbers: frozenset[bytes]
    row_keys: frozenset[bytes]
    birth_dates: frozenset[date]
    _prefixes: dict[bool, frozenset[bytes]] = field(default_factory=dict, repr=False)
    _words: dict[bool, dict[int, frozenset[bytes]]] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, nation: Path, formats: Iterable[str]) -> Scanner:
        secrets = Secrets.of(nation, formats)
        national_ids: set[bytes] = set()
        births: set[date] = set()
        with (nation / "truth" / "persons.csv").open(encoding="utf-8") as f:
            for p in csv.DictReader(f):
                national_ids.add(p["national_id"].encode())
                births.add(date.fromisoformat(p["date_of_birth"]))
        nis: set[bytes] = set()
        person_numbers: set[bytes] = set()
        row_keys: set[bytes] = set()
        with (nation / "truth" / "person_links.csv").open(encoding="utf-8") as f:
            for r in csv.DictReader(f):
                table = (r["agency"], r["table"])
                key = r["record_id"].encode()
                if table == ("nis", "insured_persons"):
                    nis.add(key)
                elif table in PERSON_NUMBER_TABLES:
                    person_numbers.add(key)
                else:
                    row_keys.add(key)
        assert national_ids <= secrets.numbers and nis <= secrets.numbers
        return cls(
            secrets,
            frozenset(national_ids),
            frozenset(nis),
            frozenset(person_numbers),
            frozenset(row_keys),
            frozenset(births),
        )

    # -- kinds ---------------------------------------------------------------------

    def kind_of(self, secret: bytes) -> str:
        if secret in self.national_ids:
            return NATIONAL_ID
        if secret in self.nis_numbers:
            return NIS_NUMBER
        if secret in self.person_numbers:
            return PERSON_NUMBER
        if secret in self.row_keys:
            return ROW_KEY
        if secret in self.secrets.full_names:
            return FULL_NAME
        if secret in self.secrets.dates:
            return DATE_OF_BIRTH
        if secret in self.secrets.names:
            return NAME
        raise AssertionError("a hit that is no secret")  # never repeats the value

    # -- the byte scan ---------------------------------------------------------------

    def _tables(self, single_names: bool) -> tuple[frozenset[bytes], dict[int, frozenset[bytes]]]:
        if single_names not in self._words:
            s = self.secrets
            digit_dates = {d for d in s.dates if d.isdigit()}
            words = s.full_names | (s.dates - digit_dates) | (s.names if single_names else set())
            by_size: dict[int, set[bytes]] = defaultdict(set)
            for w in words:
                by_size[len(w)].add(w)
            self._words[single_names] = {n: frozenset(ws) for n, ws in by_size.items()}
            assert min(len(w) for w in words) >= PREFIX
            self._prefixes[single_names] = frozenset(w[:PREFIX] for w in words)
        return self._prefixes[single_names], self._words[single_names]

    def secrets_in(self, data: bytes, *, single_names: bool = True) -> set[bytes]:
        """Every secret in ``data``: what :meth:`Secrets.found` finds (same rules, a
        prefix filter in front of its window loop, about 20 times faster), plus the
        agency person numbers and row keys."""
        s = self.secrets
        hits: set[bytes] = set()
        digit_dates = {d for d in s.dates if d.isdigit()}
        for run in re.findall(rb"[0-9]{6,}", data):
            if run in s.numbers:
                hits.add(run)
        for run in re.findall(rb"[0-9]{8,}", HEX.sub(b" ", data)):
            if run in digit_dates:
                hits.add(run)
        prefixes, words = self._tables(single_names)
        sizes = sorted(words)
        for run in PRINTABLE.findall(data):
            n = len(run)
            for i in range(n - PREFIX + 1):
                if run[i : i + PREFIX] in prefixes:
                    for size in sizes:
                        if i + size > n:
                            break
                        if run[i : i + size] in words[size]:
                            hits.add(run[i : i + size])
        for key in AGENCY_KEY.findall(data):
            if key in self.person_numbers or key in self.row_keys or key in self.nis_numbers:
                hits.add(key)
        return hits

    def scan(self, data: bytes, where: str, *, single_names: bool = True) -> list[Finding]:
        """The findings in ``data`` (one per kind) at ``where``."""
        kinds = sorted({self.kind_of(h) for h in self.secrets_in(data, single_names=single_names)})
        return [Finding(k, where) for k in kinds]

    def scan_values(
        self, values: Iterable[bytes], where: str, *, single_names: bool = True
    ) -> list[Finding]:
        """Many small values scanned as one text (a separator no secret contains), each
        finding then placed at the first value (``#i``) holding it."""
        items = list(values)
        blob = b"\n".join(items)
        hits = self.secrets_in(blob, single_names=single_names)
        out: dict[str, str] = {}
        for hit in sorted(hits):
            kind = self.kind_of(hit)
            if kind in out:
                continue
            index = next((i for i, v in enumerate(items) if hit in v), None)
            out[kind] = where if index is None else f"{where} #{index}"
        return [Finding(k, w) for k, w in sorted(out.items())]


PREFIX = 5  # every word (name, full name, text date) has at least 5 characters
PRINTABLE = re.compile(rb"[\x20-\x7e]{%d,}" % PREFIX)
#: An opaque id or digest in lowercase hex (record id, batch id, fingerprint): an 8-digit
#: run inside one is chance (the record id 761b19610220ab6d… is nobody's 1961-02-20).
HEX = re.compile(rb"(?<![0-9A-Za-z])[0-9a-f]{16,}(?![0-9A-Za-z])")


# -- typed values ------------------------------------------------------------------------


def as_bytes(value: Any) -> bytes | None:
    """The text a scalar shows (None for a typed date/time, handled by DateColumns)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, datetime | date | timedelta):
        return None
    return str(value).encode()


@dataclass
class DateColumns:
    """Typed dates by column; a column of mostly dates of birth is a finding."""

    values: dict[str, list[date]] = field(default_factory=lambda: defaultdict(list))

    def add(self, column: str, value: Any) -> None:
        if isinstance(value, datetime):
            self.values[column].append(value.date())
        elif isinstance(value, date):
            self.values[column].append(value)

    def findings(self, births: frozenset[date]) -> list[Finding]:
        out = []
        for column, values in sorted(self.values.items()):
            matched = sum(1 for v in values if v in births)
            if matched >= DOB_COLUMN_MIN and matched * 2 > len(values):
                out.append(
                    Finding(
                        TYPED_DATE_OF_BIRTH,
                        f"{column} ({matched} of {len(values)} values are dates of birth)",
                    )
                )
        return out

    def birth_share(self, births: frozenset[date]) -> dict[str, tuple[int, int]]:
        return {
            c: (sum(1 for v in vs if v in births), len(vs)) for c, vs in sorted(self.values.items())
        }


def walk(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every scalar in a decoded Avro/JSON value with its dotted path."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list | tuple):
        for v in value:
            yield from walk(v, path)
    else:
        yield path, value


# -- Kafka -------------------------------------------------------------------------------


@dataclass(frozen=True)
class KafkaRecord:
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    @property
    def where(self) -> str:
        return f"topic {self.topic} partition {self.partition} offset {self.offset}"

    def header(self, name: str) -> str | None:
        return next((v.decode() for n, v in self.headers if n == name), None)


def read_topics(bootstrap: str, topics: Iterable[str], *, idle_s: float = 3.0) -> list[KafkaRecord]:
    """Every message of every partition of ``topics``, read from the beginning by
    polling until nothing arrives for ``idle_s`` seconds (the high watermarks the broker
    reports can lag, so they only serve as a lower bound: reading also goes on while a
    partition holds fewer messages than its watermark says)."""
    c: Consumer = consumer(bootstrap)
    # watermarks from a consumer of its own: asked of the reading one, each waits for
    # the fetch in flight (half a second per partition)
    marks: Consumer = consumer(bootstrap)
    out: list[KafkaRecord] = []
    try:
        parts = []
        for topic in sorted(topics):
            meta = c.list_topics(topic, timeout=10).topics[topic]
            assert meta.error is None and meta.partitions, (topic, meta.error)
            parts += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in sorted(meta.partitions)]
        c.assign(parts)
        seen: dict[tuple[str, int], int] = defaultdict(int)

        def behind() -> list[tuple[str, int]]:
            short = []
            for tp in parts:
                _, high = marks.get_watermark_offsets(
                    TopicPartition(tp.topic, tp.partition), timeout=10
                )
                if seen[(tp.topic, tp.partition)] < high:
                    short.append((tp.topic, tp.partition))
            return short

        last = time.monotonic()
        deadline = last + 120
        while True:
            got = c.consume(num_messages=1000, timeout=0.5)
            for m in got:
                assert m.error() is None, m.error()
                pairs = cast(list[tuple[str, Any]], m.headers() or [])
                headers = tuple((str(n), v if isinstance(v, bytes) else b"") for n, v in pairs)
                record = KafkaRecord(
                    topic=str(m.topic()),
                    partition=int(m.partition() or 0),
                    offset=int(m.offset() or 0),
                    key=m.key() or b"",
                    value=m.value() or b"",
                    headers=headers,
                )
                out.append(record)
                seen[(record.topic, record.partition)] += 1
            now = time.monotonic()
            if got:
                last = now
            # done when nothing came for idle_s and no partition is short of its watermark
            if now - last >= idle_s and not behind():
                break
            assert now < deadline, f"still behind the watermarks: {behind()}"
    finally:
        c.close()
        marks.close()
    return out


def decode_container(value: bytes) -> tuple[dict[str, bytes], dict[str, Any], list[Any]] | None:
    """An Avro object container's metadata, writer schema and records (None if the value
    is not one)."""
    if not value.startswith(b"Obj\x01"):
        return None
    reader = fastavro.reader(io.BytesIO(value))
    records = list(reader)
    meta = {k: v if isinstance(v, bytes) else str(v).encode() for k, v in reader.metadata.items()}
    schema = reader.writer_schema
    return meta, dict(schema) if isinstance(schema, dict) else {}, records


def field_names(schema: Mapping[str, Any]) -> set[str]:
    return {str(f.get("name")) for f in schema.get("fields", []) if isinstance(f, Mapping)}


def scan_kafka(
    scanner: Scanner, records: Iterable[KafkaRecord], dates: DateColumns
) -> tuple[list[Finding], int]:
    """Findings in every message (typed dates go to ``dates``); and the number of decoded
    Avro records."""
    findings: list[Finding] = []
    decoded = 0
    for r in records:
        container = decode_container(r.value)
        business = False
        if container is not None:
            meta, schema, rows = container
            business = bool(BUSINESS_NAME_FIELDS & field_names(schema))
            findings += scanner.scan_values(meta.values(), f"{r.where} value container metadata")
            by_field: dict[str, list[bytes]] = defaultdict(list)
            for row in rows:
                for path, v in walk(row, ""):
                    dates.add(f"topic {r.topic} field {path}", v)
                    b = as_bytes(v)
                    if b is not None:
                        by_field[path].append(b)
            for path, items in sorted(by_field.items()):
                findings += scanner.scan_values(
                    items,
                    f"{r.where} value field {path} record",
                    single_names=path not in BUSINESS_NAME_FIELDS,
                )
            decoded += len(rows)
        elif r.value[:1] == b"{":
            body = json.loads(r.value)
            for path, v in walk(body, ""):
                b = as_bytes(v)
                if b is not None:
                    findings += scanner.scan(b, f"{r.where} value JSON {path}")
        findings += scanner.scan(r.key, f"{r.where} key")
        for name, v in r.headers:
            findings += scanner.scan(name.encode() + b"\n" + v, f"{r.where} header {name}")
        findings += scanner.scan(r.value, f"{r.where} value bytes", single_names=not business)
    return findings, decoded


# -- the lake ----------------------------------------------------------------------------


def table_of(path: Path, warehouse: Path) -> str:
    """``bronze.nis__insured_person`` for a file of that table."""
    parts = path.relative_to(warehouse).parts
    return ".".join(parts[:2]) if len(parts) > 2 else str(path.relative_to(warehouse))


@dataclass
class LakeScan:
    findings: list[Finding] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    parquet_values: int = 0
    statistics: int = 0
    manifest_entries: int = 0
    bounds: int = 0


def scan_parquet(
    scanner: Scanner, path: Path, where: str, table: str, dates: DateColumns, out: LakeScan
) -> None:
    pf = pq.ParquetFile(path)
    arrow = pf.schema_arrow
    business_table = bool(BUSINESS_NAME_FIELDS & set(arrow.names))
    # every value of every column
    data = pf.read()
    for name in data.column_names:
        singles = name not in BUSINESS_NAME_FIELDS
        values = data.column(name).to_pylist()
        out.parquet_values += len(values)
        items = []
        for v in values:
            dates.add(f"lake {table} column {name}", v)
            b = as_bytes(v)
            if b is not None:
                items.append(b)
        out.findings += scanner.scan_values(
            items, f"{where} column {name} row", single_names=singles
        )
    # the footer: statistics of every column chunk, key-value and field metadata
    meta = pf.metadata
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            stats = chunk.statistics
            if stats is None or not stats.has_min_max:
                continue
            name = chunk.path_in_schema
            for label, v in (("min", stats.min), ("max", stats.max)):
                out.statistics += 1
                dates.add(f"lake {table} column {name}", v)
                b = as_bytes(v)
                if b is not None:
                    out.findings += scanner.scan(
                        b,
                        f"{where} row group {g} column {name} statistics {label}",
                        single_names=name not in BUSINESS_NAME_FIELDS,
                    )
    kv = meta.metadata or {}
    for k, v in kv.items():
        texts = [k, v]
        if k == b"ARROW:schema":
            texts.append(base64.b64decode(v))
        out.findings += scanner.scan_values(
            texts, f"{where} footer key-value metadata {k.decode(errors='replace')}"
        )
    fields_meta = [f"{f.name} {f.type} {dict(f.metadata or {})}".encode() for f in arrow] + [
        str(meta.schema).encode(),
        str(meta.created_by).encode(),
    ]
    out.findings += scanner.scan_values(fields_meta, f"{where} footer schema")
    out.findings += scanner.scan(
        path.read_bytes(), f"{where} raw bytes", single_names=not business_table
    )


def decode_bound(kind: str, raw: bytes) -> Any:
    """An Iceberg single-value serialisation as a Python value (bytes if not decoded)."""
    if kind == "date" and len(raw) == 4:
        return EPOCH + timedelta(days=int.from_bytes(raw, "little", signed=True))
    if kind.startswith("timestamp") and len(raw) == 8:
        micros = int.from_bytes(raw, "little", signed=True)
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    if kind in ("int", "long") and len(raw) in (4, 8):
        return int.from_bytes(raw, "little", signed=True)
    if kind == "double" and len(raw) == 8:
        return struct.unpack("<d", raw)[0]
    if kind == "float" and len(raw) == 4:
        return struct.unpack("<f", raw)[0]
    return raw


def iceberg_fields(meta: Mapping[str, bytes]) -> dict[int, tuple[str, str]]:
    """Field id -> (name, type) from a manifest's ``schema`` metadata."""
    raw = meta.get("schema")
    if raw is None:
        return {}
    schema = json.loads(raw)
    return {
        int(f["id"]): (str(f["name"]), f["type"] if isinstance(f["type"], str) else "nested")
        for f in schema.get("fields", [])
    }


def partition_types(meta: Mapping[str, bytes], fields: Mapping[int, tuple[str, str]]) -> list[str]:
    """The result type of each partition field, in order: identity and truncate keep the
    source column's type, day gives a date, year/month/hour/bucket an int."""
    raw = meta.get("partition-spec")
    if raw is None:
        return []
    out = []
    for spec in json.loads(raw):
        transform = str(spec.get("transform", ""))
        if transform == "identity" or transform.startswith("truncate"):
            out.append(fields.get(int(spec["source-id"]), ("", "binary"))[1])
        elif transform == "day":
            out.append("date")
        else:
            out.append("int")
    return out


def scan_avro(
    scanner: Scanner, path: Path, where: str, table: str, dates: DateColumns, out: LakeScan
) -> None:
    with path.open("rb") as f:
        reader = fastavro.reader(f)
        meta = {
            k: v if isinstance(v, bytes) else str(v).encode() for k, v in reader.metadata.items()
        }
        rows: list[dict[str, Any]] = [r for r in reader if isinstance(r, dict)]
    out.findings += scanner.scan_values(meta.values(), f"{where} file metadata")
    fields = iceberg_fields(meta)
    business = {i for i, (name, _) in fields.items() if name in BUSINESS_NAME_FIELDS}
    part_types = partition_types(meta, fields)
    items: dict[str, list[bytes]] = defaultdict(list)
    for i, row in enumerate(rows):
        out.manifest_entries += 1
        data_file = row.get("data_file") or {}
        for label in ("lower_bounds", "upper_bounds"):
            for pair in data_file.get(label) or []:
                out.bounds += 1
                name, kind = fields.get(int(pair["key"]), (f"field {pair['key']}", "binary"))
                v = decode_bound(kind, pair["value"])
                dates.add(f"lake {table} column {name}", v)
                b = as_bytes(v)
                if b is not None:
                    out.findings += scanner.scan(
                        b,
                        f"{where} entry {i} {label} column {name}",
                        single_names=int(pair["key"]) not in business,
                    )
        for j, summary in enumerate(row.get("partitions") or []):  # a manifest list
            kind = part_types[j] if j < len(part_types) else "int"
            for label in ("lower_bound", "upper_bound"):
                if summary.get(label) is not None:
                    out.bounds += 1
                    b = as_bytes(decode_bound(kind, summary[label]))
                    if b is not None:
                        out.findings += scanner.scan(
                            b, f"{where} entry {i} partition summary {j} {label}"
                        )
        for key, v in walk(row, ""):
            dates.add(f"lake {table} manifest field {key}", v)
            b = as_bytes(v)
            if b is not None:
                items[key].append(b)
    for key, values in sorted(items.items()):
        out.findings += scanner.scan_values(
            values, f"{where} field {key} entry", single_names=not business
        )
    out.findings += scanner.scan(path.read_bytes(), f"{where} raw bytes")


def scan_lake(scanner: Scanner, warehouse: Path, dates: DateColumns) -> LakeScan:
    """Every file under the lake warehouse, by what it is, and as raw bytes."""
    out = LakeScan()
    for path in sorted(p for p in warehouse.rglob("*") if p.is_file()):
        where = f"lake file {path.relative_to(warehouse)}"
        table = table_of(path, warehouse)
        if path.suffix == ".parquet":
            out.files["parquet"] += 1
            scan_parquet(scanner, path, where, table, dates, out)
        elif path.suffix == ".avro":
            out.files["avro"] += 1
            scan_avro(scanner, path, where, table, dates, out)
        else:
            out.files[path.suffix.lstrip(".") or "other"] += 1
            out.findings += scanner.scan(path.read_bytes(), f"{where} text")
            if path.suffix == ".json":
                for key, v in walk(json.loads(path.read_bytes()), ""):
                    b = as_bytes(v)
                    if b is not None:
                        out.findings += scanner.scan(b, f"{where} JSON {key}")
    return out


def parquet_with(path: Path, target: Path, **columns: list[Any]) -> Path:
    """A copy of the Parquet file ``path`` at ``target`` with ``columns`` replaced (for
    the positive controls); its key-value metadata is kept."""
    table = pq.read_table(path)
    for name, values in columns.items():
        i = table.column_names.index(name)
        table = table.set_column(i, table.field(i), pa.array(values, table.field(i).type))
    pq.write_table(table, target)
    return target
