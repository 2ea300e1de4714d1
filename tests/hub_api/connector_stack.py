"""A hub and one TVET connector, each as its operator runs it: the connector through
`lmis-hub connector …` processes, the hub as an `lmis-hub ingest run` process on a
provisioned SQLite hub database, both on a broker of the test's own.

The hub is provisioned with one active agreement, ``dsa-tvet-lmis`` v1, covering every
field of ``tvet/trainee``; the connector reads the five-row CSV of
:mod:`tests.hub_api.test_cli_connector` (two rows publishable, three refused locally).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka.admin import KafkaAdminClient, NewTopic

from governance.agreements.services import document_of
from schemas.catalog import SchemaCatalog
from schemas.keys import encrypted_private_pem, public_pem
from tests.fixtures.hub import ProvisionedHub, provision_hub
from tests.hub_api.test_cli_connector import LMIS_HUB, write_connector
from tests.integration.spine import WorkerProcess

AGREEMENT = "dsa-tvet-lmis"
TOPIC = "lmis.tvet.trainee.v1"


@dataclass
class Stack:
    """The provisioned hub, its running worker and the connector's files."""

    root: Path
    bootstrap: str
    hub: ProvisionedHub
    worker: WorkerProcess
    config: Path
    connector_env: dict[str, str]

    @property
    def hub_env(self) -> dict[str, str]:
        return self.worker.env

    def edit_config(self, old: str, new: str) -> None:
        text = self.config.read_text(encoding="utf-8")
        assert old in text, old
        self.config.write_text(text.replace(old, new), encoding="utf-8")

    def connector(self, *args: str, code: int = 0) -> tuple[Any, str]:
        """`lmis-hub --json connector ARGS --config FILE`: its JSON output and its log."""
        return run(self.connector_env, "connector", *args, "--config", str(self.config), code=code)

    def hub_cli(self, *args: str, code: int = 0) -> tuple[Any, str]:
        return run(self.hub_env, *args, code=code)

    def status(self) -> Any:
        return self.connector("status")[0]

    def until_status(
        self, what: str, check: Callable[[Any], bool], *, timeout_s: float = 90
    ) -> Any:
        """Run the connector (which applies the receipts) until ``check(status)`` holds."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.connector("run", "--once")
            status = self.status()
            if check(status):
                return status
            if time.monotonic() > deadline:
                log = self.worker.log_path.read_text(encoding="utf-8", errors="replace")
                raise AssertionError(f"{what}: not within {timeout_s} s: {status}\n{log[-3000:]}")

    def activate_amendment(self) -> int:
        """Amend ``dsa-tvet-lmis`` (a new title), have TVET and the hub sign it and
        activate it, as the LMIS unit does; the new version."""
        with self.hub.parties() as parties:
            doc = document_of(parties.agreements.get(AGREEMENT))
            amended = doc.model_copy(update={"title": f"{doc.title} (amendment)"})
            return int(parties.activate(amended, amend=True, reason="amendment").version)


def run(env: dict[str, str], *args: str, code: int = 0) -> tuple[Any, str]:
    done = subprocess.run(
        [LMIS_HUB, "--json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == code, f"{args}: exit {done.returncode}\n{done.stderr}{done.stdout}"
    return json.loads(done.stdout) if done.stdout.strip() else None, done.stderr


@contextmanager
def hub_and_connector(
    root: Path, bootstrap: str, *, agreement_id: str = AGREEMENT
) -> Iterator[Stack]:
    """The stack of the module docstring; the connector config names ``agreement_id``
    v1. The worker is stopped at the end."""
    hub = provision_hub(root, ["tvet/trainee"], schemas=SchemaCatalog.load())
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:  # before the worker subscribes: a topic created later is found only at a refresh
        admin.create_topics([NewTopic(TOPIC, 1, 1)])
    finally:
        admin.close()
    folder = root / "connector"
    folder.mkdir()
    config, env, _ = write_connector(folder, bootstrap)
    signer = hub.signers["tvet"]  # the key the hub has registered for TVET
    (folder / "sign.pem").write_bytes(encrypted_private_pem(signer.private_key, b"sk"))
    (folder / "hub.pub.pem").write_text(public_pem(hub.hub_key), encoding="ascii")
    text = config.read_text(encoding="utf-8")
    text = text.replace("agreement_id: dsa-tvet-test", f"agreement_id: {agreement_id}")
    text = text.replace("agreement_version: 2", "agreement_version: 1")
    config.write_text(text + f"hub_public_key_file: {folder / 'hub.pub.pem'}\n", "utf-8")
    worker = WorkerProcess(
        env=hub.worker_env(bootstrap, root / "hub-data"), log_path=root / "worker.log"
    )
    worker.start()
    try:
        yield Stack(root, bootstrap, hub, worker, config, env)
    finally:
        worker.stop()
