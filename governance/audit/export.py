"""The audit export an auditor verifies offline, with no database and no KEK.

Format (``format`` 2): UTF-8 text, one JSON object per line, each with a ``type``:

1. one header line ``{"type": "audit-export", "format": 2, "exported_at", "head":
   {"seq", "hash"}, "hub_keys": {key_id: public key PEM}}``, the hub's public signing
   keys (current and past) as registered in the hub database;
2. every checkpoint, in order: ``{"type": "checkpoint", "seq", "first_seq", "hash",
   "at", "key_id", "signature" (base64), "hashes" [hex, one per entry first_seq..seq]}``
   (``first_seq`` and ``hashes`` are null for a checkpoint of the head only);
3. every entry up to the head, in order: ``{"type": "entry", "seq", "at", "tag",
   "actor", "subject", "details" (object), "prev", "hash"}``.

:func:`verify_export` reads the file once, recomputes the chain and checks the
checkpoints exactly as the database verification does. The keys in the header prove
nothing against someone who rewrote the whole file: pass the hub's public key obtained
some other way (``trusted_keys``) to make the signatures count.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from governance.audit.chain import HASH_BYTES, ChainEntry, Checkpoint, Verification, verify_chain
from governance.canonical import canonical_json
from governance.errors import AuditTampered, KeyInvalid
from governance.timestamps import iso
from schemas.keys import key_id_for, load_public_pem

FORMAT = 2
HEADER_TYPE = "audit-export"
HUB_AGENCY = "hub"


def _line(record: Mapping[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"


def write_export(
    out: TextIO,
    *,
    exported_at: datetime,
    head: tuple[int, str],
    hub_keys: Mapping[str, str],
    checkpoints: Iterable[Checkpoint],
    entries: Iterable[ChainEntry],
) -> int:
    """Write the export; returns the number of entries written (those up to ``head``)."""
    out.write(
        _line(
            {
                "type": HEADER_TYPE,
                "format": FORMAT,
                "exported_at": iso(exported_at),
                "head": {"seq": head[0], "hash": head[1]},
                "hub_keys": dict(hub_keys),
            }
        )
    )
    for cp in checkpoints:
        if cp.seq > head[0]:
            break
        hashes = None
        if cp.hashes is not None:
            hashes = [
                cp.hashes[i : i + HASH_BYTES].hex() for i in range(0, len(cp.hashes), HASH_BYTES)
            ]
        out.write(
            _line(
                {
                    "type": "checkpoint",
                    "seq": cp.seq,
                    "first_seq": cp.first_seq,
                    "hash": cp.hash,
                    "at": iso(cp.at),
                    "key_id": cp.key_id,
                    "signature": base64.b64encode(cp.signature).decode("ascii"),
                    "hashes": hashes,
                }
            )
        )
    count = 0
    for e in entries:
        out.write(
            _line(
                {
                    "type": "entry",
                    "seq": e.seq,
                    "at": iso(e.at),
                    "tag": e.tag,
                    "actor": e.actor,
                    "subject": e.subject,
                    "details": json.loads(e.details),
                    "prev": e.prev_hash,
                    "hash": e.hash,
                }
            )
        )
        count += 1
    return count


@dataclass
class ExportVerification:
    """The verification of an export file; ``key_source`` says which keys were trusted."""

    result: Verification
    key_source: str
    exported_at: str | None = None
    head: tuple[int, str] | None = None
    warnings: list[str] = field(default_factory=list)


class _Malformed(Exception):
    def __init__(self, line_no: int, what: str) -> None:
        super().__init__(f"line {line_no}: {what}")


def hub_keys_from_pem(pems: Iterable[str], *, where: str) -> dict[str, Ed25519PublicKey]:
    """Public keys by their hub key id (computed from the key, never taken on trust)."""
    keys: dict[str, Ed25519PublicKey] = {}
    for pem in pems:
        key = load_public_pem(pem, where=where)
        keys[key_id_for(HUB_AGENCY, key)] = key
    return keys


def read_pem_file(path: Path) -> list[str]:
    """Every PEM block in ``path`` (one or more public keys)."""
    text = path.read_text(encoding="ascii", errors="replace")
    marker = "-----END PUBLIC KEY-----"
    blocks = [b.strip() + "\n" + marker + "\n" for b in text.split(marker)[:-1]]
    if not blocks:
        raise KeyInvalid(f"{path.name}: no PEM public key in the file")
    return blocks


def _checkpoint(record: dict[str, Any], line_no: int) -> Checkpoint:
    try:
        hashes = record["hashes"]
        return Checkpoint(
            seq=int(record["seq"]),
            hash=str(record["hash"]),
            at=datetime.fromisoformat(record["at"]),
            key_id=str(record["key_id"]),
            signature=base64.b64decode(record["signature"], validate=True),
            first_seq=None if record["first_seq"] is None else int(record["first_seq"]),
            hashes=None if hashes is None else b"".join(bytes.fromhex(h) for h in hashes),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _Malformed(line_no, f"checkpoint is malformed ({type(exc).__name__})") from exc


def _entry(record: dict[str, Any], line_no: int) -> ChainEntry:
    try:
        return ChainEntry(
            seq=int(record["seq"]),
            at=datetime.fromisoformat(record["at"]),
            tag=str(record["tag"]),
            actor=str(record["actor"]),
            subject=str(record["subject"]),
            details=canonical_json(record["details"]).decode("utf-8"),
            prev_hash=str(record["prev"]),
            hash=str(record["hash"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _Malformed(line_no, f"entry is malformed ({type(exc).__name__})") from exc


def _parse(line: str, line_no: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise _Malformed(line_no, "not JSON") from exc
    if not isinstance(record, dict):
        raise _Malformed(line_no, "not a JSON object")
    return record


def verify_export(
    path: Path, *, trusted_keys: Mapping[str, Ed25519PublicKey] | None = None
) -> ExportVerification:
    """Verify an export file offline; without ``trusted_keys`` the embedded keys are used
    (and a warning says that this proves consistency, not origin)."""
    with path.open(encoding="utf-8") as handle:
        lines = enumerate(handle, start=1)
        try:
            _, first = next(lines)
        except StopIteration:
            raise AuditTampered(f"{path.name} is empty, not an audit export") from None
        try:
            header = _parse(first, 1)
        except _Malformed as exc:
            raise AuditTampered(f"{path.name} is not an audit export: {exc}") from exc
        if header.get("type") != HEADER_TYPE or header.get("format") != FORMAT:
            raise AuditTampered(
                f"{path.name} is not an audit export in format {FORMAT} (a jsonl export made "
                "by `lmis-hub audit export` with checkpoints); export it again"
            )
        warnings: list[str] = []
        if trusted_keys is not None:
            keys, source = dict(trusted_keys), "trusted key file"
        else:
            source = "keys embedded in the export"
            try:
                keys = hub_keys_from_pem(
                    (str(p) for p in dict(header.get("hub_keys") or {}).values()),
                    where="hub key in the export header",
                )
            except (KeyInvalid, TypeError, ValueError) as exc:
                raise AuditTampered(f"{path.name}: the header's hub keys are unreadable") from exc
            warnings.append(
                "only the hub keys embedded in the export were used: this proves the file is "
                "consistent, not that the hub signed it; pass --hub-key with the hub's "
                "public key obtained from the hub operators"
            )
        try:
            head_obj = header["head"]
            head = (int(head_obj["seq"]), str(head_obj["hash"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise AuditTampered(f"{path.name}: the header's head is malformed") from exc

        checkpoints: list[Checkpoint] = []
        pending: list[tuple[int, dict[str, Any]]] = []
        state = {"last_seq": 0}
        try:
            for line_no, line in lines:
                record = _parse(line, line_no)
                if record.get("type") == "checkpoint":
                    checkpoints.append(_checkpoint(record, line_no))
                    continue
                pending.append((line_no, record))
                break

            def entries() -> Iterator[ChainEntry]:
                for line_no, record in pending:
                    yield _checked_entry(record, line_no)
                for line_no, line in lines:
                    yield _checked_entry(_parse(line, line_no), line_no)

            def _checked_entry(record: dict[str, Any], line_no: int) -> ChainEntry:
                if record.get("type") != "entry":
                    raise _Malformed(line_no, f"unexpected {str(record.get('type'))[:20]!r} line")
                entry = _entry(record, line_no)
                state["last_seq"] = entry.seq
                return entry

            result = verify_chain(entries(), head=head, checkpoints=checkpoints, public_keys=keys)
        except _Malformed as exc:
            last = state["last_seq"]
            result = Verification(last, last, last + 1, f"{exc} (the file was altered)")
    return ExportVerification(
        result=result,
        key_source=source,
        exported_at=str(header.get("exported_at")),
        head=head,
        warnings=warnings,
    )
