"""`lmis-hub stack up|down|status` on a throwaway data directory."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from infra.broker import free_port, process_alive
from infra.errors import PortInUse
from infra.stack import EmbeddedStack
from lmis_hub.settings import Settings


def _settings(tmp_path: Path, port: int) -> Settings:
    return Settings(data_dir=tmp_path / "data", stack={"broker_port": port})  # type: ignore[arg-type]


def test_up_is_idempotent_and_down_leaves_no_process(tmp_path: Path) -> None:
    stack = EmbeddedStack(_settings(tmp_path, free_port()))
    try:
        first = stack.up()
        assert first.running, first.as_dict()
        pid = stack.broker_pid()
        assert pid is not None
        again = stack.up()
        assert again.running
        assert stack.broker_pid() == pid
        assert (tmp_path / "data" / "hub.db").is_file()
        assert (tmp_path / "data" / "lake").is_dir()
        assert (tmp_path / "data" / "logs" / "broker.log").is_file()
    finally:
        stack.down()
    assert not process_alive(pid)
    assert not stack.pid_file.exists()
    after = stack.status()
    assert {c.name: c.state for c in after.components}["broker"] == "stopped"
    assert stack.down().components  # a second down is harmless


def test_stale_pid_file_is_cleaned(tmp_path: Path) -> None:
    stack = EmbeddedStack(_settings(tmp_path, free_port()))
    stack.pid_file.parent.mkdir(parents=True)
    stack.pid_file.write_text('{"pid": 999999999, "host": "127.0.0.1", "port": 1}')
    status = stack.status()
    assert {c.name: c.state for c in status.components}["broker"] == "stopped"
    assert not stack.pid_file.exists()


def test_up_refuses_a_taken_port(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortInUse, match="HUB_STACK__BROKER_PORT"):
            EmbeddedStack(_settings(tmp_path, port)).up()
