"""Research access over HTTP, end to end on a served hub with linked data in its lake:
the LMIS unit registers the people, a researcher applies, two administrators and the
data-owning agency approve, the LMIS unit builds the extract, a member downloads it (a
non-member cannot), an output goes through the airlock's checks and two checkers, and
the project ends. Who sees a project follows the role; every download is audited with
the user."""

from __future__ import annotations

import io
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from hub_api.wiring import accounts, governance_session, schema_catalog
from schemas.signing import Signer
from tests.fixtures.hub import HUB, Parties, agency_agreement, dataset_terms
from tests.hub_api.http.conftest import AGENCY, PASSWORD, ServedHub
from tests.hub_api.http.server import client
from tests.hub_api.http.test_governance_api import audit_entries
from tests.hub_api.http.test_linkage_api import LINKED_DATASETS, land_and_link
from tests.integration.research.test_job import APPLICATION

PROJECT = "p-api"
APPLICANT = "researcher-1"  # ServedHub.user("researcher")
ACCREDITED = "2099-01-01"
SAFE = b"sex,employed,unemployed\n1,120,14\n2,98,21\n"
FREQUENCY = {"kind": "frequency", "count_columns": "employed,unemployed", "label_columns": "sex"}
#: Accounts beyond the one per role: a second approver, a second checker, an outsider.
SECOND_ADMIN, SECOND_CHECKER, OUTSIDER = "lmis-admin-2", "output-checker-2", "researcher-2"


@pytest.fixture(scope="module")
def hub_datasets() -> tuple[str, ...]:
    return LINKED_DATASETS


@pytest.fixture(scope="module")
def tokens(served_hub: ServedHub) -> dict[str, str]:
    """An API token per user name: one account per role, and the three above."""
    made = {served_hub.user(role): token for role, token in served_hub.tokens.items()}
    with governance_session(served_hub.settings, actor="setup") as gov:
        service = accounts(gov)
        for user, role in (
            (SECOND_ADMIN, "lmis_admin"),
            (SECOND_CHECKER, "output_checker"),
            (OUTSIDER, "researcher"),
        ):
            service.create(user, role=role, display_name=user, password=PASSWORD, actor="cli")
            _, made[user] = service.issue_token(
                user, name="tests", actor=user, ttl=timedelta(days=1)
            )
    return made


def as_user(served_hub: ServedHub, tokens: dict[str, str], user: str) -> httpx.Client:
    return client(served_hub.url, tokens[user])


@pytest.fixture(scope="module")
def users(served_hub: ServedHub, tokens: dict[str, str]) -> dict[str, str]:
    """The roles' user names, every one registered for research access by the LMIS unit,
    and the NIS's agreement amended to ask for its approval of research projects."""
    names = {
        "researcher": served_hub.user("researcher"),
        "admin": served_hub.user("lmis_admin"),
        "checker": served_hub.user("output_checker"),
        "operator": served_hub.user("agency_operator"),
    }
    people: list[dict[str, Any]] = [
        {"user": names["researcher"], "role": "researcher", "accreditation_expires": ACCREDITED},
        {"user": OUTSIDER, "role": "researcher", "accreditation_expires": ACCREDITED},
        {"user": "dr.late", "role": "researcher", "accreditation_expires": ACCREDITED},
        {"user": names["admin"], "role": "lmis_admin"},
        {"user": SECOND_ADMIN, "role": "lmis_admin"},
        {"user": names["checker"], "role": "output_checker"},
        {"user": SECOND_CHECKER, "role": "output_checker"},
    ]
    with as_user(served_hub, tokens, names["admin"]) as http:
        for person in people:
            r = http.post(
                "/api/v1/research/people",
                json=person | {"name": person["user"], "institution": "UWI"},
            )
            assert r.status_code == 201, r.text
    settings = served_hub.settings
    with governance_session(settings, actor="lmis") as gov:
        parties = Parties.of(gov, {})
        parties.signers[AGENCY] = parties.new_key(AGENCY, actor="setup")
        hub = gov.secrets().hub_signing_key()
        parties.signers[HUB] = Signer(hub.key_id, hub.private_key)
        terms = dataset_terms(schema_catalog(settings), AGENCY, "insured_person")
        doc = agency_agreement(
            AGENCY, {"insured_person": terms}, research={"provider_approval": True}
        )
        parties.activate(doc, amend=True, reason="research needs the NIS's approval")
    return names


def application(**overrides: Any) -> dict[str, Any]:
    """The integration tests' application, by the served hub's researcher."""
    return APPLICATION | {"id": PROJECT, "members": [APPLICANT]} | overrides


