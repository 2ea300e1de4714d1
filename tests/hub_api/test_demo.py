"""`lmis-hub demo` (what `make demo` runs) on a throwaway data directory."""

from __future__ import annotations

import json
from pathlib import Path

from infra.broker import free_port
from tests.hub_api.test_cli import run_cli


def test_demo_brings_the_stack_up_and_makes_a_nation_once(tmp_path: Path) -> None:
    env = {"HUB_DATA_DIR": str(tmp_path / "d"), "HUB_STACK__BROKER_PORT": str(free_port())}
    try:
        first = run_cli("--json", "demo", "--persons", "400", env=env)
        assert first.returncode == 0, first.stderr
        out = json.loads(first.stdout)
        assert out["stack"]["running"] is True
        assert out["nation"]["made_now"] is True
        assert out["nation"]["records"]["nis.insured_persons"] > 0
        assert (tmp_path / "d" / "nation" / "manifest.json").is_file()
        again = run_cli("--json", "demo", "--persons", "400", env=env)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["nation"]["made_now"] is False
    finally:
        run_cli("stack", "down", env=env)
    assert run_cli("stack", "status", env=env).returncode == 1
