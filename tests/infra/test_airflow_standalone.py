"""`lmis-hub stack airflow` (what `make airflow` runs): Airflow standalone comes up on
the embedded stack's data folder, healthy, with every hub DAG parsed and no import
error, reached over its own REST API with the admin password it generated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.airflow_standalone import PASSWORD_FILE
from tests.hub_api.http.server import free_port

HUB_DAGS = {
    "hub_agreements", "hub_audit_checkpoint", "hub_audit_verify", "hub_indicators",
    "hub_lake_retention", "hub_linkage", "hub_quarantine_digest", "hub_research",
}  # fmt: skip


@pytest.fixture
def airflow(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    env = {**os.environ, "HUB_DATA_DIR": str(tmp_path / "data")}
    env = {k: v for k, v in env.items() if not k.startswith("AIRFLOW")}  # its own home only
    log = (tmp_path / "airflow.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", "from hub_api.cli import main; main()",
         "stack", "airflow", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        yield f"http://127.0.0.1:{port}", tmp_path / "data" / "airflow"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def wait_for(check: object, what: str, timeout_s: float = 240) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            found = check()  # type: ignore[operator]
        except (httpx.HTTPError, OSError, ValueError, KeyError):
            found = None
        if found:
            return found
        time.sleep(2)
    raise AssertionError(f"Airflow standalone: {what} within {timeout_s} s")


def test_airflow_standalone_serves_the_hub_dags(airflow: tuple[str, Path]) -> None:
    base, home = airflow

    def healthy() -> bool:
        health = httpx.get(f"{base}/api/v2/monitor/health", timeout=5).json()
        return all(health[c]["status"] == "healthy" for c in ("metadatabase", "scheduler"))

    wait_for(healthy, "healthy")
    password = json.loads((home / PASSWORD_FILE).read_text())["admin"]
    token = httpx.post(
        f"{base}/auth/token", json={"username": "admin", "password": password}, timeout=10
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    def parsed() -> set[str] | None:
        dags = httpx.get(f"{base}/api/v2/dags", headers=headers, timeout=10).json()
        found = {d["dag_id"] for d in dags["dags"]}
        return found if found >= HUB_DAGS else None

    assert wait_for(parsed, "every hub DAG parsed") == HUB_DAGS  # and no example DAGs
    errors = httpx.get(f"{base}/api/v2/importErrors", headers=headers, timeout=10).json()
    assert errors["total_entries"] == 0, errors
