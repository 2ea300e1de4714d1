"""The connector run: source -> mapping -> validation -> tokenisation -> batches.

Batches are deterministic: from the same stored watermark, the same source rows give
the same batches in the same order, each with an id computed from its content. Each
batch goes to a ``publish`` callable (the seam where the signed envelope is built and
sent); what it returns (payload and headers as opaque bytes) is stored in the outbox,
and in the same local transaction the watermark moves to the last row the batch
covers and the batch's refusals are recorded. So:

- ``publish`` raises -> nothing is stored, the watermark stays: the next run reads the
  same rows again and rebuilds the same batch (same id). Nothing lost.
- A batch id already in the outbox is not published again. Nothing twice. Except a
  batch the hub rejected: rows read again (after ``connector rewind``) that give the
  same records go to ``publish`` again, which sends the stored batch under the
  agreement the config names now (the hub deduplicates by batch id only what it
  accepted). Rows mapped differently give other records, so another batch id.
- The outbox row of each batch keeps the watermark in force before its rows were read
  and the one after its last row, so ``connector rewind`` can go back to it.
- A crash after ``publish`` but before the commit republishes the same batch id on
  the next run; the hub deduplicates by batch id.
- :class:`connectors.sdk.publisher.EnvelopePublisher` stores the batch itself as
  ``pending`` before sending, so after a failed delivery or a crash the batch is
  already held: the next run skips it and moves the watermark, and the resend path
  sends the stored bytes.

Refused rows never reach a batch; they are reported with the batch whose watermark
moves past them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from connectors.sdk.errors import IdentifierInvalid
from connectors.sdk.mapping import Mapper
from connectors.sdk.outbox import Outbox
from connectors.sdk.sources.base import Source
from connectors.sdk.state import StateDB
from connectors.sdk.tokenise import TOKEN_FIELDS, RecordIds, Tokeniser
from connectors.sdk.validation import Refusal, Validator
from connectors.sdk.watermark import Watermark, WatermarkStore, encode_scalar

if TYPE_CHECKING:
    from collections.abc import Set

    from connectors.sdk.config import ConnectorConfig
    from connectors.sdk.linkkey import LinkKey


@dataclass(frozen=True)
class Batch:
    """Records ready for the envelope, in source order, with a content-derived id."""

    batch_id: str
    dataset: str
    records: tuple[dict[str, Any], ...]
    refusals: tuple[Refusal, ...]
    watermark: Watermark
    #: Source rows the batch covers (records plus refused rows).
    row_count: int


@dataclass(frozen=True)
class Published:
    """What ``publish`` sent: the bytes the outbox keeps for a resend."""

    payload: bytes
    headers: bytes


Publish = Callable[[Batch], Published]


@dataclass
class RunReport:
    """What one run did."""

    dataset: str
    rows_read: int = 0
    records_published: int = 0
    batches: list[str] = field(default_factory=list)
    skipped_batches: list[str] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    watermark: Watermark | None = None
    #: The run stopped early because ``should_stop`` said so (after a committed batch).
    stopped: bool = False


def _canonical(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"b": value.hex()}
    if isinstance(value, datetime | date):
        return {"t": value.isoformat()}
    if isinstance(value, Decimal):
        return {"d": str(value)}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


#: Types :func:`_canonical` returns unchanged, and the ones it wraps, by exact type (a
#: subclass takes the general path), for the flat records a batch almost always holds.
_AS_IS = frozenset({str, int, float, bool, type(None)})
_WRAPPED: dict[type, Callable[[Any], Any]] = {
    bytes: lambda v: {"b": v.hex()},
    date: lambda v: {"t": v.isoformat()},
    datetime: lambda v: {"t": v.isoformat()},
}
#: What ``json.dumps(..., sort_keys=True, separators=(",", ":"))`` builds on every call.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def _canonical_record(record: dict[str, Any]) -> dict[str, Any]:
    """``_canonical(record)``, with the common value types handled without recursion."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        kind = type(value)
        if kind in _AS_IS:
            out[str(key)] = value
        else:
            wrap = _WRAPPED.get(kind)
            out[str(key)] = wrap(value) if wrap is not None else _canonical(value)
    return out


def batch_id_for(dataset: str, records: Iterable[dict[str, Any]], *, span: str = "") -> str:
    """SHA-256 over the dataset, the span of source rows it covers and the records'
    canonical JSON, in order (hex).

    The span (the last row's watermark) keeps a later batch whose records happen to
    equal an earlier one's (a correction reverted, say) from being taken for it.
    """
    digest = hashlib.sha256(dataset.encode("utf-8") + b"\x00" + span.encode("utf-8") + b"\x00")
    encode = _CANONICAL_JSON.encode
    lines = "".join(
        encode(_canonical_record(r) if type(r) is dict else _canonical(r)) + "\n" for r in records
    )
    digest.update(lines.encode("utf-8"))
    return digest.hexdigest()


