import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from hub_api.cli import app


def _run(*args: str) -> Any:
    result = CliRunner().invoke(app, ["--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_make_extend_describe(tmp_path):
    config = tmp_path / "synth.yaml"
    config.write_text("persons: 1000\nmonths: 3\nnoise:\n  jobboard: {missing_national_id: 0.9}\n")
    out = tmp_path / "nation"
    made = _run("synth", "make", "--config", str(config), "--seed", "3", "--out", str(out))
    assert made["persons"] == 1000 and made["months"] == 3
    assert made["records"]["nis.contributions"] > 1000  # kept column-wise, counted too
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["noise"]["jobboard"]["missing_national_id"] == 0.9
    assert manifest["seed"] == 3
    assert _run("synth", "extend", "--out", str(out))["period"] == "2024-04"
    described = _run("synth", "describe", "--out", str(out))
    assert described["manifest"]["months_generated"] == 4
    assert set(described["indicators"]["quarters"]) == {"2024Q1"}


def test_bad_config_and_missing_nation_give_coded_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("persons: -5\n")
    result = CliRunner().invoke(
        app, ["synth", "make", "--config", str(bad), "--out", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "persons" in str(result.exception)
    result = CliRunner().invoke(app, ["synth", "extend", "--out", str(tmp_path / "none")])
    assert getattr(result.exception, "code", None) == "synth.nation_not_found"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_jobboard_answers_and_stops_cleanly_on_sigterm(tmp_path):
    out = tmp_path / "nation"
    _run("synth", "make", "--persons", "500", "--months", "2", "--out", str(out))
    port = _free_port()
    cli = Path(sys.executable).parent / "lmis-hub"
    proc = subprocess.Popen(
        [str(cli), "synth", "serve-jobboard", "--out", str(out), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90  # the command starts slowly on a busy machine
        while True:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/api/v1/vacancies").json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the job board did not answer"
                time.sleep(0.1)
        assert body["items"] and "title" in body["items"][0]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
