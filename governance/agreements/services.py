"""Agreements: create and amend versions, sign, move through the lifecycle, check
deliveries against them, and monitor expiry and late deliveries."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.orm import Session

from governance.agencies.models import Agency
from governance.agreements.calendar import Period, latest_due_period
from governance.agreements.coverage import Coverage, Terms, decide_coverage
from governance.agreements.document import (
    AgreementDocument,
    canonical_bytes,
    digest,
    parse_document,
)
from governance.agreements.lifecycle import allowed
from governance.agreements.models import (
    Agreement,
    AgreementNotice,
    AgreementSignature,
    AgreementTransition,
    Delivery,
)
from governance.audit.services import AuditLog
from governance.errors import (
    AgencyUnknown,
    AgreementExists,
    AgreementExpired,
    AgreementInvalid,
    AgreementUnchanged,
    AgreementUnknown,
    NotAParty,
    SignatureInvalid,
    TransitionRefused,
)
from governance.keys.services import KeyService
from governance.timestamps import Clock, iso
from schemas.catalog import SchemaCatalog

# Core (not ORM) statement: check_delivery runs for every batch, so keep it lean.
_agreements: Table = Agreement.__table__  # type: ignore[assignment]
_STATES = select(_agreements.c.version, _agreements.c.state).where(
    _agreements.c.id == bindparam("agreement_id")
)


@dataclass(frozen=True)
class LateDelivery:
    agreement_id: str
    version: int
    provider: str
    dataset: str
    period_start: date
    period_end: date
    due: date
    last_delivery: datetime | None

    def as_dict(self) -> dict[str, object]:
        return {
            "agreement_id": self.agreement_id,
            "version": self.version,
            "provider": self.provider,
            "dataset": self.dataset,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "due": self.due.isoformat(),
            "last_delivery": self.last_delivery.isoformat() if self.last_delivery else None,
        }


def document_of(row: Agreement) -> AgreementDocument:
    return parse_document(json.loads(row.document), where=f"agreement {row.id} v{row.version}")


class AgreementService:
    """All changes are audited in the caller's transaction.

    ``check_delivery`` is called for every batch: the parsed terms of each version are
    cached for the life of the service (a version's document never changes once
    stored), and only the versions' states are read, in one indexed query.
    """

    def __init__(
        self,
        session: Session,
        *,
        clock: Clock,
        audit: AuditLog,
        keys: KeyService,
        schemas: SchemaCatalog | None = None,
    ) -> None:
        """``schemas``: the schema catalog every stored agreement is checked against
        (datasets the provider holds, fields some version of them has); the hub's
        wiring always passes it, tests of the lifecycle alone may leave it out."""
        self.session = session
        self.clock = clock
        self.audit = audit
        self.keys = keys
        self.schemas = schemas
        self._terms: dict[tuple[str, int], Terms] = {}

    # Versions --------------------------------------------------------------------

    def create(self, doc: AgreementDocument, *, actor: str) -> Agreement:
        if self.session.scalar(select(func.count()).where(Agreement.id == doc.id)):
            raise AgreementExists(f"agreement {doc.id} exists; amend it for a new version")
        return self._store(doc.model_copy(update={"version": 1}), actor, "agreement:create")

    def amend(self, doc: AgreementDocument, *, actor: str) -> Agreement:
        """Store ``doc`` as the next version of its agreement, as a draft."""
        latest = self.session.scalar(
            select(func.max(Agreement.version)).where(Agreement.id == doc.id)
        )
        if latest is None:
            raise AgreementUnknown(f"agreement {doc.id} does not exist; create it first")
        current = self.get(doc.id, latest)
        if digest(doc.model_copy(update={"version": latest})) == current.digest:
            raise AgreementUnchanged(
                f"agreement {doc.id}: the amendment is identical to v{latest}; change its terms"
            )
        return self._store(doc.model_copy(update={"version": latest + 1}), actor, "agreement:amend")

    def _store(self, doc: AgreementDocument, actor: str, tag: str) -> Agreement:
        for code in doc.parties:
            if self.session.get(Agency, code) is None:
                raise AgencyUnknown(f"agreement {doc.id}: party {code!r} is not registered")
        if self.schemas is not None:
            self._check_against_schemas(doc, self.schemas)
        row = Agreement(
            id=doc.id,
            version=doc.version,
            provider=doc.provider,
            title=doc.title,
            document=canonical_bytes(doc).decode("utf-8"),
            digest=digest(doc),
            state="draft",
            valid_from=doc.valid_from,
            valid_until=doc.valid_until,
            created_at=self.clock(),
            created_by=actor,
        )
        self.session.add(row)
        self.session.flush()
        self.audit.record(
            tag,
            actor,
            f"agreement:{doc.id}:v{doc.version}",
            {"digest": row.digest, "provider": doc.provider, "datasets": sorted(doc.datasets)},
        )
        return row

    def get(self, agreement_id: str, version: int | None = None) -> Agreement:
        if version is None:
            version = self.session.scalar(
                select(func.max(Agreement.version)).where(Agreement.id == agreement_id)
            )
        row = None if version is None else self.session.get(Agreement, (agreement_id, version))
        if row is None:
            which = "" if version is None else f" v{version}"
            raise AgreementUnknown(f"agreement {agreement_id}{which} does not exist")
        return row

    def find(self, *, state: str | None = None, provider: str | None = None) -> list[Agreement]:
        query = select(Agreement).order_by(Agreement.id, Agreement.version)
        if state is not None:
            query = query.where(Agreement.state == state)
        if provider is not None:
            query = query.where(Agreement.provider == provider)
        return list(self.session.scalars(query))

    def signatures(self, agreement_id: str, version: int) -> list[AgreementSignature]:
        return list(
            self.session.scalars(
                select(AgreementSignature)
                .where(AgreementSignature.agreement_id == agreement_id)
                .where(AgreementSignature.version == version)
                .order_by(AgreementSignature.agency)
            )
        )

    def history(self, agreement_id: str, version: int) -> list[AgreementTransition]:
        return list(
            self.session.scalars(
                select(AgreementTransition)
                .where(AgreementTransition.agreement_id == agreement_id)
                .where(AgreementTransition.version == version)
                .order_by(AgreementTransition.id)
            )
        )

    # Signing -----------------------------------------------------------------------

    def signing_bytes(self, agreement_id: str, version: int) -> bytes:
        """The canonical bytes each party signs."""
        return self.get(agreement_id, version).document.encode("utf-8")

    def sign(
        self,
        agreement_id: str,
        version: int,
        *,
        agency: str,
        key_id: str,
        signature: bytes,
        actor: str,
        at: datetime | None = None,
    ) -> AgreementSignature:
        """Record ``agency``'s signature; the last party's signature makes it ``signed``."""
        row = self.get(agreement_id, version)
        doc = document_of(row)
        ref = f"agreement {agreement_id} v{version}"
        if agency not in doc.parties:
            raise NotAParty(f"{ref}: {agency} is not a party ({', '.join(doc.parties)})")
        if row.state != "draft":
            raise TransitionRefused(f"{ref} is {row.state}; only drafts are signed")
        when = at or self.clock()
        status = self.keys.status(key_id)
        if status.agency != agency:
            raise SignatureInvalid(f"{ref}: key {key_id} belongs to {status.agency}, not {agency}")
        public = self.keys.public_key_at(key_id, when)
        try:
            public.verify(signature, row.document.encode("utf-8"))
        except InvalidSignature as exc:
            raise SignatureInvalid(
                f"{ref}: {agency}'s signature does not verify with key {key_id}"
            ) from exc
        existing = self.session.get(AgreementSignature, (agreement_id, version, agency))
        if existing is not None:
            raise TransitionRefused(f"{ref} is already signed by {agency}")
        sig = AgreementSignature(
            agreement_id=agreement_id,
            version=version,
            agency=agency,
            key_id=key_id,
            signature=signature,
            signed_at=when,
            signed_by=actor,
        )
        self.session.add(sig)
        self.session.flush()
        self.audit.record(
            "agreement:sign",
            actor,
            f"agreement:{agreement_id}:v{version}",
            {"agency": agency, "key_id": key_id, "digest": row.digest},
        )
        signed = {s.agency for s in self.signatures(agreement_id, version)}
        if signed >= set(doc.parties):
            self._move(row, "signed", actor=actor, reason="signed by every party")
        return sig

    def sign_with(
        self,
        agreement_id: str,
        version: int,
        *,
        agency: str,
        key_id: str,
        private_key: Ed25519PrivateKey,
        actor: str,
    ) -> AgreementSignature:
        signature = private_key.sign(self.signing_bytes(agreement_id, version))
        return self.sign(
            agreement_id, version, agency=agency, key_id=key_id, signature=signature, actor=actor
        )

    def verify_signatures(self, agreement_id: str, version: int) -> dict[str, str]:
        """Re-verify every stored signature: agency -> "valid" or the reason code."""
        row = self.get(agreement_id, version)
        out: dict[str, str] = {}
        for sig in self.signatures(agreement_id, version):
            try:
                key = self.keys.public_key_at(sig.key_id, sig.signed_at)
                key.verify(sig.signature, row.document.encode("utf-8"))
                out[sig.agency] = "valid"
            except InvalidSignature:
                out[sig.agency] = SignatureInvalid.code
            except SignatureInvalid as exc:  # pragma: no cover - defensive
                out[sig.agency] = exc.code
            except Exception as exc:
                out[sig.agency] = getattr(exc, "code", type(exc).__name__)
        return out

    @staticmethod
    def _check_against_schemas(doc: AgreementDocument, schemas: SchemaCatalog) -> None:
        """Every dataset is one the provider holds, every field one that some version of
        that dataset's schema has: an agreement can only allow what can be delivered."""
        held = sorted(
            key.split("/", 1)[1] for key in schemas.datasets() if key.startswith(f"{doc.provider}/")
        )
        problems = []
        for name, terms in sorted(doc.datasets.items()):
            if name not in held:
                problems.append(
                    f"datasets.{name}: {doc.provider} holds no such dataset "
                    f"(its datasets: {', '.join(held) or 'none'})"
                )
                continue
            known = {f["name"] for sv in schemas.versions(doc.provider, name) for f in sv.fields}
            unknown = sorted(set(terms.fields) - known)
            if unknown:
                problems.append(
                    f"datasets.{name}.fields: no version of {doc.provider}/{name} has "
                    f"{', '.join(unknown)}"
                )
        if problems:
            raise AgreementInvalid(f"agreement {doc.id}: " + "; ".join(problems))

    # Lifecycle -----------------------------------------------------------------------

    def _move(self, row: Agreement, to_state: str, *, actor: str, reason: str) -> Agreement:
        ref = f"agreement {row.id} v{row.version}"
        if not allowed(row.state, to_state):
            raise TransitionRefused(f"{ref}: {row.state} -> {to_state} is not allowed")
        if not reason.strip():
            raise TransitionRefused(f"{ref}: a reason is required for {to_state}")
        from_state, now = row.state, self.clock()
        row.state = to_state
        self.session.add(
            AgreementTransition(
                agreement_id=row.id,
                version=row.version,
                from_state=from_state,
                to_state=to_state,
                actor=actor,
                at=now,
                reason=reason,
            )
        )
        self.session.flush()
        self.audit.record(
            "agreement:transition",
            actor,
            f"agreement:{row.id}:v{row.version}",
            {"from": from_state, "to": to_state, "reason": reason},
        )
        return row

    def activate(self, agreement_id: str, version: int, *, actor: str, reason: str) -> Agreement:
        """Activate a signed (or re-activate a suspended) version; older versions end."""
        row = self.get(agreement_id, version)
        ref = f"agreement {row.id} v{row.version}"
        if row.state == "draft":
            signed = {s.agency for s in self.signatures(agreement_id, version)}
            missing = sorted(set(document_of(row).parties) - signed)
            raise TransitionRefused(
                f"{ref} is a draft: it still needs the signature of {', '.join(missing)}"
            )
        today = self.clock().date()
        if row.valid_until < today:
            raise AgreementExpired(
                f"{ref} was valid until {row.valid_until.isoformat()}; amend it with new "
                f"validity dates, sign the amendment and activate that"
            )
        self._move(row, "active", actor=actor, reason=reason)
        for older in self.find():
            if (
                older.id == agreement_id
                and older.version < version
                and older.state
                in (
                    "active",
                    "suspended",
                    "signed",
                    "draft",
                )
            ):
                self._move(older, "terminated", actor=actor, reason=f"superseded by v{version}")
                self._queue_notice(older, row, actor=actor)
        return row

    # Agreement notices -----------------------------------------------------------------

    def _queue_notice(self, superseded: Agreement, current: Agreement, *, actor: str) -> None:
        """Owe the provider a notice that ``superseded`` gave way to ``current``, in the
        activation's transaction; the ingest worker publishes it (``sent_at`` stays NULL
        until then)."""
        notice = AgreementNotice(
            agency=current.provider,
            agreement_id=current.id,
            superseded_version=superseded.version,
            current_version=current.version,
            created_at=self.clock(),
        )
        self.session.add(notice)
        self.session.flush()
        self.audit.record(
            "agreement_notice:queue",
            actor,
            f"agreement:{current.id}:v{superseded.version}",
            {
                "agency": current.provider,
                "superseded_version": superseded.version,
                "current_version": current.version,
            },
        )

    def pending_notices(self, *, limit: int = 100, claim: bool = False) -> list[AgreementNotice]:
        """Agreement notices not yet published, oldest first. With ``claim`` the rows are
        locked until the transaction ends and rows another transaction holds are skipped
        (PostgreSQL; SQLite has one writer anyway), so two senders do not both publish."""
        query = (
            select(AgreementNotice)
            .where(AgreementNotice.sent_at.is_(None))
            .order_by(AgreementNotice.id)
            .limit(limit)
        )
        if claim:
            query = query.with_for_update(skip_locked=True)
        return list(self.session.scalars(query))

    def notices(self, agreement_id: str) -> list[AgreementNotice]:
        """Every notice queued for an agreement, oldest first."""
        return list(
            self.session.scalars(
                select(AgreementNotice)
                .where(AgreementNotice.agreement_id == agreement_id)
                .order_by(AgreementNotice.id)
            )
        )

    def mark_notice_sent(self, notice: AgreementNotice, *, at: datetime, actor: str) -> None:
        """Record that ``notice`` was published to its provider's receipts topic."""
        notice.sent_at = at
        self.session.flush()
        self.audit.record(
            "agreement_notice:send",
            actor,
            f"agreement:{notice.agreement_id}:v{notice.superseded_version}",
            {
                "agency": notice.agency,
                "superseded_version": notice.superseded_version,
                "current_version": notice.current_version,
            },
        )

    def suspend(self, agreement_id: str, version: int, *, actor: str, reason: str) -> Agreement:
        return self._move(self.get(agreement_id, version), "suspended", actor=actor, reason=reason)

    def terminate(self, agreement_id: str, version: int, *, actor: str, reason: str) -> Agreement:
        return self._move(self.get(agreement_id, version), "terminated", actor=actor, reason=reason)

    def expire_due(self, *, actor: str, at: datetime | None = None) -> list[Agreement]:
        """Move active or suspended versions whose validity has ended to ``expired``."""
        today = (at or self.clock()).date()
        due = self.session.scalars(
            select(Agreement)
            .where(Agreement.state.in_(("active", "suspended")))
            .where(Agreement.valid_until < today)
        )
        return [
            self._move(r, "expired", actor=actor, reason=f"validity ended {r.valid_until}")
            for r in list(due)
        ]

    # Deliveries --------------------------------------------------------------------

    def _terms_for(self, agreement_id: str, version: int) -> Terms | None:
        key = (agreement_id, version)
        terms = self._terms.get(key)
        if terms is None:
            row = self.session.get(Agreement, key)
            if row is None:
                return None
            doc = document_of(row)
            terms = Terms(
                agreement_id,
                version,
                doc.provider,
                {name: frozenset(t.fields) for name, t in doc.datasets.items()},
                doc.starts_at(),
                doc.ends_at(),
            )
            self._terms[key] = terms
        return terms

    def check_delivery(
        self,
        agency: str,
        dataset: str,
        fields: frozenset[str] | set[str] | list[str] | tuple[str, ...],
        agreement_id: str,
        agreement_version: int,
        at: datetime,
    ) -> Coverage:
        """Is this batch covered? ``Coverage.covered`` or the precise reason code."""
        result = self.session.connection().execute(_STATES, {"agreement_id": agreement_id})
        states: dict[int, str] = {int(row[0]): str(row[1]) for row in result}
        terms = self._terms_for(agreement_id, agreement_version) if states else None
        return decide_coverage(
            terms,
            states,
            agreement_id=agreement_id,
            agreement_version=agreement_version,
            agency=agency,
            dataset=dataset,
            fields=fields,
            at=at,
        )

    def record_delivery(
        self,
        agreement_id: str,
        version: int,
        dataset: str,
        at: datetime,
        *,
        batch_id: str | None = None,
        actor: str = "ingest",
        audit: bool = True,
    ) -> Delivery:
        """Record an accepted delivery so the monitor knows the period is served.

        With ``audit=False`` the caller's own audit entry must carry the agreement,
        dataset, time and batch id (the ingest worker's ``delivery:accepted`` does).
        """
        self.get(agreement_id, version)
        row = Delivery(
            agreement_id=agreement_id, version=version, dataset=dataset, at=at, batch_id=batch_id
        )
        self.session.add(row)
        self.session.flush()
        if not audit:
            return row
        self.audit.record(
            "delivery:recorded",
            actor,
            f"agreement:{agreement_id}:v{version}",
            {"dataset": dataset, "at": iso(at), "batch_id": batch_id},
        )
        return row

    # Monitoring --------------------------------------------------------------------

    def expiring(self, within_days: int, *, at: datetime | None = None) -> list[Agreement]:
        """Active or suspended versions whose last valid day is within ``within_days``."""
        today = (at or self.clock()).date()
        return list(
            self.session.scalars(
                select(Agreement)
                .where(Agreement.state.in_(("active", "suspended")))
                .where(Agreement.valid_until >= today)
                .where(Agreement.valid_until <= today + timedelta(days=within_days))
                .order_by(Agreement.valid_until, Agreement.id)
            )
        )

    def late(self, *, at: datetime | None = None) -> list[LateDelivery]:
        """For each active agreement and dataset: the latest due period with no delivery."""
        now = at or self.clock()
        today = now.date()
        out: list[LateDelivery] = []
        for row in self.find(state="active"):
            doc = document_of(row)
            for name, terms in sorted(doc.datasets.items()):
                period = latest_due_period(today, terms.periodicity, terms.delivery_lag_days)
                if period is None or not (
                    row.valid_from <= period.start
                    and period.end <= row.valid_until + timedelta(days=1)
                ):
                    continue
                last = self._last_delivery(row.id, name)
                if last is None or last.date() < period.end:
                    out.append(_late(row, name, period, terms.delivery_lag_days, last))
        return out

    def deliveries(
        self, agreement_id: str, *, since: date | None = None, limit: int = 100
    ) -> list[Delivery]:
        """Deliveries accepted under any version of ``agreement_id``, newest first."""
        query = select(Delivery).where(Delivery.agreement_id == agreement_id)
        if since is not None:
            query = query.where(Delivery.at >= datetime.combine(since, time(), tzinfo=UTC))
        return list(self.session.scalars(query.order_by(Delivery.at.desc()).limit(limit)))

    def _last_delivery(self, agreement_id: str, dataset: str) -> datetime | None:
        return self.session.scalar(
            select(Delivery.at)
            .where(Delivery.agreement_id == agreement_id)
            .where(Delivery.dataset == dataset)
            .order_by(Delivery.at.desc())
            .limit(1)
        )


def _late(
    row: Agreement, dataset: str, period: Period, lag: int, last: datetime | None
) -> LateDelivery:
    return LateDelivery(
        row.id, row.version, row.provider, dataset, period.start, period.end, period.due(lag), last
    )
