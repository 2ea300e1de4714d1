"""The DAG folder loads: no import errors, quickly, touching neither the network nor a
database while it is parsed (settings are loaded by the tasks, not at import)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.dags.airflow_env import DAGS, airflow_environment

HUB_DAGS = {
    "hub_agreements",
    "hub_audit_checkpoint",
    "hub_audit_verify",
    "hub_indicators",
    "hub_lake_retention",
    "hub_linkage",
    "hub_quarantine_digest",
    "hub_research",
}
#: What parsing one DAG file may take (Airflow's own timeout is 30 s).
PARSE_BUDGET_S = 1.0


def test_the_dagbag_has_every_hub_dag_and_no_import_error(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == HUB_DAGS
    for dag in dagbag.dags.values():
        assert dag.catchup is False and dag.max_active_runs == 1
        assert "lmis-hub" in dag.tags and dag.doc_md
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag.dag_id}.{task.task_id} is never retried"
    slow = {s.file: s.duration.total_seconds() for s in dagbag.dagbag_stats}
    assert set(slow) == {
        f"{d}.py"
        for d in (
            "hub_agreements",
            "hub_audit",
            "hub_indicators",
            "hub_lake_retention",
            "hub_linkage",
            "hub_quarantine_digest",
            "hub_research",
        )
    }
    assert max(slow.values()) < PARSE_BUDGET_S, slow


PROBE = textwrap.dedent(
    """
    import json, socket, sqlite3, sys, time

    import airflow.sdk  # Airflow itself may read its configuration; the DAG files may not
    from airflow.dag_processing.dagbag import BundleDagBag

    touched = []
    def refuse(what):
        def call(*args, **kwargs):
            touched.append(what)
            raise OSError(f"{what} at DAG import")
        return call
    socket.socket.connect = refuse("socket.connect")
    socket.create_connection = refuse("socket.create_connection")
    sqlite3.connect = refuse("sqlite3.connect")
    import lmis_hub.settings
    lmis_hub.settings.load_settings = refuse("load_settings")

    started = time.perf_counter()
    bag = BundleDagBag(dag_folder=sys.argv[1], bundle_path=sys.argv[1])
    took = time.perf_counter() - started
    hub = sorted(m for m in sys.modules if m.split(".")[0] in
                 ("hub_api", "governance", "integration", "connectors"))
    print(json.dumps({"errors": {str(k): v for k, v in bag.import_errors.items()},
                      "dags": len(bag.dags), "touched": touched, "took": took, "hub": hub}))
    """
)


def test_parsing_the_dags_touches_no_network_no_database_no_settings(airflow_home: Path) -> None:
    """In a fresh interpreter (nothing imported yet): every connection attempt and the
    settings loader raise while the DAG folder is parsed, and none is even tried."""
    env = os.environ | airflow_environment(airflow_home)
    env["HUB_DATABASE_URL"] = "postgresql+psycopg://nobody@127.0.0.1:9/none"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(DAGS)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["errors"] == {} and result["dags"] == len(HUB_DAGS)
    assert result["touched"] == []
    assert result["hub"] == [], "the hub's packages are imported by tasks, not at parse time"
    assert result["took"] < PARSE_BUDGET_S * 7
