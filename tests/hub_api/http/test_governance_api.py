"""Agencies, agreements and the audit log over HTTP: an agency operator sees their own
agency only, every denial and every state change is in the audit log with the user,
the audit export verifies offline, and bad input gets the error envelope, never a 500."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from governance.deliveries.models import IngestedBatch
from hub_api.cli import app as cli_app
from hub_api.wiring import governance_session
from schemas.keys import public_pem
from tests.hub_api.http.conftest import AGENCY, ServedHub
from tests.hub_api.http.server import client


def audit_entries(served_hub: ServedHub, **params: str) -> list[dict[str, object]]:
    with client(served_hub.url, served_hub.tokens["auditor"]) as http:
        r = http.get("/api/v1/audit/entries", params={"limit": "5000", **params})
        assert r.status_code == 200, r.text
        entries: list[dict[str, object]] = r.json()
        return entries


def test_an_agency_operator_sees_only_their_own_agency(served_hub: ServedHub) -> None:
    with client(served_hub.url, served_hub.tokens["agency_operator"]) as http:
        agencies = http.get("/api/v1/agencies").json()
        assert [a["code"] for a in agencies] == [AGENCY]
        agreements = http.get("/api/v1/agreements").json()
        assert agreements and {a["provider"] for a in agreements} == {AGENCY}
        r = http.get("/api/v1/agreements/dsa-tvet-lmis")
        assert r.status_code == 403, r.text
        assert r.json()["error"]["code"] == "policy.other_agency_data"
        assert http.get("/api/v1/agencies/tvet/keys").status_code == 403
        assert http.get(f"/api/v1/agencies/{AGENCY}/keys").status_code == 200
        late = http.get("/api/v1/agreements/late").json()
        assert {x["provider"] for x in late} <= {AGENCY}
    with client(served_hub.url, served_hub.tokens["lmis_analyst"]) as http:
        everyone = {a["provider"] for a in http.get("/api/v1/agreements").json()}
    assert {"nis", "tvet"} <= everyone


def test_denials_and_changes_are_audited_with_the_user(served_hub: ServedHub) -> None:
    with client(served_hub.url, served_hub.tokens["researcher"]) as http:
        assert http.get("/api/v1/quarantine").status_code == 403
    with client(served_hub.url, served_hub.tokens["lmis_admin"]) as http:
        r = http.post("/api/v1/agencies", json={"code": "moe", "name": "Ministry of Education"})
        assert r.status_code == 201, r.text
        assert http.post("/api/v1/agencies", json={"code": "moe"}).status_code == 409
    decisions = audit_entries(served_hub, tag="policy:permission")
    denied = [
        e
        for e in decisions
        if e["actor"] == served_hub.user("researcher")
        and e["details"]["permission"] == "quarantine:read"  # type: ignore[index]
    ]
    assert denied and denied[-1]["details"]["allowed"] is False  # type: ignore[index]
    assert denied[-1]["details"]["reason"] == "policy.role_not_permitted"  # type: ignore[index]
    added = audit_entries(served_hub, tag="agency:create")
    assert any(e["actor"] == served_hub.user("lmis_admin") for e in added)


def test_the_audit_export_verifies_offline(served_hub: ServedHub, tmp_path: Path) -> None:
    with client(served_hub.url, served_hub.tokens["steering_member"]) as http:
        r = http.post("/api/v1/audit/verify")
        assert r.status_code == 200 and r.json()["ok"] is True, r.text
        export = http.get("/api/v1/audit/export")
        assert export.status_code == 200
    path = tmp_path / "audit.jsonl"
    path.write_bytes(export.content)
    result = CliRunner().invoke(cli_app, ["--json", "audit", "verify", "--file", str(path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["ok"] is True


def test_bad_input_gets_the_envelope_and_never_a_500(served_hub: ServedHub) -> None:
    with client(served_hub.url, served_hub.tokens["lmis_admin"]) as http:
        cases = [
            http.post(
                "/api/v1/agencies",
                content=b"{not json",
                headers={"content-type": "application/json"},
            ),
            http.post("/api/v1/agencies", json={"code": "A B C"}),
            http.get("/api/v1/agreements", params={"state": "dancing"}),
            http.get("/api/v1/agreements/dsa-nis-lmis/diff", params={"from": "x", "to": "2"}),
            http.get("/api/v1/nowhere"),
            http.put("/api/v1/agencies"),
            http.post("/api/v1/agreements", json={"id": "x", "parties": "nope"}),
            http.post(
                "/api/v1/agreements/dsa-nis-lmis/signatures",
                json={"agency": "nis", "key_id": "k", "signature_hex": "zz" * 64},
            ),
        ]
    with client(served_hub.url, "lmis_nonsense") as http:
        cases.append(http.get("/api/v1/agencies"))
    for r in cases:
        assert 400 <= r.status_code < 500, (r.request.url, r.status_code, r.text)
        body = r.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
        assert "Traceback" not in r.text and 'File "' not in r.text


def test_the_lmis_unit_registers_and_revokes_an_agency_key(served_hub: ServedHub) -> None:
    pem = public_pem(Ed25519PrivateKey.generate().public_key())
    with client(served_hub.url, served_hub.tokens["agency_operator"]) as http:
        r = http.post(f"/api/v1/agencies/{AGENCY}/keys", json={"public_key_pem": pem})
        assert r.status_code == 403, r.text
    with client(served_hub.url, served_hub.tokens["lmis_admin"]) as http:
        r = http.post(f"/api/v1/agencies/{AGENCY}/keys", json={"public_key_pem": "not a key"})
        assert r.status_code == 400 and r.json()["error"]["code"].startswith("key."), r.text
        r = http.post(f"/api/v1/agencies/{AGENCY}/keys", json={"public_key_pem": pem})
        assert r.status_code == 201, r.text
        key_id = r.json()["key_id"]
        r = http.post(f"/api/v1/agencies/tvet/keys/{key_id}/revoke", json={"reason": "x"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "key.unknown"
        r = http.post(f"/api/v1/agencies/{AGENCY}/keys/{key_id}/revoke", json={"reason": "lost"})
        assert r.status_code == 200 and r.json()["revoked_reason"] == "lost"
    with client(served_hub.url, served_hub.tokens["agency_operator"]) as http:
        keys = {k["key_id"]: k for k in http.get(f"/api/v1/agencies/{AGENCY}/keys").json()}
        assert keys[key_id]["state"] == "revoked"


def test_ingest_status_adds_up_the_batches_of_each_dataset(served_hub: ServedHub) -> None:
    at = datetime(2026, 11, 2, 9, tzinfo=UTC)
    with governance_session(served_hub.settings, actor="setup") as gov:
        for i, (agency, dataset, records) in enumerate(
            [("nis", "contribution", 10), ("nis", "contribution", 5), ("tvet", "trainee", 7)]
        ):
            gov.session.add(
                IngestedBatch(
                    batch_id=f"status-{i}", agency=agency, dataset=dataset, content_digest="0" * 64,
                    agreement_id=f"dsa-{agency}-lmis", agreement_version=1,
                    lake_table=f"bronze.{agency}__{dataset}", records=records,
                    received_at=at + timedelta(hours=i),
                )
            )  # fmt: skip
    with client(served_hub.url, served_hub.tokens["lmis_analyst"]) as http:
        rows = {(r["agency"], r["dataset"]): r for r in http.get("/api/v1/ingest/status").json()}
    assert rows[("nis", "contribution")]["batches"] >= 2
    assert rows[("nis", "contribution")]["records"] >= 15
    assert rows[("tvet", "trainee")]["records"] >= 7
    with client(served_hub.url, served_hub.tokens["agency_operator"]) as http:
        own = http.get("/api/v1/ingest/status", params={"agency": "tvet"})
        assert own.status_code == 403  # asking for another agency's is refused
        mine = http.get("/api/v1/ingest/status").json()
    assert {r["agency"] for r in mine} == {AGENCY}
