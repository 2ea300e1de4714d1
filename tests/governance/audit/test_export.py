"""The export file verified offline: no database, no KEK; tampering is named by entry."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from governance.audit.chain import GENESIS, Checkpoint, entry_hash
from governance.audit.export import hub_keys_from_pem, read_pem_file, verify_export, write_export
from governance.audit.services import AuditLog, CheckpointPolicy
from governance.canonical import canonical_json
from governance.errors import AuditTampered
from schemas.keys import key_id_for, public_pem
from tests.governance.conftest import FakeClock

HUB = Ed25519PrivateKey.generate()


class _Signer:
    key_id = key_id_for("hub", HUB.public_key())

    def sign(self, data: bytes) -> bytes:
        return HUB.sign(data)


def _export(db_session, clock: FakeClock, path: Path, *, entries: int = 14) -> int:
    policy = CheckpointPolicy(every_entries=4, every_s=3600, signer=_Signer)
    audit = AuditLog(db_session, clock=clock, checkpoints=policy)
    for i in range(entries):
        audit.record("policy:decision", "analyst", f"dataset:nis.d{i}", {"i": i, "ok": True})
        clock.advance(seconds=1)
    head = audit.head()
    with path.open("w", encoding="utf-8") as out:
        write_export(
            out,
            exported_at=clock(),
            head=head,
            hub_keys={_Signer.key_id: public_pem(HUB.public_key())},
            checkpoints=audit.list_checkpoints(),
            entries=audit.iter_chain(head[0]),
        )
    return head[0]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def _save(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")


def _trusted() -> dict[str, Ed25519PublicKey]:
    return {_Signer.key_id: HUB.public_key()}


def _covered_entry(lines: list[dict[str, Any]]) -> int:
    """An entry inside the second signed range."""
    cps = [x for x in lines if x["type"] == "checkpoint"]
    return int(cps[1]["first_seq"]) + 1


def test_an_export_verifies_offline(db_session, clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    head = _export(db_session, clock, path)
    db_session.close()  # nothing below touches the database
    checked = verify_export(path, trusted_keys=_trusted())
    assert checked.result.ok, checked.result.summary()
    assert checked.result.intact_up_to == head
    assert checked.result.checkpoints_verified >= 3
    assert checked.key_source == "trusted key file" and checked.warnings == []
    embedded = verify_export(path)
    assert embedded.result.ok and embedded.key_source == "keys embedded in the export"
    assert "only the hub keys embedded" in embedded.warnings[0]
    header, *rest = _lines(path)
    assert header["type"] == "audit-export" and header["head"]["seq"] == head
    types = [x["type"] for x in rest]
    assert types == sorted(types) and types[-1] == "entry"  # checkpoints, then entries


def test_an_edited_entry_with_recomputed_hashes_is_named(
    db_session, clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    _export(db_session, clock, path)
    lines = _lines(path)
    target = _covered_entry(lines)
    prev = ""
    for x in lines:
        if x["type"] != "entry" or x["seq"] < target:
            continue
        if x["seq"] == target:
            x["details"]["ok"] = False
            prev = x["prev"]
        details = canonical_json(x["details"]).decode()
        at = datetime.fromisoformat(x["at"])
        x["prev"] = prev
        x["hash"] = entry_hash(x["seq"], at, x["tag"], x["actor"], x["subject"], details, prev)
        prev = x["hash"]
    lines[0]["head"]["hash"] = prev
    _save(path, lines)
    result = verify_export(path, trusted_keys=_trusted()).result
    assert not result.ok
    assert result.bad_seq == target, result.summary()
    assert "rewritten" in (result.reason or "")


def test_an_entry_edited_in_place_is_named(db_session, clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _export(db_session, clock, path)
    lines = _lines(path)
    target = _covered_entry(lines) + 1
    for x in lines:
        if x["type"] == "entry" and x["seq"] == target:
            x["actor"] = "someone else"
    _save(path, lines)
    result = verify_export(path, trusted_keys=_trusted()).result
    assert not result.ok and result.bad_seq == target
    assert "edited" in (result.reason or "")


def test_a_malformed_line_is_named(db_session, clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _export(db_session, clock, path)
    text = path.read_text(encoding="utf-8").splitlines()
    n_cps = sum(1 for x in text if '"type": "checkpoint"' in x)
    text[1 + n_cps + 4] = text[1 + n_cps + 4][:-9]  # the fifth entry, cut short
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    result = verify_export(path, trusted_keys=_trusted()).result
    assert not result.ok and result.bad_seq == 5 and result.intact_up_to == 4
    assert f"line {1 + n_cps + 5}: not JSON" in (result.reason or "")


def test_a_wrong_trusted_key_fails(db_session, clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    _export(db_session, clock, path)
    other = Ed25519PrivateKey.generate().public_key()
    pem = tmp_path / "hub.pub.pem"
    pem.write_text(public_pem(other), encoding="ascii")
    result = verify_export(path, trusted_keys=hub_keys_from_pem(read_pem_file(pem), where="x"))
    assert not result.result.ok and "unknown key" in (result.result.reason or "")


def test_a_file_re_signed_by_someone_else_passes_only_on_its_own_keys(
    db_session, clock: FakeClock, tmp_path: Path
) -> None:
    """Why --hub-key matters: a rewritten file can carry its own key and signatures."""
    path = tmp_path / "audit.jsonl"
    _export(db_session, clock, path)
    lines = _lines(path)
    forger = Ed25519PrivateKey.generate()
    forger_id = key_id_for("hub", forger.public_key())
    lines[0]["hub_keys"] = {forger_id: public_pem(forger.public_key())}
    for x in lines:
        if x["type"] == "checkpoint":
            hashes = b"".join(bytes.fromhex(h) for h in x["hashes"])
            cp = Checkpoint(
                x["seq"],
                x["hash"],
                datetime.fromisoformat(x["at"]),
                forger_id,
                b"",
                x["first_seq"],
                hashes,
            )
            x["key_id"] = forger_id
            x["signature"] = base64.b64encode(forger.sign(cp.signed_bytes())).decode()
    _save(path, lines)
    assert verify_export(path).result.ok  # consistent in itself ...
    assert not verify_export(path, trusted_keys=_trusted()).result.ok  # ... but not the hub's


def test_a_file_that_is_not_an_export_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps({"seq": 1, "prev": GENESIS}) + "\n", encoding="utf-8")
    with pytest.raises(AuditTampered, match="not an audit export"):
        verify_export(path)
