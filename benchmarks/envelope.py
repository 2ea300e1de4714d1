"""Envelope throughput against plain fastavro, and the framing choice behind it.

Run: .venv/bin/python benchmarks/envelope.py

For batches of 100 and 5,000 Labour Force Survey records (14 tokens each, the widest
dataset) it prints records/s for
  * seal (encode + split + sign) vs plain fastavro object-container encode, and
  * open (verify + decode + resolve) vs plain fastavro object-container decode,
with the ratio envelope/baseline measured in the same run; then size and speed of the
two framings the Avro spec offers for a batch: concatenated single-object encodings vs
one object container file (null codec).
"""

from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import fastavro
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lmis_hub.tokens import ARRAY_TOKEN_KINDS
from schemas.catalog import SchemaCatalog, SchemaVersion
from schemas.envelope import open_batch, seal_batch
from schemas.signing import Signer

NOW = datetime(2026, 1, 15, tzinfo=UTC)
REPEAT = 5


def records(sv: SchemaVersion, n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        r: dict[str, Any] = {
            "record_id": f"CSSP-2025Q4-{i:07d}",
            "interview_date": date(2025, 10, 1) + timedelta(days=i % 90),
            "sex": "12"[i % 2],
            "region": "TT-POS",
            "birth_year": 1950 + i % 50,
            "age": 25 + i % 40,
            "labour_force_status": "EMPLOYED",
            "occupation": "2512",
            "industry": "6201",
            "status_in_employment": "41",
            "education_level": "6",
            "usual_hours": 40,
            "monthly_earnings_cents": 1_250_000 + i,
            "survey_weight": 212.5,
        }
        for f in sv.fields:
            if "token" in f:
                value = hashlib.sha256(f"{f['name']}{i}".encode()).digest()
                r[f["name"]] = [value] if f["token"] in ARRAY_TOKEN_KINDS else value
        out.append(r)
    return out


def best(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    catalog = SchemaCatalog.load()
    sv = catalog.current("nso", "lfs_person")
    signer = Signer("nso-1", Ed25519PrivateKey.generate())
    keys = {signer.key_id: signer.public_key()}.get
    print(f"{'batch':>6} {'operation':<26} {'records/s':>12} {'baseline/s':>12} {'ratio':>6}")
    for n in (100, 5000):
        batch = records(sv, n)

        def seal(batch: list[dict[str, Any]] = batch) -> list[Any]:
            return seal_batch(batch, schema=sv, agreement_id="dsa-1", agreement_version=1,
                              signer=signer, now=NOW)  # fmt: skip

        def plain_encode(batch: list[dict[str, Any]] = batch) -> bytes:
            out = io.BytesIO()
            fastavro.writer(out, sv.parsed, batch)
            return out.getvalue()

        messages = seal()
        container = plain_encode()

        def open_all(messages: list[Any] = messages) -> None:
            for m in messages:
                open_batch(m.value, m.headers, catalog=catalog, public_key_for=keys, now=NOW,
                           max_skew=timedelta(minutes=5))  # fmt: skip

        def plain_decode(container: bytes = container) -> None:
            list(fastavro.reader(io.BytesIO(container)))

        for label, mine, base in (
            ("seal (encode+sign)", seal, plain_encode),
            ("open (verify+decode)", open_all, plain_decode),
        ):
            t_mine, t_base = best(mine), best(base)
            print(f"{n:>6} {label:<26} {n / t_mine:>12,.0f} {n / t_base:>12,.0f} "
                  f"{t_base / t_mine:>6.2f}")  # fmt: skip
        print(f"{'':>6} messages: {len(messages)} (1 MiB limit)")

    print()
    print(f"{'batch':>6} {'framing':<22} {'bytes':>10} {'encode/s':>12} {'decode/s':>12}")
    for n in (100, 5000):
        batch = records(sv, n)
        prefix = b"\xc3\x01" + sv.fingerprint_bytes

        def single_encode(batch: list[dict[str, Any]] = batch, prefix: bytes = prefix) -> bytes:
            out = io.BytesIO()
            for r in batch:
                out.write(prefix)
                fastavro.schemaless_writer(out, sv.parsed, r)
            return out.getvalue()

        def container_encode(batch: list[dict[str, Any]] = batch) -> bytes:
            out = io.BytesIO()
            fastavro.writer(out, sv.parsed, batch)
            return out.getvalue()

        single, container = single_encode(), container_encode()

        def single_decode(value: bytes = single) -> list[Any]:
            stream, out = io.BytesIO(value), []
            while stream.tell() < len(value):
                stream.read(10)
                out.append(fastavro.schemaless_reader(stream, sv.parsed, None))
            return out

        def container_decode(value: bytes = container) -> list[Any]:
            return list(fastavro.reader(io.BytesIO(value)))

        assert single_decode() == container_decode() == batch
        for label, enc, dec, value in (
            ("single-object concat", single_encode, single_decode, single),
            ("object container", container_encode, container_decode, container),
        ):
            print(f"{n:>6} {label:<22} {len(value):>10,} {n / best(enc):>12,.0f} "
                  f"{n / best(dec):>12,.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
