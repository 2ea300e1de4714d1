"""Consent withdrawn for linkage leaves a person's consent-based records unlinked, from
the next run on; records held under a statute stay linked."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy.orm import Session

from connectors.sdk.linkkey import LinkKey
from governance.agencies.models import Agency
from governance.agreements.document import load_yaml
from governance.agreements.models import Agreement
from governance.audit.services import AuditLog
from governance.consent.services import ConsentService
from governance.timestamps import utc_now
from integration.lake.catalog import open_catalog
from integration.linkage import silver
from integration.linkage.features import Source
from integration.linkage.job import LinkageJob
from integration.linkage.model import ModelSettings
from tests.integration.linkage.bronze import land
from tests.integration.linkage.people import people, recorded

EXAMPLE = Path(__file__).parents[3] / "governance" / "examples" / "nis-contributions.yaml"
NIS = Source("nis", "insured_person")
JOBS = Source("jobboard", "jobseeker")


def agreement(session: Session, *, agreement_id: str, provider: str, basis: str) -> None:
    doc = load_yaml(EXAMPLE).model_copy(update={"id": agreement_id})
    doc = doc.model_copy(update={"legal_basis": doc.legal_basis.model_copy(update={"kind": basis})})
    session.add(
        Agreement(
            id=agreement_id,
            version=1,
            provider=provider,
            title=f"{provider} under {basis}",
            document=json.dumps(doc.model_dump(mode="json")),
            digest="0" * 64,
            state="active",
            valid_from=date(2026, 1, 1),
            valid_until=date(2028, 12, 31),
            created_at=utc_now(),
            created_by="test",
        )
    )


def lineage(table: pa.Table, agreement_id: str) -> pa.Table:
    n = table.num_rows
    return table.append_column("_agreement_id", pa.array([agreement_id] * n)).append_column(
        "_agreement_version", pa.array([1] * n, pa.int32())
    )


@pytest.fixture
def lake(tmp_path: Path):
    return open_catalog(
        database_url=f"sqlite:///{tmp_path / 'catalog.db'}", warehouse=str(tmp_path)
    )


def test_a_withdrawal_unlinks_the_consent_based_records_at_the_next_run(
    db_session: Session, lake
) -> None:
    for code in ("nis", "jobboard"):
        if db_session.get(Agency, code) is None:
            db_session.add(Agency(code=code, name=code, created_at=utc_now()))
    db_session.flush()
    agreement(db_session, agreement_id="nis-statute", provider="nis", basis="statute")
    agreement(db_session, agreement_id="jobs-consent", provider="jobboard", basis="consent")
    db_session.commit()
    key = LinkKey(os.urandom(32), key_id=1)
    population = people(400, seed=4)
    nis, _ = recorded(
        population, agency="nis", dataset="insured_person", key=key, seed=1, missing_id=0.0
    )
    jobs, _ = recorded(
        population[:200], agency="jobboard", dataset="jobseeker", key=key, seed=2, missing_id=0.0
    )
    land(lake, NIS, lineage(nis, "nis-statute"))
    land(lake, JOBS, lineage(jobs, "jobs-consent"))
    audit = AuditLog(db_session, clock=utc_now)
    job = LinkageJob(
        session=db_session,
        lake=lake,
        audit=audit,
        clock=utc_now,
        actor="t",
        settings=ModelSettings(u_pairs=100_000),
    )
    first = job.run()
    assert first.counts["left_out_consent_withdrawn"] == {}

    def linked(run) -> dict[tuple[str, str], str]:
        rows = (
            lake.load_table(silver.PERSON_LINKS)
            .scan(snapshot_id=run.snapshots[silver.PERSON_LINKS])
            .to_arrow()
        )
        return {
            (f"{a}/{d}", r): k
            for a, d, r, k in zip(
                *(rows[c].to_pylist() for c in ("agency", "dataset", "record_id", "person_key")),
                strict=True,
            )
        }

    before = linked(first)
    job_record = ("jobboard/jobseeker", jobs["record_id"][0].as_py())
    nis_record = ("nis/insured_person", nis["record_id"][0].as_py())
    assert before[job_record] == before[nis_record]
    # The job board records the person's withdrawal, by the token the hub holds.
    ConsentService(db_session, clock=utc_now, audit=audit).withdraw(
        nis["national_id_token"][0].as_py(),
        "linkage",
        agency="jobboard",
        notice_version="pes-2026",
        actor="jobboard-officer",
    )
    db_session.commit()
    second = job.run()
    assert second.counts["left_out_consent_withdrawn"] == {"jobboard/jobseeker": 1}
    after = linked(second)
    assert job_record not in after
    assert after[nis_record] == before[nis_record]  # the statute-based record stays
    assert len(after) == len(before) - 1
