"""Airflow on the embedded stack: ``airflow standalone`` (its API server and UI, the
scheduler, the DAG processor and the triggerer in one process tree) with the hub's DAGs,
for the demo and for trying the schedules on one machine.

Airflow's own state (its metadata database, logs, the generated admin password) lives
in ``<data dir>/airflow``; the DAGs are read from the project's ``dags/`` folder; the
DAG tasks get the hub's settings as ``HUB_*`` variables (the key-encryption key among
them: an environment is readable only by the same user, and never logged). A production
deployment runs Airflow's components as services instead (docs/production.md).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from lmis_hub.settings import Settings

#: The project's DAG folder (beside the packages, in the source tree).
DAGS_FOLDER = Path(__file__).resolve().parents[1] / "dags"
DEFAULT_PORT = 8080
PASSWORD_FILE = "simple_auth_manager_passwords.json.generated"  # noqa: S105 (a file name)


def airflow_home(settings: Settings) -> Path:
    return settings.data_dir / "airflow"


def airflow_environment(
    settings: Settings,
    hub_environment: Mapping[str, str],
    *,
    port: int = DEFAULT_PORT,
    path: str = "",
) -> dict[str, str]:
    """The variables ``airflow standalone`` runs with: its home, the hub's DAGs, no
    example DAGs, the UI on the loopback address and ``port``, the hub's settings, and a
    ``PATH`` (after ``path``) on which its components find this environment's
    ``airflow`` command."""
    bin_dir = str(Path(sys.executable).parent)
    return {
        **hub_environment,
        "PATH": os.pathsep.join(p for p in (bin_dir, path) if p),
        "AIRFLOW_HOME": str(airflow_home(settings).resolve()),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
    }


def standalone_command() -> list[str]:
    """Airflow of this interpreter's environment (no PATH lookup)."""
    return [sys.executable, "-m", "airflow", "standalone"]


def password_file(settings: Settings) -> Path:
    """Where ``airflow standalone`` writes the generated password of its ``admin`` user."""
    return airflow_home(settings) / PASSWORD_FILE
