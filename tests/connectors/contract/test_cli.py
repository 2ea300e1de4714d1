"""`lmis-hub connector` as an agency runs it, in a subprocess, on the real broker: a run
killed with SIGKILL resumes with the batch ids of an uninterrupted run, SIGTERM and
SIGINT stop `run --follow` cleanly, and `connector resend` sends held batches again."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kafka.admin import KafkaAdminClient
from pydantic import SecretStr
from typer.testing import CliRunner

from connectors.sdk.errors import PublishFailed
from connectors.sdk.linkkey import write_link_key_file
from connectors.sdk.outbox import Outbox, Receipt
from connectors.sdk.publisher import KafkaSender
from connectors.sdk.state import StateDB
from hub_api.cli import app
from hub_api.cli import connector as connector_cli
from lmis_hub.errors import HubError
from schemas.catalog import SchemaCatalog
from schemas.envelope import Message, parse_headers
from schemas.keys import encrypted_private_pem, key_id_for, public_pem
from tests.connectors.agencies.deployment import AGENCIES
from tests.connectors.conftest import Nation
from tests.connectors.contract.harness import (
    HUB_KEY,
    LINK_KEY,
    NOW,
    Connector,
    Deployment,
    content_bytes,
    envelope_id,
    new_topic,
    open_all,
    read_topic,
)

LMIS_HUB = str(Path(sys.executable).parent / "lmis-hub")
PASSPHRASES = {
    "HUB_CONNECTOR__LINK_KEY_PASSPHRASE": "lk",
    "HUB_CONNECTOR__SIGNING_KEY_PASSPHRASE": "sk",
}


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str
    error: str | None  # the code of the HubError the command raised (`main` prints it)


CONTRIBUTION = AGENCIES / "nis" / "contribution.yaml"
DISPUTE = AGENCIES / "dol" / "dispute.yaml"


@dataclass
class Deployed:
    """An agency config deployed in a folder with its keys, as the CLI reads it."""

    path: Path
    deployment: Deployment
    config_file: Path
    env: dict[str, str]
    key_id: str

    def cli(self, *args: str, check: bool = True) -> Done:
        """The command run in this process (only `start` needs a process of its own)."""
        result = CliRunner().invoke(
            app,
            ["--json", "connector", *args, "--config", str(self.config_file)],
            env=PASSPHRASES,
        )
        error = result.exception.code if isinstance(result.exception, HubError) else None
        done = Done(result.exit_code, result.stdout, result.stderr, error)
        if check:
            assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
        return done

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [LMIS_HUB, "--json", "connector", "run", *args, "--config", str(self.config_file)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def held(self) -> int:
        """Batches in the outbox now (read while the connector may be writing)."""
        path = self.deployment.config.state_db_path
        if not path.exists():
            return 0
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            try:
                return int(conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0])
            except sqlite3.OperationalError:  # the schema is not created yet
                return 0

    def mine(self, bootstrap: str) -> list[Message]:
        """What this deployment put on its dataset's topic (others share the topic)."""
        topic = self.deployment.config.topic
        return [
            m
            for m in read_topic(bootstrap, topic)
            if parse_headers(m.headers).key_id == self.key_id
        ]


def deploy(
    path: Path,
    nation: Nation,
    data_dir: Path,
    bootstrap: str,
    admin: KafkaAdminClient,
    *,
    batch_size: int,
) -> Deployed:
    deployment = Deployment.of(
        path,
        nation=nation.folder,
        data_dir=data_dir,
        bootstrap=bootstrap,
        jobboard_url=nation.jobboard_url,
        batch_size=batch_size,
    )
    config = deployment.config
    private = Ed25519PrivateKey.generate()  # a key of its own: the topic is shared
    assert config.signing_key_file and config.hub_public_key_file
    config.signing_key_file.parent.mkdir(parents=True, exist_ok=True)
    config.signing_key_file.write_bytes(encrypted_private_pem(private, b"sk"))
    config.hub_public_key_file.write_text(public_pem(HUB_KEY.public_key()), encoding="ascii")
    write_link_key_file(config.tokenise.link_key_file, LINK_KEY, SecretStr("lk"), scrypt_n=2**10)
    config_file = data_dir / f"{config.dataset}.yaml"
    config_file.write_text(yaml.safe_dump(deployment.document), encoding="utf-8")
    existing = set(admin.list_topics())
    if config.topic not in existing:
        from kafka.admin import NewTopic

        admin.create_topics([NewTopic(config.topic, 1, 1)])
    env = {**os.environ, **PASSPHRASES}
    return Deployed(
        path, deployment, config_file, env, key_id_for(config.agency, private.public_key())
    )


