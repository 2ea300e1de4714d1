"""Privacy of a whole demo run (issue 11): no Kafka message of the run and no lake file
(Parquet data and statistics, Iceberg metadata, manifest lists and manifests) holds any
of the synthetic nation's raw national IDs, NIS numbers, names, dates of birth or agency
person numbers.

One real ``lmis-hub demo`` on a throwaway data directory (the embedded broker, SQLite
hub database, the lake folder), as ``tests/hub_api/test_demo.py`` runs it. While the
stack runs, a tampered copy of a real delivery carrying raw identifiers is put on the
jobseeker topic and ``lmis-hub ingest run`` quarantines it, so the quarantine topic and
a rejection receipt are part of what is scanned (the tampered message itself is the
positive control for the Kafka scan). What counts as a secret and how each kind is
matched is in :mod:`tests.integration.privacy_scan`.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import pyarrow.parquet as pq
import pytest
from confluent_kafka import Producer
from kafka.admin import KafkaAdminClient

from connectors.sdk.config import load_config
from infra.broker import free_port
from lmis_hub.kafka import librdkafka_config
from lmis_hub.settings import KafkaSettings
from tests.connectors.contract.harness import date_formats, is_sqlite, sqlite_cells
from tests.hub_api.test_cli import run_cli
from tests.integration.privacy_scan import (
    DATE_OF_BIRTH,
    FULL_NAME,
    NAME,
    NATIONAL_ID,
    NIS_NUMBER,
    PERSON_NUMBER,
    ROW_KEY,
    TYPED_DATE_OF_BIRTH,
    DateColumns,
    Finding,
    KafkaRecord,
    LakeScan,
    Scanner,
    decode_container,
    parquet_with,
    read_topics,
    scan_avro,
    scan_kafka,
    scan_lake,
    scan_parquet,
)

pytestmark = pytest.mark.slow

#: Persons of the nation: with 3,000 every agency holds people with names, IDs and
#: dates of birth (about 90 TVET trainees, 340 jobseekers, 28 complaints, 13 accidents,
#: 2,400 insured persons) and the NIS contributions come in several batches; the demo
#: takes about 17 s on it.
PERSONS = 3000
#: The dataset whose topic (any schema major) the tampered delivery goes to: its records
#: carry names and dates.
TAMPERED_DATASET = "lmis.jobboard.jobseeker."


@dataclass
class Run:
    data: Path
    report: dict[str, Any]
    ingest: dict[str, Any]
    scanner: Scanner
    topics: list[str]
    messages: list[KafkaRecord]  # every message of the run but the tampered one
    tampered: KafkaRecord
    seconds: dict[str, float]


def locate(findings: list[Finding]) -> str:
    """The findings by kind and place (never a value), for an assertion message."""
    by_kind: dict[str, list[str]] = defaultdict(list)
    for f in findings:
        by_kind[f.kind].append(f.where)
    return "\n".join(
        f"{kind}: {len(places)} place(s), e.g. " + "; ".join(places[:5])
        for kind, places in sorted(by_kind.items())
    )


def kinds(findings: list[Finding]) -> set[str]:
    return {f.kind for f in findings}


def list_topics(bootstrap: str) -> list[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return sorted(admin.list_topics())
    finally:
        admin.close()


def tamper(bootstrap: str, original: KafkaRecord, scanner: Scanner) -> tuple[str, int, int]:
    """Put on the broker a copy of ``original`` whose records carry raw identifiers (the
    signature no longer matches, so the hub must quarantine it); its position."""
    container = decode_container(original.value)
    assert container is not None
    _, schema, rows = container
    assert len(rows) >= 3
    ids = sorted(scanner.national_ids)
    names = sorted(scanner.secrets.full_names)
    births = sorted(scanner.birth_dates)
    date_field = next(f["name"] for f in schema["fields"] if "date" in str(f["type"]))
    for i, row in enumerate(rows):
        row[date_field] = births[i % len(births)]
    rows[0]["record_id"] = ids[0].decode()
    rows[1]["region"] = names[0].decode()
    buf = io.BytesIO()
    fastavro.writer(buf, fastavro.parse_schema(schema), rows, codec="null")
    headers: list[tuple[str, str | bytes | None]] = [
        *original.headers,
        ("lmis-note", sorted(scanner.person_numbers)[0]),
    ]
    where: list[tuple[str, int, int]] = []

    def delivered(err: Any, msg: Any) -> None:
        assert err is None, err
        where.append((str(msg.topic()), int(msg.partition()), int(msg.offset())))

    producer = Producer(librdkafka_config(KafkaSettings(bootstrap_servers=bootstrap)))
    producer.produce(
        original.topic,
        value=buf.getvalue(),
        key=original.key,
        headers=headers,
        partition=original.partition,
        on_delivery=delivered,
    )
    assert producer.flush(10) == 0
    return where[0]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    data = tmp_path_factory.mktemp("privacy") / "d"
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    env = {"HUB_DATA_DIR": str(data), "HUB_STACK__BROKER_PORT": str(port)}
    seconds: dict[str, float] = {}
    try:
        t = time.monotonic()
        demo = run_cli("--json", "demo", "--persons", str(PERSONS), env=env, timeout_s=270)
        assert demo.returncode == 0, demo.stderr[-3000:]
        report = json.loads(demo.stdout)
        assert report["spine"]["reconciliation"]["ok"] is True
        seconds["demo"] = time.monotonic() - t

        configs = sorted((data / "connectors").glob("*/*.yaml"))
        assert len(configs) == 16
        scanner = Scanner.of(data / "nation", date_formats(load_config(p) for p in configs))

        # a tampered delivery with raw identifiers, which the hub must quarantine
        t = time.monotonic()
        (topic,) = [x for x in list_topics(bootstrap) if x.startswith(TAMPERED_DATASET)]
        (original,) = [m for m in read_topics(bootstrap, [topic]) if m.offset == 0]
        position = tamper(bootstrap, original, scanner)
        # A fresh consumer group: it reads the whole run again (every batch is answered
        # as a duplicate, with a receipt) and the tampered copy.
        ingest_env = {
            **env,
            "HUB_KAFKA__BOOTSTRAP_SERVERS": bootstrap,
            "HUB_KEY_ENCRYPTION_KEY": (data / "keys" / "hub.kek").read_text().strip(),
        }
        ingest = run_cli(
            "--json", "ingest", "run", "--once", "--idle-timeout", "10",
            "--group", f"privacy-{uuid.uuid4().hex}", env=ingest_env,
        )  # fmt: skip
        assert ingest.returncode == 0, ingest.stderr[-3000:]
        seconds["quarantine"] = time.monotonic() - t

        t = time.monotonic()
        topics = list_topics(bootstrap)
        everything = read_topics(bootstrap, topics)
        seconds["read kafka"] = time.monotonic() - t
        tampered = [m for m in everything if (m.topic, m.partition, m.offset) == position]
        messages = [m for m in everything if (m.topic, m.partition, m.offset) != position]
        assert len(tampered) == 1
        yield Run(
            data, report, json.loads(ingest.stdout), scanner, topics, messages, tampered[0], seconds
        )
    finally:
        run_cli("stack", "down", env=env)


# -- what was collected -------------------------------------------------------------------


def test_every_message_of_the_run_is_collected(run: Run) -> None:
    spine = run.report["spine"]
    data = [m for m in run.messages if m.topic.split(".")[1] != "receipts"]
    data = [m for m in data if m.topic != "lmis.quarantine"]
    # every delivery the worker decided in the demo, record for record
    assert len(data) == spine["ingest"]["processed"] > 0
    published: Counter[str] = Counter()
    for m in data:
        published[f"{m.header('lmis-agency')}/{m.header('lmis-dataset')}"] += int(
            m.header("lmis-record-count") or 0
        )
    expected = {
        f"{c['agency']}/{c['dataset']}": c["records_published"] for c in spine["connectors"]
    }
    assert published == expected
    # the re-read: every delivery answered again as a duplicate, the tampered one refused
    assert run.ingest == {
        "processed": len(data) + 1, "accepted": 0, "duplicate": len(data), "quarantined": 1
    }  # fmt: skip
    receipts = [m for m in run.messages if m.topic.startswith("lmis.receipts.")]
    assert len(receipts) == 2 * len(data) + 1  # demo, re-read, and the rejection
    notices = [m for m in run.messages if m.topic == "lmis.quarantine"]
    assert len(notices) == 1
    assert {t.split(".")[1] for t in run.topics} >= {
        "nso", "nis", "tvet", "dol", "jobboard", "receipts", "quarantine"
    }  # fmt: skip


# -- positive controls: the scan can fail ---------------------------------------------------


def test_the_scan_finds_every_kind_in_the_agency_sources(run: Run) -> None:
    """The sources of the same nation are full of what the scan looks for."""
    sources = run.data / "nation" / "sources"
    files = sorted(f for f in sources.rglob("*") if f.is_file())
    cells = [sqlite_cells(f) for f in files if is_sqlite(f)]
    texts = [f.read_bytes() for f in files if not is_sqlite(f)]
    blob = b"\n".join(cells + texts)
    hits = run.scanner.secrets_in(blob)
    kind_of = run.scanner.kind_of
    found = Counter(kind_of(h) for h in hits)
    # full names are not in the sources (given and family name are columns apart)
    for kind in (NATIONAL_ID, NIS_NUMBER, NAME, DATE_OF_BIRTH, PERSON_NUMBER, ROW_KEY):
        assert found[kind] > 50, (kind, found)
    # a date of birth written only in digits counts, but not inside an opaque hex id
    compact = sorted(run.scanner.birth_dates)[0].strftime("%Y%m%d").encode()
    assert run.scanner.scan(b"dob=" + compact + b";", "x") == [Finding(DATE_OF_BIRTH, "x")]
    assert run.scanner.scan(b"761b" + compact + b"ab6d42df4855681c", "x") == []
    # the fast scan finds what the contract suite's Secrets.found finds
    sample = blob[:300_000]
    assert set(run.scanner.secrets.found(sample)) <= run.scanner.secrets_in(sample)
    assert set(run.scanner.secrets.found(sample)) == {
        h for h in run.scanner.secrets_in(sample) if kind_of(h) not in (PERSON_NUMBER, ROW_KEY)
    }


def test_the_scan_finds_raw_identifiers_in_a_message_put_on_the_broker(run: Run) -> None:
    dates = DateColumns()
    findings, decoded = scan_kafka(run.scanner, [run.tampered], dates)
    findings += dates.findings(run.scanner.birth_dates)
    assert decoded > 3
    where = {(f.kind, f.where.split(" ", 6)[-1].split(" #")[0]) for f in findings}
    assert (NATIONAL_ID, "value field record_id record") in where
    assert (NATIONAL_ID, "value bytes") in where
    assert (FULL_NAME, "value field region record") in where
    assert (PERSON_NUMBER, "header lmis-note") in where
    assert TYPED_DATE_OF_BIRTH in kinds(findings)
    assert all(run.tampered.where in f.where or f.kind == TYPED_DATE_OF_BIRTH for f in findings)


def test_the_scan_finds_raw_identifiers_written_into_a_copy_of_lake_files(
    run: Run, tmp_path: Path
) -> None:
    warehouse = run.data / "lake"
    table = warehouse / "bronze" / "jobboard__jobseeker"
    source = max((table / "data").rglob("*.parquet"), key=lambda p: pq.read_metadata(p).num_rows)
    rows = pq.read_metadata(source).num_rows
    assert rows >= 3
    scanner = run.scanner
    ids = sorted(scanner.national_ids)[:rows]
    births = sorted(scanner.birth_dates)[:rows]
    copy = parquet_with(
        source,
        tmp_path / "copy.parquet",
        region=[i.decode() for i in ids],
        registration_date=births,
    )
    out = LakeScan()
    dates = DateColumns()
    scan_parquet(scanner, copy, "copy", "copy", dates, out)
    found = {(f.kind, f.where.split(" #")[0]) for f in out.findings}
    assert (NATIONAL_ID, "copy column region row") in found
    assert any(k == NATIONAL_ID and "statistics" in w and "region" in w for k, w in found)
    assert kinds(dates.findings(scanner.birth_dates)) == {TYPED_DATE_OF_BIRTH}
    # the untouched original: nothing
    clean = LakeScan()
    scan_parquet(scanner, source, "original", "original", DateColumns(), clean)
    assert clean.findings == []

    # a manifest whose upper bound of a string column is a full name
    manifest = next(
        p for p in (table / "metadata").glob("*.avro") if not p.name.startswith("snap-")
    )
    with manifest.open("rb") as src:
        reader = fastavro.reader(src)
        schema = reader.writer_schema
        meta = {k: v for k, v in reader.metadata.items() if not k.startswith("avro.")}
        entries: list[Any] = list(reader)
    bounds = entries[0]["data_file"]["upper_bounds"]
    fields = {f["name"]: f["id"] for f in json.loads(meta["schema"])["fields"]}
    bounds.append({"key": fields["region"], "value": sorted(scanner.secrets.full_names)[0]})
    forged = tmp_path / "forged-m0.avro"
    with forged.open("wb") as dst:
        fastavro.writer(dst, fastavro.parse_schema(schema), entries, metadata=meta, codec="deflate")
    out = LakeScan()
    scan_avro(scanner, forged, "forged", "forged", DateColumns(), out)
    assert {f.where for f in out.findings if f.kind == FULL_NAME} >= {
        "forged entry 0 upper_bounds column region"
    }
    # and the raw-bytes net alone finds a national ID in an uncompressed copy
    plain = tmp_path / "plain.parquet"
    pq.write_table(pq.read_table(copy), plain, compression="NONE")
    assert NATIONAL_ID in kinds(scanner.scan(plain.read_bytes(), "plain"))


# -- the guard -------------------------------------------------------------------------------


def test_no_kafka_message_of_the_run_holds_a_raw_identifier(run: Run) -> None:
    t = time.monotonic()
    dates = DateColumns()
    findings, decoded = scan_kafka(run.scanner, run.messages, dates)
    findings += dates.findings(run.scanner.birth_dates)
    size = sum(len(m.key) + len(m.value) + sum(len(v) for _, v in m.headers) for m in run.messages)
    print(
        f"kafka: {len(run.messages)} messages on {len(run.topics)} topics, {size:,} bytes, "
        f"{decoded:,} Avro records decoded, scanned in {time.monotonic() - t:.1f} s "
        f"(demo {run.seconds['demo']:.1f} s, quarantine step {run.seconds['quarantine']:.1f} s, "
        f"reading {run.seconds['read kafka']:.1f} s)"
    )
    shares = dates.birth_share(run.scanner.birth_dates)
    print("typed date fields (dates of birth / values):", {k: v for k, v in shares.items() if v[0]})
    assert findings == [], "raw identifiers on Kafka:\n" + locate(findings)


def test_no_lake_file_holds_a_raw_identifier(run: Run) -> None:
    t = time.monotonic()
    dates = DateColumns()
    lake = scan_lake(run.scanner, run.data / "lake", dates)
    findings = lake.findings + dates.findings(run.scanner.birth_dates)
    print(
        f"lake: {dict(lake.files)} files, {lake.parquet_values:,} Parquet values, "
        f"{lake.statistics:,} column-chunk statistics, {lake.manifest_entries:,} manifest "
        f"entries, {lake.bounds:,} bounds, scanned in {time.monotonic() - t:.1f} s"
    )
    shares = dates.birth_share(run.scanner.birth_dates)
    print(
        "typed date columns (dates of birth / values):", {k: v for k, v in shares.items() if v[0]}
    )
    assert lake.files["parquet"] > 16 and lake.files["avro"] >= 32 and lake.files["json"] >= 32
    assert lake.parquet_values > 100_000
    assert findings == [], "raw identifiers in the lake:\n" + locate(findings)