@pytest.fixture(scope="module")
def approved(served_hub: ServedHub, tokens: dict[str, str], users: dict[str, str]) -> str:
    """The project applied for, approved by two administrators and by the NIS."""
    with as_user(served_hub, tokens, users["researcher"]) as http:
        r = http.post("/api/v1/research/projects", json=application())
        assert r.status_code == 201, r.text
        assert r.json()["state"] == "applied" and r.json()["applicant"] == users["researcher"]
    with as_user(served_hub, tokens, users["admin"]) as http:
        r = http.post(f"/api/v1/research/projects/{PROJECT}/approve", json={"comment": "ok"})
        assert r.status_code == 200, r.text
        assert r.json()["waiting_for"]["lmis_approvals_missing"] == 1
        again = http.post(f"/api/v1/research/projects/{PROJECT}/approve", json={})
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "research.already_decided"
    with as_user(served_hub, tokens, SECOND_ADMIN) as http:
        r = http.post(f"/api/v1/research/projects/{PROJECT}/approve", json={})
        assert r.json()["state"] == "applied"
        assert r.json()["waiting_for"]["agencies_missing"] == [AGENCY]
    with as_user(served_hub, tokens, users["operator"]) as http:
        r = http.post(
            f"/api/v1/research/projects/{PROJECT}/agency-decision",
            json={"approve": True, "comment": "within our agreement"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "approved" and r.json()["valid_until"]
    return PROJECT


@pytest.fixture(scope="module")
def extract(
    served_hub: ServedHub, tokens: dict[str, str], users: dict[str, str], approved: str
) -> dict[str, Any]:
    """The project's extract, built by its applicant after a linkage run over the landed
    data; the applicant's access was decided first, and audited. Nobody else builds it."""
    land_and_link(served_hub.settings)
    decisions = len(audit_entries(served_hub, tag="policy:decision", actor=users["researcher"]))
    with as_user(served_hub, tokens, users["admin"]) as http:
        r = http.post(f"/api/v1/research/projects/{approved}/extracts")
        assert r.status_code == 403 and r.json()["error"]["code"] == "policy.role_not_permitted"
    with as_user(served_hub, tokens, OUTSIDER) as http:
        r = http.post(f"/api/v1/research/projects/{approved}/extracts")
        assert r.status_code == 403 and r.json()["error"]["code"] == "research.not_a_member"
    with as_user(served_hub, tokens, users["researcher"]) as http:
        r = http.post(f"/api/v1/research/projects/{approved}/extracts")
        assert r.status_code == 201, r.text
        built: dict[str, Any] = r.json()
    assert built["built_by"] == users["researcher"] and built["k_achieved"] >= 5
    decided = audit_entries(served_hub, tag="policy:decision", actor=users["researcher"])
    assert {e["subject"]: e["details"]["allowed"] for e in decided[decisions:]} == {  # type: ignore[index]
        "dataset:nis.insured_person": True,
        "dataset:jobboard.jobseeker": True,
    }
    return built


def test_an_application_the_policy_refuses_is_stored_refused(
    served_hub: ServedHub, tokens: dict[str, str], users: dict[str, str]
) -> None:
    with as_user(served_hub, tokens, users["researcher"]) as http:
        refused = application(
            id="p-refused",
            datasets={"tvet.trainee": ["sex"]},
            disclosure={"k": 5, "quasi_identifiers": ["sex"]},
        )
        r = http.post("/api/v1/research/projects", json=refused)
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "refused"
        assert r.json()["refusal"].startswith("policy.no_agreement")
        r = http.post("/api/v1/research/projects", json=application(id="p-bad", members=[]))
        assert r.status_code == 422
        assert r.json()["error"]["code"] == "research.application_invalid"
        r = http.post(
            "/api/v1/research/projects",
            json=application(id="p-tokens", datasets={"nis.insured_person": ["dob_token"]}),
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "research.field_refused"


def test_who_sees_a_project(
    served_hub: ServedHub, tokens: dict[str, str], users: dict[str, str], approved: str
) -> None:
    path = f"/api/v1/research/projects/{approved}"
    with as_user(served_hub, tokens, users["researcher"]) as http:
        shown = http.get(path).json()
        assert shown["state"] == "approved" and shown["application"]["id"] == approved
        assert [m["user"] for m in shown["members"]] == [users["researcher"]]
        decided = {(d["actor"], d["agency"]) for d in shown["decisions"]}
        assert decided == {
            (users["admin"], None),
            (SECOND_ADMIN, None),
            (users["operator"], AGENCY),
        }
        assert approved in {p["id"] for p in http.get("/api/v1/research/projects").json()}
    with as_user(served_hub, tokens, OUTSIDER) as http:
        r = http.get(path)
        assert r.status_code == 403 and r.json()["error"]["code"] == "research.not_a_member"
        assert approved not in {p["id"] for p in http.get("/api/v1/research/projects").json()}
        assert http.get(f"{path}/extracts").status_code == 403
    for user in (users["operator"], users["checker"], users["admin"]):
        with as_user(served_hub, tokens, user) as http:
            assert http.get(path).status_code == 200, user
            listed = http.get("/api/v1/research/projects", params={"state": "approved"}).json()
            assert [p["id"] for p in listed] == [approved], user
    with as_user(served_hub, tokens, users["researcher"]) as http:
        r = http.post("/api/v1/research/projects", json=application(id="p-pending"))
        assert r.status_code == 201 and r.json()["state"] == "applied", r.text
    with as_user(served_hub, tokens, users["checker"]) as http:
        pending = http.get("/api/v1/research/projects/p-pending")  # not approved
        assert pending.status_code == 403
        assert pending.json()["error"]["code"] == "policy.role_not_permitted"
        assert http.get(f"{path}/extracts").status_code == 403
    with as_user(served_hub, tokens, users["admin"]) as http:
        assert http.get("/api/v1/research/projects", params={"state": "nope"}).status_code == 422
        assert http.get("/api/v1/research/projects/nothing").status_code == 404


def test_members_are_added_by_the_applicant_and_approved_by_two(
    served_hub: ServedHub, tokens: dict[str, str], users: dict[str, str], approved: str
) -> None:
    members = f"/api/v1/research/projects/{approved}/members"
    with as_user(served_hub, tokens, OUTSIDER) as http:  # not the applicant
        r = http.post(members, json={"user": "dr.late"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "research.role_not_permitted"
    with as_user(served_hub, tokens, users["researcher"]) as http:
        r = http.post(members, json={"user": "dr.late"})
        assert r.status_code == 201 and r.json()["state"] == "pending", r.text
    for admin, state in ((users["admin"], "pending"), (SECOND_ADMIN, "approved")):
        with as_user(served_hub, tokens, admin) as http:
            r = http.post(f"{members}/dr.late/approve")
            assert r.status_code == 200 and r.json()["state"] == state, r.text
    with as_user(served_hub, tokens, users["researcher"]) as http:
        r = http.delete(f"{members}/dr.late")
        assert r.status_code == 200 and r.json()["state"] == "removed", r.text
        assert http.delete(f"{members}/dr.late").json()["error"]["code"] == "research.not_a_member"


def _wait_until_removed(prefix: str) -> list[Path]:
    """Folders named ``prefix…`` left in the temporary folder (the API deletes each once
    it has sent its file)."""
    deadline = time.monotonic() + 5
    while True:
        left = list(Path(tempfile.gettempdir()).glob(f"{prefix}*"))
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def test_a_member_downloads_the_extract_and_an_outsider_cannot(
    served_hub: ServedHub,
    tokens: dict[str, str],
    users: dict[str, str],
    approved: str,
    extract: dict[str, Any],
) -> None:
    files = f"/api/v1/research/projects/{approved}/extracts/{extract['id']}/files"
    name = "nis.insured_person.parquet"
    assert set(extract["files"]) == {name, "jobboard.jobseeker.parquet"}
    with as_user(served_hub, tokens, users["researcher"]) as http:
        [listed] = http.get(f"/api/v1/research/projects/{approved}/extracts").json()
        assert listed["id"] == extract["id"] and listed["state"] == "live"
        shown = http.get(f"/api/v1/research/projects/{approved}/extracts/{extract['id']}").json()
        assert shown["manifest"]["files"][name]["rows"] == extract["files"][name]
        r = http.get(f"{files}/{name}")
        assert r.status_code == 200, r.text
        assert r.headers["content-disposition"] == f'attachment; filename="{name}"'
        table = pq.read_table(io.BytesIO(r.content))
        assert table.num_rows == extract["files"][name]
        assert "pseudonym" in table.column_names
        assert not [c for c in table.column_names if c.endswith("_token") or c == "record_id"]
        for missing in ("nothing.parquet", ".hidden", "..%2Fmanifest.json"):
            assert http.get(f"{files}/{missing}").status_code == 404, missing
        assert http.get(f"{files}/codebook.md").headers["content-type"].startswith("text/markdown")
    with as_user(served_hub, tokens, OUTSIDER) as http:
        r = http.get(f"{files}/{name}")
        assert r.status_code == 403 and r.json()["error"]["code"] == "research.not_a_member"
    with as_user(served_hub, tokens, users["admin"]) as http:  # the LMIS unit does not download
        r = http.get(f"{files}/{name}")
        assert r.status_code == 403 and r.json()["error"]["code"] == "policy.role_not_permitted"
    assert _wait_until_removed("lmis-extract-") == []
    downloads = audit_entries(served_hub, tag="extract:download")
    assert [(e["actor"], e["details"]["file"]) for e in downloads] == [  # type: ignore[index]
        (users["researcher"], name),
        (users["researcher"], "codebook.md"),
    ]


def test_an_output_through_the_airlock(
    served_hub: ServedHub, tokens: dict[str, str], users: dict[str, str], approved: str
) -> None:
    outputs = f"/api/v1/research/projects/{approved}/outputs"
    with as_user(served_hub, tokens, users["researcher"]) as http:
        small = b"sex,employed,unemployed\n1,120,3\n2,98,21\n"
        r = http.post(outputs, files={"file": ("small.csv", small)}, data=FREQUENCY)
        assert r.status_code == 200 and r.json()["state"] == "refused_by_rules", r.text
        r = http.post(outputs, files={"file": ("by-sex.csv", SAFE)}, data={"kind": "frequency"})
        assert r.status_code == 422 and "count_columns" in r.json()["error"]["message"]
        r = http.post(outputs, files={"file": ("by-sex.csv", SAFE)}, data=FREQUENCY)
        assert r.status_code == 201 and r.json()["state"] == "awaiting_checkers", r.text
        output = r.json()["id"]
        early = http.get(f"{outputs}/{output}/file")
        assert early.status_code == 409 and early.json()["error"]["code"] == "output.state"
    with as_user(served_hub, tokens, OUTSIDER) as http:
        r = http.post(outputs, files={"file": ("x.csv", SAFE)}, data=FREQUENCY)
        assert r.status_code == 403 and r.json()["error"]["code"] == "research.not_a_member"
        assert http.get(outputs).status_code == 403
    for checker, state in ((users["checker"], "awaiting_checkers"), (SECOND_CHECKER, "released")):
        with as_user(served_hub, tokens, checker) as http:
            assert output in {o["id"] for o in http.get(outputs).json()}
            r = http.post(
                f"{outputs}/{output}/review", json={"approve": True, "comment": "cells >= 10"}
            )
            assert r.status_code == 200 and r.json()["state"] == state, r.text
    with as_user(served_hub, tokens, users["checker"]) as http:
        shown = http.get(f"{outputs}/{output}").json()
        assert [r["checker"] for r in shown["reviews"]] == [users["checker"], SECOND_CHECKER]
        assert shown["checks"]["outcome"] == shown["outcome"]
    with as_user(served_hub, tokens, users["researcher"]) as http:
        r = http.get(f"{outputs}/{output}/file")
        assert r.status_code == 200 and r.content == SAFE, r.text
        assert r.headers["content-type"].startswith("text/csv")
    with as_user(served_hub, tokens, OUTSIDER) as http:
        assert http.get(f"{outputs}/{output}/file").status_code == 403
    assert _wait_until_removed("lmis-output-") == []
    [download] = audit_entries(served_hub, tag="output:download")
    assert download["actor"] == users["researcher"]


def test_suspension_and_closing(
    served_hub: ServedHub,
    tokens: dict[str, str],
    users: dict[str, str],
    approved: str,
    extract: dict[str, Any],
) -> None:
    project = f"/api/v1/research/projects/{approved}"
    file = f"{project}/extracts/{extract['id']}/files/nis.insured_person.parquet"
    with as_user(served_hub, tokens, users["admin"]) as http:
        assert http.post(f"{project}/suspend", json={}).status_code == 422  # a reason is needed
        r = http.post(f"{project}/suspend", json={"reason": "ethics review"})
        assert r.status_code == 200 and r.json()["state"] == "suspended", r.text
    with as_user(served_hub, tokens, users["researcher"]) as http:
        r = http.get(file)
        assert r.status_code == 409 and r.json()["error"]["code"] == "research.project_state"
    with as_user(served_hub, tokens, users["admin"]) as http:
        r = http.post(f"{project}/resume", json={"reason": "review passed"})
        assert r.json()["state"] == "approved", r.text
        r = http.post(f"{project}/close", json={"reason": "study finished"})
        assert r.json()["state"] == "closed", r.text
        [ended] = http.get(f"{project}/extracts").json()
        assert ended["state"] == "deleted"
    with as_user(served_hub, tokens, users["researcher"]) as http:
        assert http.get(file).status_code == 409
        outputs = http.get(f"{project}/outputs").json()
        released = [o for o in outputs if o["state"] == "released"]
        assert released  # released outputs outlive the project
        assert http.get(f"{project}/outputs/{released[0]['id']}/file").status_code == 200
