import hashlib
import io
import json
import struct
from datetime import date, timedelta
from typing import Any

import avro.datafile
import avro.io
import fastavro
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.envelope import open_batch, parse_headers, seal_batch
from schemas.errors import ENVELOPE_CODES, EnvelopeError
from schemas.fingerprint import fingerprint
from schemas.samples import sample_records
from schemas.signing import SIGNED_HEADERS, Signer
from tests.schemas.conftest import NOW
from tests.schemas.envelope_helpers import resign

SKEW = timedelta(minutes=5)


def _seal(catalog, signer, agency="nso", dataset="lfs_person", n=20, version=None, **kw):
    schema = catalog.get(agency, dataset, version)
    records = sample_records(schema, n)
    messages = seal_batch(
        records, schema=schema, agreement_id="dsa-2026-007", agreement_version=3,
        signer=signer, now=NOW, **kw,
    )  # fmt: skip
    return records, messages


def _open(catalog, signer, message, **kw):
    args = {"catalog": catalog, "public_key_for": {signer.key_id: signer.public_key()}.get,
            "now": NOW, "max_skew": SKEW} | kw  # fmt: skip
    return open_batch(message.value, message.headers, **args)


def _code(catalog, signer, message, **kw):
    with pytest.raises(EnvelopeError) as info:
        _open(catalog, signer, message, **kw)
    assert info.value.code in ENVELOPE_CODES
    return info.value.code


def test_every_dataset_round_trips(catalog, signer):
    for key in catalog.datasets():
        agency, dataset = key.split("/")
        records, (message,) = _seal(catalog, signer, agency, dataset, n=7)
        opened = _open(catalog, signer, message)
        assert opened.records == records
        h = opened.headers
        assert (h.agency, h.dataset, h.agreement_id, h.agreement_version) == (
            agency, dataset, "dsa-2026-007", 3,
        )  # fmt: skip
        assert (h.record_count, h.part_index, h.part_count, h.key_id) == (7, 0, 1, signer.key_id)
        assert h.producer_time == NOW
        assert h.batch_group == h.batch_id
        assert all(name.startswith("lmis-") for name, _ in message.headers)


def test_older_writer_is_resolved_to_the_current_reader(catalog, signer):
    records, (message,) = _seal(catalog, signer, "jobboard", "vacancy", version=1)
    opened = _open(catalog, signer, message)
    assert opened.writer.version == 1 and opened.reader.version == 3
    added = {"remote_work": False, "isco_auto_coded": False, "isco_confidence": None}
    assert opened.records == [{**r, **added} for r in records]


def test_batch_ids_are_deterministic(catalog, signer):
    _, (a,) = _seal(catalog, signer)
    _, (b,) = _seal(catalog, signer)
    _, (c,) = _seal(catalog, signer, n=21)
    assert a.value == b.value and dict(a.headers) == dict(b.headers)
    assert dict(a.headers)["lmis-batch-id"] != dict(c.headers)["lmis-batch-id"]


def test_large_batches_split_into_parts_that_verify_alone(catalog, signer):
    records, messages = _seal(catalog, signer, n=600, max_message_bytes=64 * 1024)
    assert len(messages) > 1
    ids, decoded, groups = set(), [], set()
    for i, message in enumerate(messages):
        assert message.size() <= 64 * 1024
        opened = _open(catalog, signer, message, max_message_bytes=64 * 1024)
        assert (opened.headers.part_index, opened.headers.part_count) == (i, len(messages))
        ids.add(opened.headers.batch_id)
        groups.add(opened.headers.batch_group)
        decoded.extend(opened.records)
    assert decoded == records and len(ids) == len(messages) and len(groups) == 1
    _, again = _seal(catalog, signer, n=600, max_message_bytes=64 * 1024)
    assert [m.headers for m in again] == [m.headers for m in messages]


def test_a_record_larger_than_a_message_is_refused(catalog, signer):
    schema = catalog.current("nso", "business_register")
    records = sample_records(schema, 1)
    records[0]["enterprise_name"] = "x" * 10_000
    with pytest.raises(EnvelopeError) as info:
        seal_batch(records, schema=schema, agreement_id="a", agreement_version=1,
                   signer=signer, now=NOW, max_message_bytes=8192)  # fmt: skip
    assert info.value.code == "envelope.oversized"
    assert f"'{records[0]['record_id']}'" in info.value.message


def test_receiving_side_enforces_the_size_limit(catalog, signer):
    _, (message,) = _seal(catalog, signer, n=100)
    assert _code(catalog, signer, message, max_message_bytes=4096) == "envelope.oversized"


