"""The `lmis-hub` console script, run as a user runs it (a real process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hub_api.cli import json_first
from infra.broker import free_port
from lmis_hub import __version__, config_reference


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("lmis-hub")
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"lmis-hub {__version__}"


def test_configuration_error_is_an_envelope_in_json_mode() -> None:
    result = run_cli("--json", "stack", "status", env={"HUB_STACK__BROKER_PORT": "not-a-port"})
    assert result.returncode == 2
    envelope = json.loads(result.stdout)
    assert envelope["error"]["code"] == "config.invalid"
    assert "HUB_STACK__BROKER_PORT" in envelope["error"]["message"]


def test_error_is_readable_in_text_mode() -> None:
    result = run_cli("stack", "status", env={"HUB_LOG__LEVEL": "LOUD"})
    assert result.returncode == 2
    assert "[config.invalid]" in result.stderr
    assert "Traceback" not in result.stderr


def test_stack_lifecycle_through_the_cli(tmp_path: Path) -> None:
    env = {
        "HUB_DATA_DIR": str(tmp_path / "d"),
        "HUB_STACK__BROKER_PORT": str(free_port()),
        "HUB_LOG__FORMAT": "json",
    }
    try:
        up = run_cli("--json", "stack", "up", env=env)
        assert up.returncode == 0, up.stderr
        assert json.loads(up.stdout)["running"] is True
        # Logs are JSON lines when asked for.
        log_lines = [json.loads(line) for line in up.stderr.splitlines() if line.strip()]
        assert any(entry["logger"] == "infra.stack" for entry in log_lines)
        status = run_cli("--json", "stack", "status", env=env)
        assert status.returncode == 0
    finally:
        down = run_cli("--json", "stack", "down", env=env)
    assert down.returncode == 0
    assert run_cli("stack", "status", env=env).returncode == 1


def test_config_reference_prints_the_generated_table() -> None:
    result = run_cli("config", "reference")
    assert result.returncode == 0, result.stderr
    assert result.stdout == config_reference.render()


def test_config_show_masks_secrets() -> None:
    result = run_cli(
        "--json",
        "config",
        "show",
        env={"HUB_KAFKA__BOOTSTRAP_SERVERS": "k9:9093", "HUB_DATABASE_URL": "sqlite:///s3cret.db"},
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["kafka"]["bootstrap_servers"] == "k9:9093"
    assert "s3cret" not in result.stdout


def test_json_is_accepted_after_the_command_too(tmp_path: Path) -> None:
    before = run_cli("--json", "schemas", "list")
    after = run_cli("schemas", "list", "--json")
    assert before.returncode == after.returncode == 0, after.stderr
    assert json.loads(after.stdout) == json.loads(before.stdout)
    refused = run_cli("agreements", "show", "no-such-agreement", "--json",
                      env={"HUB_DATA_DIR": str(tmp_path)})  # fmt: skip
    assert refused.returncode == 2
    assert json.loads(refused.stdout)["error"]["code"] == "agreement.unknown"


def test_json_first_leaves_arguments_after_a_double_dash() -> None:
    assert json_first(["a", "--json", "b"]) == ["--json", "a", "b"]
    assert json_first(["a", "--", "--json"]) == ["a", "--", "--json"]
    assert json_first(["a"]) == ["a"]
