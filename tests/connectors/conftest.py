"""One small synthetic nation for every connector test that needs one (the contract
suite, the shipped examples), and its job-board API."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from synth import nation as nation_mod
from synth.config import load_config as load_synth_config
from synth.jobboard_api import JobBoardServer, serve

#: 2,000 persons over 12 months: every source table has rows (3 disputes, 10,000
#: contributions), built in about a second.
PERSONS, MONTHS, SEED = 2000, 12, 11


@dataclass(frozen=True)
class Nation:
    folder: Path
    jobboard_url: str


@pytest.fixture(scope="session")
def nation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nation]:
    folder = tmp_path_factory.mktemp("contract-nation")
    cfg = load_synth_config(None, persons=PERSONS, seed=SEED, months=MONTHS)
    nation_mod.make(cfg, nation_mod.Targets(folder, None, "synth_"))
    server: JobBoardServer = serve(folder / "sources" / "jobboard" / "jobboard.db", "127.0.0.1", 0)
    server.start_background()
    try:
        yield Nation(folder, server.url)
    finally:
        server.stop()
