"""The embedded stack: one broker, the hub database and the lake folder on one machine.

``up`` and ``down`` are idempotent. State lives under the data directory:
``run/broker.json`` (pid file with address), ``logs/broker.log``, ``hub.db`` (unless
HUB_DATABASE_URL names another database) and ``lake/``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from governance.db import current_revision, head_revision, make_engine, migrate
from infra.api_server import ApiServer
from infra.broker import port_is_free, process_alive, start_broker, stop_process
from infra.errors import PortInUse
from infra.kafka_probe import answers
from lmis_hub.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class ComponentStatus:
    name: str
    state: str  # running | stopped | ready | missing | stale | off (optional, not started)
    detail: str


@dataclass
class StackStatus:
    components: list[ComponentStatus]

    @property
    def running(self) -> bool:
        return all(c.state in ("running", "ready", "off") for c in self.components)

    def as_dict(self) -> dict[str, object]:
        return {"running": self.running, "components": [asdict(c) for c in self.components]}


class EmbeddedStack:
    """Start, stop and inspect the single-machine stack described by the settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pid_file = settings.run_dir / "broker.json"
        self.broker_log = settings.log_dir / "broker.log"

    # -- broker ------------------------------------------------------------------------

    def _read_pid_file(self) -> dict[str, object] | None:
        try:
            data: dict[str, object] = json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        return data

    def _live_broker(self) -> dict[str, object] | None:
        """The pid file's broker if its process is alive; removes a stale pid file."""
        data = self._read_pid_file()
        if data is None:
            return None
        pid = int(str(data["pid"]))
        if process_alive(pid):
            return data
        log.info("removing stale pid file for broker pid %s", pid)
        self.pid_file.unlink(missing_ok=True)
        return None

    def broker_pid(self) -> int | None:
        """The pid of the running broker, or None."""
        live = self._live_broker()
        return None if live is None else int(str(live["pid"]))

    def _start_broker(self) -> str:
        s = self.settings.stack
        live = self._live_broker()
        if live is not None:
            return f"already running (pid {live['pid']}) on {live['host']}:{live['port']}"
        if not port_is_free(s.broker_host, s.broker_port):
            raise PortInUse(
                f"port {s.broker_host}:{s.broker_port} is taken by another process; stop it or "
                "choose another port with HUB_STACK__BROKER_PORT"
            )
        proc = start_broker(
            host=s.broker_host,
            port=s.broker_port,
            log_path=self.broker_log,
            binary=s.broker_bin,
            timeout_s=s.start_timeout_s,
        )
        self.settings.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "pid": proc.pid,
                    "host": proc.host,
                    "port": proc.port,
                    "started_at": datetime.now(UTC).isoformat(),
                }
            )
        )
        tmp.replace(self.pid_file)
        return f"started (pid {proc.pid}) on {proc.bootstrap}"

    # -- database and lake ---------------------------------------------------------------

    def _prepare_database(self) -> str:
        engine = make_engine(self.settings.database_url_value())
        try:
            migrate(engine)
            revision = current_revision(engine)
        finally:
            engine.dispose()
        return f"{self._database_label()} at revision {revision or '(empty)'}"

    def _database_label(self) -> str:
        return make_url(self.settings.database_url_value()).render_as_string(hide_password=True)

    def _prepare_lake(self) -> str:
        warehouse = self.settings.lake_warehouse
        if "://" not in warehouse or warehouse.startswith("file://"):
            Path(warehouse.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
        return warehouse

    # -- public --------------------------------------------------------------------------

    def up(self) -> StackStatus:
        """Start what is not running and prepare the database and lake (idempotent)."""
        for folder in (self.settings.data_dir, self.settings.run_dir, self.settings.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        log.info("broker: %s", self._start_broker())
        log.info("database: %s", self._prepare_database())
        log.info("lake: %s", self._prepare_lake())
        return self.status()

    def down(self) -> StackStatus:
        """Stop the API server and the broker if they run (idempotent); data files stay."""
        if ApiServer(self.settings).stop():
            log.info("API server stopped")
        live = self._live_broker()
        if live is not None:
            stop_process(int(str(live["pid"])))
            log.info("broker pid %s stopped", live["pid"])
        self.pid_file.unlink(missing_ok=True)
        return self.status()

    def status(self) -> StackStatus:
        s = self.settings
        components: list[ComponentStatus] = []
        live = self._live_broker()
        if live is None:
            components.append(ComponentStatus("broker", "stopped", "not running"))
        else:
            host, port = str(live["host"]), int(str(live["port"]))
            ok = answers(host, port)
            components.append(
                ComponentStatus(
                    "broker",
                    "running" if ok else "stale",
                    f"pid {live['pid']} on {host}:{port}"
                    + ("" if ok else " (process alive but not answering)")
                    + f"; log {self.broker_log}",
                )
            )
        try:
            engine = make_engine(s.database_url_value())
            head = head_revision()
            try:
                revision = current_revision(engine)
            finally:
                engine.dispose()
            components.append(
                ComponentStatus(
                    "database",
                    "ready" if revision == head else "missing",
                    f"{self._database_label()} (revision {revision or 'none'}, "
                    f"head {head or 'none'})",
                )
            )
        except Exception as exc:  # a status report must never crash
            components.append(
                ComponentStatus("database", "missing", f"{self._database_label()}: {exc}")
            )
        warehouse = s.lake_warehouse
        local = "://" not in warehouse or warehouse.startswith("file://")
        exists = Path(warehouse.removeprefix("file://")).is_dir() if local else True
        components.append(
            ComponentStatus("lake", "ready" if exists else "missing", f"warehouse {warehouse}")
        )
        components.append(self._api_status())
        return StackStatus(components)

    def _api_status(self) -> ComponentStatus:
        api = ApiServer(self.settings)
        live = api.running()
        if live is None:
            return ComponentStatus(
                "api", "off", "not started (the demo starts it; `lmis-hub serve` in the foreground)"
            )
        ok = api.answers()
        return ComponentStatus(
            "api",
            "running" if ok else "stale",
            f"pid {live['pid']} at {api.url}"
            + ("" if ok else " (not answering)")
            + f"; log {api.log_file}",
        )
