"""Airflow for the DAG tests: a home of this test process's own (a temporary folder; under
pytest-xdist one per worker), set up before Airflow is first imported, its metadata
database migrated once per session, and the DAG folder parsed once.

Nothing imports Airflow at collection time: the tests import it through these fixtures,
after the environment below is in place (Airflow reads its configuration at import).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dags.airflow_env import DAGS, airflow_environment


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """AIRFLOW_HOME of this session, its database migrated (`airflow db migrate`)."""
    if "airflow" in sys.modules:
        pytest.fail("Airflow was imported before the DAG tests configured it")
    home = tmp_path_factory.mktemp("airflow")
    env = airflow_environment(home)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        migrate = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env=os.environ.copy(),
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stderr[-2000:]
        yield home


@pytest.fixture(scope="session")
def dagbag(airflow_home: Path) -> Any:
    """The DAG folder parsed as the DAG processor parses it (the folder on sys.path)."""
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=DAGS, bundle_path=DAGS)