def test_tampering_and_wrong_keys(catalog, signer):
    _, (message,) = _seal(catalog, signer)
    flipped = bytearray(message.value)
    flipped[-5] ^= 1
    tampered = type(message)(message.key, bytes(flipped), message.headers)
    assert _code(catalog, signer, tampered) == "envelope.bad_signature"
    headers = [(k, b"4" if k == "lmis-agreement-version" else v) for k, v in message.headers]
    altered = type(message)(message.key, message.value, headers)
    assert _code(catalog, signer, altered) == "envelope.bad_signature"
    other = Signer(signer.key_id, Ed25519PrivateKey.generate())
    assert _code(catalog, other, message) == "envelope.bad_signature"
    assert _code(catalog, signer, message, public_key_for=lambda k: None) == "envelope.unknown_key"


def test_header_problems(catalog, signer):
    _, (message,) = _seal(catalog, signer)
    missing = type(message)(message.key, message.value, message.headers[1:])
    assert _code(catalog, signer, missing) == "envelope.missing_header"
    doubled = type(message)(message.key, message.value, [*message.headers, message.headers[1]])
    assert _code(catalog, signer, doubled) == "envelope.bad_header"
    bad = [(k, b"not hex" if k == "lmis-schema-fingerprint" else v) for k, v in message.headers]
    assert _code(catalog, signer, type(message)(message.key, message.value, bad)) == (
        "envelope.bad_header"
    )
    foreign = [("traceparent", b"00-abc"), *message.headers]
    assert _open(catalog, signer, type(message)(message.key, message.value, foreign))


def test_signed_but_inconsistent_messages(catalog, signer):
    _, (message,) = _seal(catalog, signer)
    assert _code(catalog, signer, resign(message, signer, record_count=b"21")) == (
        "envelope.count_mismatch"
    )
    assert _code(catalog, signer, resign(message, signer, schema_fingerprint=b"00" * 8)) == (
        "envelope.unknown_schema"
    )
    other = catalog.current("nis", "employer").fingerprint_hex.encode()
    assert _code(catalog, signer, resign(message, signer, schema_fingerprint=other)) == (
        "envelope.schema_mismatch"
    )
    ahead = str(int((NOW + timedelta(minutes=6)).timestamp() * 1000)).encode()
    assert _code(catalog, signer, resign(message, signer, producer_time=ahead)) == (
        "envelope.future_timestamp"
    )
    within = str(int((NOW + timedelta(minutes=4)).timestamp() * 1000)).encode()
    assert _open(catalog, signer, resign(message, signer, producer_time=within))
    cut = resign(message, signer, value=message.value[:-40])
    assert _code(catalog, signer, cut) in ("envelope.truncated", "envelope.schema_violation")
    header_cut = resign(message, signer, value=message.value[:30])
    assert _code(catalog, signer, header_cut) == "envelope.truncated"
    not_avro = resign(message, signer, value=b"\xc3\x01" + message.value)
    assert _code(catalog, signer, not_avro) == "envelope.bad_framing"
    # Another dataset's container under this dataset's fingerprint.
    _, (employer,) = _seal(catalog, signer, "nis", "employer")
    swapped = resign(message, signer, value=employer.value)
    assert _code(catalog, signer, swapped) == "envelope.schema_mismatch"


def test_the_digest_is_as_documented(catalog, signer):
    """An independent implementation of the documented digest verifies the signature."""
    _, (message,) = _seal(catalog, signer)
    headers = dict(message.headers)
    digest = hashlib.sha256(b"lmis-envelope-v1")
    for name in SIGNED_HEADERS:
        digest.update(name.encode() + b"\x00" + struct.pack(">I", len(headers[name])))
        digest.update(headers[name])
    digest.update(b"value\x00" + struct.pack(">I", 32) + hashlib.sha256(message.value).digest())
    signer.public_key().verify(bytes.fromhex(headers["lmis-signature"].decode()), digest.digest())
    expected_id = hashlib.sha256(
        b"lmis-batch-v1\x1fnso\x1flfs_person\x1f"
        + headers["lmis-schema-fingerprint"] + b"\x1f0/1\x1f" + message.value
    ).hexdigest()  # fmt: skip
    assert headers["lmis-batch-id"].decode() == expected_id


def test_the_value_is_read_by_the_avro_package(catalog, signer):
    records, (message,) = _seal(catalog, signer, "jobboard", "vacancy")
    reader = avro.datafile.DataFileReader(io.BytesIO(message.value), avro.io.DatumReader())
    decoded: list[Any] = list(reader)
    assert [r["record_id"] for r in decoded] == [r["record_id"] for r in records]
    assert decoded[1]["posted_date"] == records[1]["posted_date"]


