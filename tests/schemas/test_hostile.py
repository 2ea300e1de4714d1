"""Hostile input: the decoder and the header parser never crash, whatever the bytes.

Every failure must be an EnvelopeError with a code from ENVELOPE_CODES (the quarantine
reason codes). 100,000 examples in total, derandomized so the run is reproducible.
"""

import os
from datetime import timedelta
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.catalog import SchemaCatalog
from schemas.container import OCF_MAGIC, decode_records
from schemas.envelope import open_batch, parse_headers, seal_batch
from schemas.errors import ENVELOPE_CODES, EnvelopeError
from schemas.samples import sample_records
from schemas.signing import SIGNED_HEADERS
from tests.schemas.conftest import NOW

pytestmark = pytest.mark.hostile

# Examples per test (100,000 in total); HUB_TEST_HOSTILE_SCALE=0.1 for a quick local run.
SCALE = float(os.environ.get("HUB_TEST_HOSTILE_SCALE", "1"))


def hostile(examples: int):
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


@cache
def _fixture():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from schemas.signing import Signer

    catalog = SchemaCatalog.load()
    signer = Signer("k1", Ed25519PrivateKey.from_private_bytes(b"\x01" * 32))
    # vacancy v1 -> v2 exercises resolution; the fixed-size tokens of trainee, the rest.
    vacancy = catalog.get("jobboard", "vacancy", 1)
    trainee = catalog.current("tvet", "trainee")
    messages = {}
    for schema in (vacancy, trainee):
        (message,) = seal_batch(
            sample_records(schema, 6), schema=schema, agreement_id="a", agreement_version=1,
            signer=signer, now=NOW,
        )  # fmt: skip
        messages[schema.key] = (schema, catalog.current(schema.agency, schema.dataset), message)
    return catalog, signer, messages


def _decode(value: bytes, key: str) -> None:
    _, _, messages = _fixture()
    writer, reader, _ = messages[key]
    try:
        decode_records(value, writer, reader)
    except EnvelopeError as exc:
        assert exc.code in ENVELOPE_CODES


@cache
def _fixture_raw(key: str):
    return parse_headers(_fixture()[2][key][2].headers).raw


KEYS = st.sampled_from(["jobboard/vacancy", "tvet/trainee"])


@hostile(35_000)
@given(prefix=st.sampled_from([b"", OCF_MAGIC]), body=st.binary(max_size=300), key=KEYS)
def test_random_bytes(prefix, body, key):
    _decode(prefix + body, key)


@hostile(25_000)
@given(key=KEYS, edits=st.binary(min_size=3, max_size=18), cut=st.binary(max_size=3))
def test_mutated_messages(key, edits, cut):
    """Overwrite up to 6 bytes (and maybe delete a run) of a valid message."""
    _, _, messages = _fixture()
    _, _, message = messages[key]
    value = bytearray(message.value)
    for i in range(0, len(edits) - 2, 3):
        value[int.from_bytes(edits[i : i + 2], "big") * len(value) // 65536] = edits[i + 2]
    if len(cut) == 3:
        start = int.from_bytes(cut[:2], "big") * len(value) // 65536
        del value[start : start + 1 + cut[2] % 16]
    _decode(bytes(value), key)


@hostile(15_000)
@given(key=KEYS, where=st.floats(0, 1, exclude_max=True))
def test_truncated_messages(key, where):
    _, _, messages = _fixture()
    _, _, message = messages[key]
    cut = message.value[: int(where * len(message.value))]
    with pytest.raises(EnvelopeError) as info:
        decode_records(cut, *messages[key][:2])
    assert info.value.code in {"envelope.truncated", "envelope.bad_framing",
                               "envelope.schema_violation", "envelope.schema_mismatch"}  # fmt: skip


_NAMES = [*SIGNED_HEADERS, "lmis-signature", "lmis-other", "x"]
_ODD_VALUES = [None, 7, "1", "é", b"", b"0" * 200]


def _edit_headers(headers: list[Any], ops: bytes) -> list[Any]:
    """Apply edits read from ``ops``, 4 bytes each: drop, replace, duplicate or corrupt."""
    headers = list(headers)
    for i in range(0, len(ops) - 3, 4):
        op, a, b, c = ops[i : i + 4]
        if not headers:
            break
        at = a % len(headers)
        name = _NAMES[a % len(_NAMES)]
        if op % 5 == 0:
            del headers[at]
        elif op % 5 == 1:  # a plausible value: digits, hex or raw bytes
            digits = str(b * 256 + c).encode()
            headers.append((name, [digits, ops[i:].hex().encode()[: b % 130], ops[i:]][op % 3]))
        elif op % 5 == 2:
            headers.append(headers[at])
        elif op % 5 == 3:
            headers[at] = (headers[at][0], _ODD_VALUES[b % len(_ODD_VALUES)])
        elif isinstance(headers[at][1], bytes):
            headers[at] = (headers[at][0], headers[at][1][: b % 8])
    if ops[-1:] == b"\xff":
        headers.append(("lmis-agency",))  # not a (name, value) pair
    return headers


@hostile(25_000)
@given(key=KEYS, ops=st.binary(max_size=40))
def test_header_fuzz(key, ops):
    catalog, signer, messages = _fixture()
    _, _, message = messages[key]
    headers = _edit_headers(message.headers, ops)
    try:
        parsed = parse_headers(headers)
        if parsed.raw == _fixture_raw(key):
            return  # the lmis- headers are intact: the valid path is tested elsewhere
        open_batch(message.value, headers, catalog=catalog,
                   public_key_for={signer.key_id: signer.public_key()}.get,
                   now=NOW, max_skew=timedelta(0))  # fmt: skip
    except EnvelopeError as exc:
        assert exc.code in ENVELOPE_CODES
