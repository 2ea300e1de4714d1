"""`lmis-hub demo` (what `make demo` runs) on a throwaway data directory: the whole spine
on a small nation, the real embedded broker and a SQLite hub database, twice."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.broker import free_port
from tests.hub_api.test_cli import run_cli

COUNTS = ("source_rows", "published", "accepted", "quarantined", "in_lake")


def by_dataset(out: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    lines = out["spine"]["reconciliation"]["lines"]
    return {f"{x['agency']}/{x['dataset']}": tuple(x[c] for c in COUNTS) for x in lines}


def test_demo_runs_the_spine_and_a_second_run_lands_nothing_new(tmp_path: Path) -> None:
    data = tmp_path / "d"
    env = {
        "HUB_DATA_DIR": str(data),
        "HUB_STACK__BROKER_PORT": str(free_port()),
        "HUB_API__PORT": str(free_port()),
    }
    url = ""
    try:
        first = run_cli("--json", "demo", "--persons", "300", env=env, timeout_s=240)
        assert first.returncode == 0, first.stderr[-3000:]
        out = json.loads(first.stdout)
        assert out["stack"]["running"] is True
        assert out["nation"]["made_now"] is True
        spine = out["spine"]
        counts = by_dataset(out)
        assert len(counts) == 16  # every agency connector config
        for name, (source, published, accepted, quarantined, in_lake) in counts.items():
            # The labour department's registers are small: a 300-person nation may have
            # no accident or dispute at all (which one depends on the draw).
            assert source > 0 or name.startswith("dol/"), name
            assert source == published == accepted == in_lake, (name, counts[name])
            assert quarantined == 0, name
        assert sum(source > 0 for source, *_ in counts.values()) >= 13
        lines = spine["reconciliation"]["lines"]
        assert all(x["lake_batches"] == x["accepted_batches"] for x in lines)
        assert all(x["accepted_batches"] > 0 for x in lines if x["source_rows"] > 0)
        assert all(x["unsettled"] == 0 for x in lines)  # every batch receipted
        assert spine["reconciliation"]["ok"] is True
        assert spine["ingest"]["quarantined"] == 0 and spine["ingest"]["accepted"] > 0
        assert spine["audit"]["ok"] is True
        linkage = spine["linkage"]
        assert linkage["error"] is None and linkage["reused"] is False
        assert linkage["counts"]["persons"] == linkage["counts"]["key_changes"]["issued"] > 0
        assert linkage["quality"]["records"] > 100
        assert linkage["quality"]["f1"] > 0.9, linkage["quality"]
        research = spine["research"]
        assert research["error"] is None, research
        extract = research["extract"]
        assert extract["k_achieved"] >= extract["k_requested"] == 5
        assert set(extract["files"]) == {
            "nis.contribution.parquet", "nis.insured_person.parquet", "tvet.certification.parquet"
        }  # fmt: skip
        assert "birth_year" in extract["generalised"]
        indicators = spine["indicators"]
        assert indicators["error"] is None, indicators
        assert indicators["published"] >= 20 and indicators["observations"] > 0
        release_folder = Path(indicators["folder"])
        assert (release_folder / "release.json").is_file()
        assert (release_folder / "structure.xml").is_file()
        states = {o["name"]: o["state"] for o in research["outputs"]}
        assert states == {"by-region-sex-age.csv": "refused_by_rules", "by-sex.csv": "released"}
        assert sorted(spine["parties"]["keys_registered"]) == [
            "dol", "jobboard", "nis", "nso", "tvet"
        ]  # fmt: skip
        assert len(spine["parties"]["agreements_activated"]) == 5
        keys = data / "keys"
        assert all(
            b"ENCRYPTED PRIVATE KEY" in (keys / f"{a}.key.pem").read_bytes()
            for a in ("nso", "nis", "tvet", "dol", "jobboard")
        )
        passphrase = (keys / "demo.passphrase").read_text().strip()
        assert (keys / "demo.passphrase").stat().st_mode & 0o077 == 0
        assert "PRIVATE KEY" not in first.stdout + first.stderr
        assert passphrase not in first.stdout + first.stderr
        check_api(out["api"], indicators["release"])

        # Before the second run: a batch whose receipt never reached its connector, and
        # a broker restart (the memory-only broker forgets every topic).
        state = data / "connectors" / "nis" / "insured_person" / "state.db"
        with sqlite3.connect(state) as conn:
            conn.execute(
                "UPDATE batches SET state = 'sent', last_sent_at = '2000-01-01T00:00:00+00:00'"
            )
            conn.execute("UPDATE batch_parts SET outcome = NULL, reason_code = NULL")
            parts = conn.execute("SELECT COUNT(*) FROM batch_parts").fetchone()[0]
        assert run_cli("stack", "down", env=env).returncode == 0

        again = run_cli("--json", "demo", "--persons", "300", env=env)
        assert again.returncode == 0, again.stderr[-3000:]
        second = json.loads(again.stdout)
        spine2 = second["spine"]
        assert second["nation"]["made_now"] is False
        assert [c["records_published"] for c in spine2["connectors"]] == [0] * 16
        assert spine2["parties"]["keys_registered"] == {}
        assert spine2["parties"]["agreements_activated"] == []
        # only the batch without a receipt is sent again; the hub answers it as a duplicate
        resent = {
            f"{c['agency']}/{c['dataset']}": c["batches_resent"] for c in spine2["connectors"]
        }
        assert resent.pop("nis/insured_person") > 0 and set(resent.values()) == {0}
        assert spine2["ingest"]["duplicate"] == parts and spine2["ingest"]["accepted"] == 0
        assert by_dataset(second) == counts  # nothing landed twice
        assert spine2["reconciliation"]["ok"] is True
        assert spine2["audit"]["ok"] is True
        # Bronze did not change, so the linkage is not run again; the figures stand.
        assert spine2["linkage"]["reused"] is True
        assert spine2["linkage"]["run_id"] == spine["linkage"]["run_id"]
        assert spine2["linkage"]["quality"] == spine["linkage"]["quality"]
        # A new research project; the first one is closed (its key and extract gone).
        research2 = spine2["research"]
        assert research2["error"] is None and research2["closed_earlier"] == [research["project"]]
        assert not (data / "research" / research["project"]).exists()
        assert (data / "research" / research2["project"]).is_dir()
        assert second["api"]["error"] is None and second["api"]["created"] == []
        assert [a["password"] for a in second["api"]["accounts"]] == [
            a["password"] for a in out["api"]["accounts"]
        ]
        url = second["api"]["url"]
    finally:
        run_cli("stack", "down", env=env)
    assert run_cli("stack", "status", env=env).returncode == 1
    with pytest.raises(httpx.TransportError):  # the API stopped with the stack
        httpx.get(f"{url}/health", timeout=2)


def check_api(api: dict[str, Any], release: str) -> None:
    """The demo's API answers: the public indicators without an account, and a demo
    account signs in (to its first second-factor enrolment)."""
    assert api["error"] is None, api
    assert {a["role"] for a in api["accounts"]} >= {"lmis_admin", "researcher", "auditor"}
    with httpx.Client(base_url=api["url"], timeout=30) as http:
        assert http.get("/health").json() == {"status": "ok"}
        assert [r["id"] for r in http.get("/api/v1/public/releases").json()] == [release]
        csv = http.get("/sdmx/rest/data/JOBBOARD_VACANCIES", params={"format": "csv"})
        assert csv.status_code == 200 and csv.text.startswith("DATAFLOW,")
        admin = next(a for a in api["accounts"] if a["role"] == "lmis_admin")
        step = http.post(
            "/api/v1/auth/login", json={"username": admin["user"], "password": admin["password"]}
        ).json()
        assert step["mfa_required"] is True and step["enrol_required"] is True
