"""The hub's API as a background process of the embedded stack (`lmis-hub serve`, its
pid file ``run/api.json`` and log ``logs/api.log``), for the demo: it outlives the
command that starts it and stops with `lmis-hub stack down`.

The process gets the settings through its environment, ``HUB_*`` variables only, the
key-encryption key among them (an environment is not a log and is readable only by
the same user).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from infra.broker import port_is_free, process_alive, stop_process
from infra.errors import ApiDidNotStart, PortInUse
from lmis_hub.settings import Settings

#: Runs the hub's command line in the same interpreter (no PATH lookup).
_COMMAND = "from hub_api.cli import main; main()"


@dataclass(frozen=True)
class ApiServer:
    """The background API of the embedded stack described by ``settings``."""

    settings: Settings

    @property
    def pid_file(self) -> Path:
        return self.settings.run_dir / "api.json"

    @property
    def log_file(self) -> Path:
        return self.settings.log_dir / "api.log"

    @property
    def url(self) -> str:
        api = self.settings.api
        return f"http://{api.host}:{api.port}"

    def running(self) -> dict[str, object] | None:
        """The pid file's server if its process is alive (a stale pid file is removed)."""
        try:
            data: dict[str, object] = json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        if process_alive(int(str(data["pid"]))):
            return data
        self.pid_file.unlink(missing_ok=True)
        return None

    def answers(self, timeout_s: float = 2.0) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=timeout_s) as reply:  # noqa: S310 (our own loopback URL)
                return bool(reply.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def start(self, environment: Mapping[str, str], *, timeout_s: float = 60.0) -> str:
        """Start it unless it runs; wait until /health answers. ``environment`` holds the
        ``HUB_*`` settings of the process."""
        live = self.running()
        if live is not None:
            return f"already running (pid {live['pid']}) at {self.url}"
        api = self.settings.api
        if not port_is_free(api.host, api.port):
            raise PortInUse(
                f"port {api.host}:{api.port} is taken by another process; stop it or choose "
                "another port with HUB_API__PORT"
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(environment)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-c", _COMMAND, "serve"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while not self.answers():
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_process(proc.pid)
                raise ApiDidNotStart(
                    f"the API server did not answer at {self.url}; see {self.log_file}"
                )
            time.sleep(0.2)
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {"pid": proc.pid, "url": self.url, "started_at": datetime.now(UTC).isoformat()}
            )
        )
        tmp.replace(self.pid_file)
        return f"started (pid {proc.pid}) at {self.url}"

    def stop(self) -> bool:
        """Stop it if it runs (idempotent); True when it was running."""
        live = self.running()
        if live is not None:
            stop_process(int(str(live["pid"])))
        self.pid_file.unlink(missing_ok=True)
        return live is not None
