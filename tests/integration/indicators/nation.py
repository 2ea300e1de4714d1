"""A real lake of a small synthetic nation, made once per test session by the demo.

`lmis-hub demo` makes the nation (agency sources and the truth), runs the connectors,
the embedded broker, the ingest into the lake and the linkage in a temporary data
directory; the stack is stopped as soon as it is done (the lake and the SQLite hub
database are files). The package is then read and computed from that lake, once.

2,500 persons give about 200 LFS respondents a quarter (an unemployment rate within a
few points), 1,100 insured persons a month and some forty TVET certificates, and the
demo takes about 45 s on two cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy.orm import Session

from governance.db import make_engine
from hub_api import wiring
from infra.broker import free_port
from integration.indicators.compute import compute
from integration.indicators.definition import Definition
from integration.indicators.lake_input import LakeInput, read_package_input
from lmis_hub.settings import Settings

PERSONS = 2500


@dataclass
class Nation:
    """The demo's data directory, its summary, and the package computed from its lake."""

    data_dir: Path
    folder: Path
    summary: dict[str, Any]
    inputs: LakeInput
    observations: pa.Table
    cells: dict[str, pa.Table] = field(default_factory=dict)

    @property
    def truth(self) -> dict[str, Any]:
        truth: dict[str, Any] = json.loads(
            (self.folder / "truth" / "indicators.json").read_text(encoding="utf-8")
        )
        return truth

    @property
    def quality(self) -> dict[str, Any]:
        """The linkage's quality against the truth, as the demo measured it."""
        quality: dict[str, Any] = self.summary["spine"]["linkage"]["quality"]
        return quality


def _lmis_hub(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("lmis-hub")
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env},
        check=False,
    )


@pytest.fixture(scope="session")
def nation(
    tmp_path_factory: pytest.TempPathFactory, package: dict[str, Definition]
) -> Iterator[Nation]:
    data = tmp_path_factory.mktemp("indicators") / "d"
    env = {"HUB_DATA_DIR": str(data), "HUB_STACK__BROKER_PORT": str(free_port())}
    try:
        made = _lmis_hub("--json", "demo", "--persons", str(PERSONS), env=env)
    finally:
        _lmis_hub("stack", "down", env=env)
    assert made.returncode == 0, made.stderr[-3000:]
    summary = json.loads(made.stdout)
    settings = Settings(data_dir=data)
    lake = wiring.lake_catalog(settings)
    engine = make_engine(settings.database_url_value())
    try:
        with Session(engine) as session:
            inputs = read_package_input(
                lake, session, package.values(), schemas=wiring.schema_catalog(settings)
            )
    finally:
        engine.dispose()
    raw: dict[str, pa.Table] = {}
    observations = compute(package.values(), inputs.tables, cells_out=raw)
    yield Nation(
        data_dir=data,
        folder=Path(summary["nation"]["folder"]),
        summary=summary,
        inputs=inputs,
        observations=observations,
        cells=raw,
    )