def test_parse_headers_accepts_str_values_and_mappings(catalog, signer):
    _, (message,) = _seal(catalog, signer)
    as_text = {k: v.decode() for k, v in message.headers}
    assert parse_headers(as_text).batch_id == dict(message.headers)["lmis-batch-id"].decode()


_TEXT = st.text(max_size=30)
_VACANCY = st.fixed_dictionaries(
    {
        "record_id": _TEXT,
        "posted_date": st.dates(),
        "occupation": _TEXT,
        "industry": st.none() | _TEXT,
        "region": st.none() | _TEXT,
        "positions": st.integers(-(2**31), 2**31 - 1),
        "min_education": st.none() | _TEXT,
        "wage_min_cents": st.none() | st.integers(-(2**63), 2**63 - 1),
        "wage_max_cents": st.none() | st.integers(-(2**63), 2**63 - 1),
        "closing_date": st.none() | st.dates(),
        "contract_type": st.sampled_from(["PERMANENT", "CASUAL", "OTHER", "INTERNSHIP"]),
        "remote_work": st.booleans(),
        "isco_auto_coded": st.booleans(),
        "isco_confidence": st.none() | st.floats(0, 1),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_VACANCY, min_size=1, max_size=40), st.integers(6_000, 40_000))
def test_any_records_round_trip_through_any_split(catalog, signer, records, limit):
    schema = catalog.current("jobboard", "vacancy")
    messages = seal_batch(records, schema=schema, agreement_id="a", agreement_version=1,
                          signer=signer, now=NOW, max_message_bytes=limit)  # fmt: skip
    decoded = []
    for m in messages:
        assert m.size() <= limit
        decoded.extend(_open(catalog, signer, m, max_message_bytes=limit).records)
    assert decoded == records


def test_a_container_that_drops_a_logical_type_is_refused(catalog, signer):
    """Same canonical form (logical types are not part of it) but dates re-typed as ints."""
    records, (message,) = _seal(catalog, signer, "jobboard", "vacancy")
    schema = catalog.current("jobboard", "vacancy")
    retyped = json.loads(json.dumps(schema.raw))
    retyped["fields"][1]["type"] = "int"
    assert fingerprint(retyped) == schema.fingerprint
    epoch = date(1970, 1, 1)
    rows = [{**r, "posted_date": (r["posted_date"] - epoch).days} for r in records]
    out = io.BytesIO()
    fastavro.writer(out, fastavro.parse_schema(retyped), rows)
    forged = resign(message, signer, value=out.getvalue())
    assert _code(catalog, signer, forged) == "envelope.schema_mismatch"


def test_the_source_batch_keeps_equal_records_apart(catalog, signer):
    """Two source batches with equal records get other ids (the hub dedupes by id);
    the same source batch sealed again gives the same bytes."""
    _, (a,) = _seal(catalog, signer, n=5, source_batch="a" * 64)
    _, (again,) = _seal(catalog, signer, n=5, source_batch="a" * 64)
    _, (b,) = _seal(catalog, signer, n=5, source_batch="b" * 64)
    assert (a.key, a.value, a.headers) == (again.key, again.value, again.headers)
    assert parse_headers(a.headers).batch_id != parse_headers(b.headers).batch_id
    assert _open(catalog, signer, a).records == _open(catalog, signer, b).records
    with pytest.raises(EnvelopeError):
        _seal(catalog, signer, n=1, source_batch="not ascii é")


SEAL_IN_A_PROCESS = """
import hashlib, sys
from datetime import UTC, datetime
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from schemas.catalog import SchemaCatalog
from schemas.envelope import seal_batch
from schemas.signing import Signer
from schemas.samples import sample_records
signer = Signer("k", Ed25519PrivateKey.from_private_bytes(bytes(32)))
digest = hashlib.sha256()
for schema in SchemaCatalog.load():
    for m in seal_batch(sample_records(schema, 3), schema=schema, agreement_id="a",
                        agreement_version=1, signer=signer, now=datetime(2026, 1, 1, tzinfo=UTC),
                        source_batch="s"):
        digest.update(m.key + m.value + b"".join(n.encode() + v for n, v in m.headers))
print(digest.hexdigest())
"""


def test_sealed_bytes_do_not_depend_on_the_hash_seed():
    """fastavro's parsed schema orders keys by set iteration; the container must not."""
    import os
    import subprocess
    import sys

    def run(seed: str) -> str:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", SEAL_IN_A_PROCESS], env=env,
                              capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
        return done.stdout.strip()

    assert run("1") == run("2") == run("3")