def uninterrupted(
    path: Path,
    nation: Nation,
    data_dir: Path,
    *,
    batch_size: int,
    sender: KafkaSender,
    admin: KafkaAdminClient,
    bootstrap: str,
) -> tuple[list[str], list[Message]]:
    """Outbox batch ids and messages of an in-process run with the same batch size."""
    deployment = Deployment.of(
        path,
        nation=nation.folder,
        data_dir=data_dir,
        bootstrap=bootstrap,
        jobboard_url=nation.jobboard_url,
        batch_size=batch_size,
    )
    topic = new_topic(admin, "contract.cli-reference")
    connector = Connector(deployment, topic, sender)
    try:
        connector.run()
        ids = connector.outbox_ids()
    finally:
        connector.close()
    return ids, read_topic(bootstrap, topic)


def documents(stdout: str) -> list[dict[str, Any]]:
    """The JSON documents printed one after another by `--json run`."""
    decoder, out, pos = json.JSONDecoder(), [], 0
    text = stdout.strip()
    while pos < len(text):
        doc, end = decoder.raw_decode(text, pos)
        out.append(doc)
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def wait_for(condition: Any, *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def outbox_ids(deployed: Deployed) -> list[str]:
    state = StateDB.open(deployed.deployment.config.state_db_path)
    try:
        return [b.batch_id for b in Outbox(state).batches()]
    finally:
        state.close()


def test_a_killed_run_resumes_with_the_batch_ids_of_an_uninterrupted_run(
    nation: Nation,
    tmp_path: Path,
    kafka_bootstrap: str,
    kafka_admin: KafkaAdminClient,
    sender: KafkaSender,
) -> None:
    deployed = deploy(
        CONTRIBUTION, nation, tmp_path / "agency", kafka_bootstrap, kafka_admin, batch_size=100
    )
    ids, expected = uninterrupted(
        CONTRIBUTION,
        nation,
        tmp_path / "reference",
        batch_size=100,
        sender=sender,
        admin=kafka_admin,
        bootstrap=kafka_bootstrap,
    )
    process = deployed.start("--once")
    try:
        wait_for(lambda: deployed.held() >= 5, timeout_s=60, what="five batches in the outbox")
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    killed_at = deployed.held()
    assert 5 <= killed_at < len(ids), (killed_at, len(ids))

    deployed.cli("run", "--once")  # resumes; sends what the kill left pending
    assert outbox_ids(deployed) == ids

    sent = deployed.mine(kafka_bootstrap)
    by_id: dict[str, bytes] = {}
    for m in sent:  # a batch caught between delivery and its commit may go twice
        assert by_id.setdefault(envelope_id(m), m.value) == m.value
    assert sorted(by_id) == sorted(envelope_id(m) for m in expected)
    assert len(sent) - len(by_id) <= 1
    unique = [m for m in sent if by_id.pop(envelope_id(m), None) is not None]
    records = open_all_any_key(unique)
    expected_records = open_all(expected, catalog=SchemaCatalog.load())
    assert Counter(r["record_id"] for r in records) == Counter(
        r["record_id"] for r in expected_records
    )


def open_all_any_key(messages: list[Message]) -> list[dict[str, Any]]:
    """Records of messages signed by a key the test does not hold (decoded, not verified)."""
    from schemas.container import decode_records

    catalog = SchemaCatalog.load()
    out: list[dict[str, Any]] = []
    for m in messages:
        writer = catalog.by_fingerprint(parse_headers(m.headers).schema_fingerprint)
        out.extend(decode_records(m.value, writer, writer))
    return out


def test_sigterm_stops_follow_after_the_batch_in_hand(
    nation: Nation,
    tmp_path: Path,
    kafka_bootstrap: str,
    kafka_admin: KafkaAdminClient,
) -> None:
    deployed = deploy(CONTRIBUTION, nation, tmp_path, kafka_bootstrap, kafka_admin, batch_size=100)
    process = deployed.start("--follow", "--interval", "60")
    try:
        wait_for(lambda: deployed.held() >= 3, timeout_s=60, what="three batches in the outbox")
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr[-2000:]
    (report,) = documents(stdout)
    assert report["stopped"] is True
    state = StateDB.open(deployed.deployment.config.state_db_path)
    try:
        held = Outbox(state).batches()
        marks = state.connection.execute("SELECT COUNT(*) FROM watermarks").fetchone()[0]
    finally:
        state.close()
    assert {b.state for b in held} == {"sent"} and marks == 1
    assert report["batches"] == len(held)
    assert len(held) < 100  # stopped well before the 10,000 rows were all read

    rest = documents(deployed.cli("run", "--once").stdout)[0]
    assert rest["skipped_batches"] == 0 and rest["batches_resent"] == 0
    records = open_all_any_key(deployed.mine(kafka_bootstrap))
    ids = [r["record_id"] for r in records]
    assert len(ids) == len(set(ids)) == report["rows_read"] + rest["rows_read"]


def test_sigint_during_the_wait_between_runs_exits_at_once(
    nation: Nation, tmp_path: Path, kafka_bootstrap: str, kafka_admin: KafkaAdminClient
) -> None:
    deployed = deploy(DISPUTE, nation, tmp_path, kafka_bootstrap, kafka_admin, batch_size=1)
    process = deployed.start("--follow", "--interval", "600")
    try:
        wait_for(lambda: deployed.held() >= 1, timeout_s=60, what="the first run")
        time.sleep(3)  # the run is over: receipts polled, now waiting for the next
        process.send_signal(signal.SIGINT)  # Ctrl-C
        # The wait between runs is 600 s: ending within 30 s means the signal cut it short.
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr[-2000:]
    assert documents(stdout)[0]["records_published"] >= 1


def test_follow_reports_a_failed_delivery_and_sends_the_batch_at_the_next_pass(
    nation: Nation,
    tmp_path: Path,
    kafka_bootstrap: str,
    kafka_admin: KafkaAdminClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The broker refuses the first delivery (the link is down); the real broker
    # takes every later one. The process must not end: the batch goes at the next pass.
    deployed = deploy(DISPUTE, nation, tmp_path, kafka_bootstrap, kafka_admin, batch_size=1)
    real_send = KafkaSender.send
    sends = Counter[str]()

    def link_down_once(self: KafkaSender, topic: str, messages: Sequence[Message]) -> None:
        sends["tried"] += 1
        if sends["tried"] == 1:
            raise PublishFailed(f"topic {topic}: 1 of 1 message(s) not delivered (link down)")
        real_send(self, topic, messages)

    real_once = connector_cli._run_once
    passes = Counter[str]()

    def run_once(*args: Any, **kwargs: Any) -> dict[str, Any]:
        passes["started"] += 1
        if passes["started"] == 3:  # two passes are enough: stop as an operator would
            os.kill(os.getpid(), signal.SIGTERM)
        return real_once(*args, **kwargs)

    monkeypatch.setattr(KafkaSender, "send", link_down_once)
    monkeypatch.setattr(connector_cli, "_run_once", run_once)
    done = deployed.cli("run", "--follow", "--interval", "0.1")
    failed, second, last = documents(done.stdout)
    assert failed["error"]["code"] == "connector.publish_failed"
    assert "link down" in failed["error"]["message"] and failed["retry_in_s"] == 0.1
    assert second["batches_resent"] == 1  # the refused batch, from the outbox
    assert last["stopped"] is True
    ids = [r["record_id"] for r in open_all_any_key(deployed.mine(kafka_bootstrap))]
    assert len(ids) == len(set(ids)) == second["rows_read"] + last["rows_read"] >= 1
    state = StateDB.open(deployed.deployment.config.state_db_path)
    try:
        assert {b.state for b in Outbox(state).batches()} == {"sent"}
    finally:
        state.close()


def test_resend_sends_held_batches_again_signed_anew(
    nation: Nation, tmp_path: Path, kafka_bootstrap: str, kafka_admin: KafkaAdminClient
) -> None:
    deployed = deploy(DISPUTE, nation, tmp_path, kafka_bootstrap, kafka_admin, batch_size=1)
    deployed.cli("run", "--once")
    first = deployed.mine(kafka_bootstrap)
    ids = outbox_ids(deployed)
    assert len(ids) == len(first) >= 2

    one = json.loads(deployed.cli("resend", "--batch", ids[1]).stdout)
    assert one["resent"] == [ids[1]]
    every = json.loads(deployed.cli("resend", "--all").stdout)
    assert every["resent"] == ids
    again = deployed.mine(kafka_bootstrap)
    # The stored parts, each send signed anew (same envelope ids, keys and values).
    assert [content_bytes(m) for m in again] == [
        content_bytes(m) for m in [*first, first[1], *first]
    ]

    state = StateDB.open(deployed.deployment.config.state_db_path)
    try:
        Outbox(state).apply_receipt(Receipt(ids[0], "accepted"), at=NOW)
    finally:
        state.close()
    assert deployed.cli("resend", "--batch", ids[0], check=False).error == "outbox.batch_settled"
    unknown = deployed.cli("resend", "--batch", "f" * 64, check=False)
    assert unknown.error == "outbox.unknown_batch"
    assert deployed.cli("resend", check=False).returncode == 2  # neither --all nor --batch
    rest = json.loads(deployed.cli("resend", "--all").stdout)
    assert rest["resent"] == ids[1:]