class Pipeline:
    """One dataset's connector run, its dependencies given explicitly."""

    def __init__(
        self,
        *,
        dataset: str,
        source: Source,
        mapper: Mapper,
        validator: Validator,
        tokeniser: Tokeniser,
        state: StateDB,
        batch_size: int,
        clock: Callable[[], datetime],
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.dataset = dataset
        self._source = source
        self._mapper = mapper
        self._validator = validator
        self._tokeniser = tokeniser
        self._state = state
        self._outbox = Outbox(state)
        self._watermarks = WatermarkStore(state)
        self._batch_size = batch_size
        self._clock = clock

    @classmethod
    def from_config(
        cls,
        config: ConnectorConfig,
        *,
        state: StateDB,
        link_key: LinkKey,
        clock: Callable[[], datetime],
        code_lists: dict[str, Set[str]] | None = None,
        regions: frozenset[str] | None = None,
        source: Source | None = None,
    ) -> Pipeline:
        """Wire a pipeline from a connector's YAML config and what the entry point loaded."""
        from connectors.sdk.sources.base import load_source

        return cls(
            dataset=config.dataset,
            source=source or load_source(config.source),
            mapper=Mapper(
                config.mapping,
                record_ids=RecordIds(link_key, agency=config.agency, dataset=config.dataset),
            ),
            validator=Validator(config.validation, code_lists=code_lists, today=clock().date()),
            tokeniser=Tokeniser(link_key, rules=config.tokenise.rules(regions=regions)),
            state=state,
            batch_size=config.batch_size,
            clock=clock,
        )

    def process_row(self, values: dict[str, Any]) -> tuple[dict[str, Any] | None, list[Refusal]]:
        """Map, validate and tokenise one row: the record, or None and its refusals."""
        mapped = self._mapper.map(values)
        refusals = list(mapped.refusals)
        unmapped = {r.field for r in refusals}  # one refusal per field: the first cause
        refusals += [
            r for r in self._validator.check(mapped.key, mapped.fields) if r.field not in unmapped
        ]
        try:
            tokens = self._tokeniser.tokens(mapped.identifiers)
        except IdentifierInvalid as exc:
            kind = str(exc.context.get("kind", "identifier"))
            field_name = TOKEN_FIELDS.get(kind, kind)
            refusals.append(Refusal(mapped.key, field_name, IdentifierInvalid.code, exc.message))
            tokens = {}
        if refusals:
            return None, refusals
        record = dict(mapped.fields)
        record.update(tokens)
        return record, []

    def batches(self, after: Watermark | None) -> Iterable[Batch]:
        """Deterministic batches of the rows after ``after`` (nothing is stored)."""
        records: list[dict[str, Any]] = []
        refusals: list[Refusal] = []
        last: Watermark | None = None
        rows = 0
        for chunk in self._source.read(after):
            for row in chunk:
                record, refused = self.process_row(row.values)
                last = row.watermark
                rows += 1
                if record is None:
                    refusals.extend(refused)
                else:
                    records.append(record)
                if len(records) >= self._batch_size:
                    yield self._batch(records, refusals, last, rows)
                    records, refusals, rows = [], [], 0
        if last is not None and rows:
            yield self._batch(records, refusals, last, rows)

    def _batch(
        self, records: list[dict[str, Any]], refusals: list[Refusal], last: Watermark, rows: int
    ) -> Batch:
        return Batch(
            batch_id=batch_id_for(
                self.dataset,
                records,
                span=encode_scalar(last.value) + encode_scalar(last.key),
            ),
            dataset=self.dataset,
            records=tuple(records),
            refusals=tuple(refusals),
            watermark=last,
            row_count=rows,
        )

    def run(self, publish: Publish, *, should_stop: Callable[[], bool] | None = None) -> RunReport:
        """Read after the stored watermark; publish, store and advance batch by batch.

        ``should_stop`` is asked after each batch is committed (outbox and watermark);
        when it answers True the run ends there, so a stop never leaves half a batch.
        """
        report = RunReport(dataset=self.dataset)
        after = self._watermarks.get(self.dataset)
        before = after
        for batch in self.batches(after):
            report.rows_read += batch.row_count
            published: Published | None = None
            if batch.records and self._outbox.state_of(batch.batch_id) in (None, "rejected"):
                published = publish(batch)
            now = self._clock()
            with self._state.transaction() as conn:
                if published is not None:
                    self._outbox.store(
                        batch_id=batch.batch_id,
                        dataset=self.dataset,
                        payload=published.payload,
                        headers=published.headers,
                        record_count=len(batch.records),
                        created_at=now,
                        sent_at=now,
                    )
                if batch.records:
                    self._outbox.note_span(batch.batch_id, before=before, after=batch.watermark)
                conn.executemany(
                    "INSERT INTO refusals (dataset, row_key, field, reason, message, "
                    "recorded_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        (self.dataset, r.row_key, r.field, r.reason, r.message, now.isoformat())
                        for r in batch.refusals
                    ],
                )
                self._watermarks.advance(self.dataset, batch.watermark, at=now)
            before = batch.watermark
            if published is not None:
                report.batches.append(batch.batch_id)
                report.records_published += len(batch.records)
            elif batch.records:
                report.skipped_batches.append(batch.batch_id)
            report.refusals.extend(batch.refusals)
            report.watermark = batch.watermark
            if should_stop is not None and should_stop():
                report.stopped = True
                break
        return report
