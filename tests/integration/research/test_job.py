"""Research extracts on a real lake and hub database: built for an approved member from
bronze and the linkage's person keys, signed, downloaded with an audit entry, rebuilt
without a person who withdrew consent, and deleted when the project ends."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from connectors.sdk.linkkey import LinkKey
from governance.audit.services import AuditLog
from governance.consent.services import ConsentService
from governance.errors import NotAMember, PolicyDenied, ProjectNotInState, ResearchRoleWrong
from governance.keys.secrets import HubSigningKey
from governance.keys.wrapping import KeyEncryptionKey
from governance.policy.services import PolicyService
from governance.research.application import parse_application
from governance.research.services import ResearchService
from governance.timestamps import utc_now
from integration.lake.catalog import open_catalog
from integration.linkage.features import Source
from integration.linkage.job import LinkageJob
from integration.linkage.model import ModelSettings
from integration.research.errors import ExtractNoLinkage, ExtractTampered
from integration.research.extract import PSEUDONYM
from integration.research.job import ExtractService, end_extracts
from integration.research.workspace import MANIFEST, SIGNATURE, Workspace
from schemas.catalog import SchemaCatalog
from tests.integration.linkage.bronze import land
from tests.integration.linkage.people import people, recorded

NIS = Source("nis", "insured_person")
JOBS = Source("jobboard", "jobseeker")
APPLICATION = {
    "id": "p-jobs",
    "title": "Job seekers in insured work",
    "public_benefit": "Whether registering with the employment service leads to insured work.",
    "legal_basis": "Statistics Act s. 12",
    "ethics_approval": "REC-1",
    "datasets": {
        "nis.insured_person": ["birth_year", "sex", "region"],
        "jobboard.jobseeker": ["sex", "region"],
    },
    "period": {"from": "2020-01-01", "to": "2030-12-31"},
    "duration_days": 90,
    "members": ["dr.j"],
    "disclosure": {
        "k": 5,
        "quasi_identifiers": ["birth_year", "sex", "region"],
        "generalise": {"birth_year": {"kind": "band", "width": 10}},
    },
}


def lineage(table: pa.Table, agreement_id: str) -> pa.Table:
    n = table.num_rows
    return table.append_column("_agreement_id", pa.array([agreement_id] * n)).append_column(
        "_agreement_version", pa.array([1] * n, pa.int32())
    )


@pytest.fixture
def hub(make_parties, db_session: Session, tmp_path: Path):
    make_parties(datasets=["nis/insured_person", "jobboard/jobseeker"])
    lake = open_catalog(
        database_url=f"sqlite:///{tmp_path / 'catalog.db'}", warehouse=str(tmp_path / "lake")
    )
    audit = AuditLog(db_session, clock=utc_now)
    workspace = Workspace(tmp_path / "research")

    def on_end(project_id: str, actor: str, reason: str) -> None:
        end_extracts(db_session, workspace, audit, utc_now, project_id, actor, reason=reason)

    research = ResearchService(
        db_session,
        clock=utc_now,
        audit=audit,
        policy=PolicyService(db_session, clock=utc_now, audit=audit),
        kek=KeyEncryptionKey(os.urandom(32)),
        on_end=on_end,
    )
    research.register_person(
        "dr.j", role="researcher", name="J", institution="UWI",
        accreditation_expires=date(2099, 1, 1), actor="lmis",
    )  # fmt: skip
    for user in ("ann", "bob"):
        research.register_person(user, role="lmis_admin", name=user, institution="L", actor="x")
    private = Ed25519PrivateKey.generate()
    extracts = ExtractService(
        session=db_session,
        lake=lake,
        research=research,
        signing_key=lambda: HubSigningKey(1, "hub-test", private),
        workspace=workspace,
        schemas=SchemaCatalog.load(),
        audit=audit,
        clock=utc_now,
    )
    key = LinkKey(os.urandom(32), key_id=1)
    population = people(300, seed=5)
    nis, _ = recorded(population, agency="nis", dataset="insured_person", key=key, seed=1)
    jobs, _ = recorded(population[:150], agency="jobboard", dataset="jobseeker", key=key, seed=2)
    land(lake, NIS, lineage(nis, "dsa-nis-lmis"))
    land(lake, JOBS, lineage(jobs, "dsa-jobboard-lmis"))
    return {
        "lake": lake,
        "audit": audit,
        "research": research,
        "extracts": extracts,
        "private": private,
        "nis": nis,
        "workspace": workspace,
    }


def approve(research: ResearchService) -> str:
    app = parse_application(APPLICATION, where="test")
    research.apply(app, actor="dr.j")
    research.approve(app.id, actor="ann")
    research.approve(app.id, actor="bob")
    assert research.project(app.id).state == "approved"
    return app.id


def link(hub, db_session: Session) -> None:
    LinkageJob(
        session=db_session,
        lake=hub["lake"],
        audit=hub["audit"],
        clock=utc_now,
        actor="t",
        settings=ModelSettings(u_pairs=100_000),
    ).run()


def test_build_download_rebuild_and_delete(hub, db_session: Session, tmp_path: Path) -> None:
    research, extracts = hub["research"], hub["extracts"]
    project = approve(research)
    with pytest.raises(ExtractNoLinkage):
        extracts.build(project, actor="dr.j")
    link(hub, db_session)
    with pytest.raises(ResearchRoleWrong):
        extracts.build(project, actor="ann")
    row = extracts.build(project, actor="dr.j")
    files = row.manifest["files"]
    assert sorted(files) == ["jobboard.jobseeker.parquet", "nis.insured_person.parquet"]
    assert files["nis.insured_person.parquet"]["rows"] > 250
    assert row.k_achieved >= 5 and row.manifest["rules"]["k_achieved"] >= 5
    assert row.manifest["agreements"] == [
        {"id": "dsa-jobboard-lmis", "version": 1},
        {"id": "dsa-nis-lmis", "version": 1},
    ]
    folder = hub["workspace"].project_dir(project) / row.folder
    # The manifest is signed by the hub, and names each file's hash.
    key_id, signature = (folder / SIGNATURE).read_text().split()
    hub["private"].public_key().verify(bytes.fromhex(signature), (folder / MANIFEST).read_bytes())
    assert key_id == "hub-test"
    assert (folder / "codebook.md").read_text().count("| pseudonym |") == 2
    # Nothing in a file is a token or a record id; persons carry pseudonyms.
    insured = pq.read_table(folder / "nis.insured_person.parquet")
    assert insured.column_names == [PSEUDONYM, "birth_year", "region", "sex"]  # sorted
    assert not {c for c in insured.column_names if c.endswith("_token") or c == "record_id"}
    # Downloads are the members', checked against the manifest and audited.
    out = extracts.download(
        project, row.id, "nis.insured_person.parquet", actor="dr.j", to=tmp_path
    )
    assert out.read_bytes() == (folder / "nis.insured_person.parquet").read_bytes()
    assert hub["audit"].search(tag="extract:download", actor="dr.j")
    with pytest.raises(NotAMember):
        research.register_person(
            "dr.x", role="researcher", name="X", institution="UWI",
            accreditation_expires=date(2099, 1, 1), actor="lmis",
        )  # fmt: skip
        extracts.download(project, row.id, "nis.insured_person.parquet", actor="dr.x", to=tmp_path)

    # A person withdraws consent for research: the live extract is rebuilt without them.
    withdrawn_token = next(t for t in hub["nis"]["national_id_token"].to_pylist() if t)
    ConsentService(db_session, clock=utc_now, audit=hub["audit"]).withdraw(
        withdrawn_token, "research", agency="nis", notice_version="n1", actor="nis-officer"
    )
    assert extracts.affected_by_consent() == [project]
    [rebuilt] = extracts.rebuild_for_consent(actor="consent-job")
    assert rebuilt.manifest["rules"]["consent"]["persons_withdrawn"] == 1
    assert extracts.live(project) == [rebuilt]
    assert not folder.exists()  # the superseded extract's files are gone
    assert extracts.affected_by_consent() == []
    new_rows = rebuilt.manifest["files"]["nis.insured_person.parquet"]["rows"]
    assert new_rows < files["nis.insured_person.parquet"]["rows"]
    # A file altered in the workspace is refused, and the next consent check rebuilds it.
    folder = hub["workspace"].project_dir(project) / rebuilt.folder
    (folder / "jobboard.jobseeker.parquet").write_bytes(b"altered")
    with pytest.raises(ExtractTampered):
        extracts.download(
            project, rebuilt.id, "jobboard.jobseeker.parquet", actor="dr.j", to=tmp_path
        )
    assert extracts.affected_by_consent() == [project]
    [rebuilt] = extracts.rebuild_for_consent(actor="consent-job")

    # Closing the project deletes its whole workspace, and the deletion is audited.
    research.close(project, actor="dr.j")
    assert not hub["workspace"].project_dir(project).exists()
    assert [e.details["extracts"] for e in hub["audit"].search(tag="extract:delete")][-1] == [
        rebuilt.id
    ]
    with pytest.raises(ProjectNotInState):
        extracts.build(project, actor="dr.j")


def test_a_field_outside_the_approval_is_refused_at_download(hub, db_session: Session) -> None:
    research = hub["research"]
    project = approve(research)
    with pytest.raises(PolicyDenied, match="outside_project_scope"):
        research.authorise(
            project, "dr.j", {"nis.insured_person": {"birth_year", "nis_number_token"}}
        )
    assert json.loads(research.project(project).scope)["jobboard.jobseeker"] == ["region", "sex"]
