"""`lmis-hub connector` run as a subprocess over a tiny CSV source and the real broker."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from confluent_kafka import Consumer, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError
from pydantic import SecretStr

from connectors.sdk.linkkey import LinkKey, write_link_key_file
from connectors.sdk.publisher import KafkaSender
from schemas.catalog import SchemaCatalog
from schemas.envelope import Message, open_batch, parse_headers
from schemas.keys import encrypted_private_pem, key_id_for, public_pem
from schemas.receipts import Receipt, seal_receipt
from schemas.signing import Signer
from tests.connectors.sdk.kafka_helpers import read_all
from tests.fixtures.kafka import Broker

LMIS_HUB = str(Path(sys.executable).parent / "lmis-hub")
CSV = """row,trainee_no,registered,gender,parish,dob,first_name,surname,national_id,education
R001,T001,2025-01-05,M,TT-POS,1990-04-02,Alicia,Baptiste,199004021,3
R002,T002,2025-01-06,F,TT-SFO,1985-11-30,Brent,Charles,198511303,4
R003,T003,2025-01-07,X,TT-POS,1979-02-14,Carla,Dookie,197902145,2
R004,T004,2025-01-08,F,NOWHERE,1999-07-21,Dion,Edwards,199907216,3
R005,T005,2025-01-09,M,TT-SFO,2001-09-09,Erin,Felix,12345,1
"""


def write_connector(
    tmp_path: Path, bootstrap: str
) -> tuple[Path, dict[str, str], Ed25519PrivateKey]:
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "trainees-1.csv").write_text(CSV, encoding="utf-8")
    write_link_key_file(
        tmp_path / "link.key", LinkKey.generate(key_id="tvet-link"), SecretStr("lk"), scrypt_n=2**10
    )
    private = Ed25519PrivateKey.generate()
    (tmp_path / "sign.pem").write_bytes(encrypted_private_pem(private, b"sk"))
    config = tmp_path / "tvet.yaml"
    config.write_text(
        f"""
agency: tvet
dataset: trainee
state_dir: {tmp_path / "state"}
batch_size: 2
agreement_id: dsa-tvet-test
agreement_version: 2
signing_key_file: {tmp_path / "sign.pem"}
source:
  type: csv
  directory: {tmp_path / "exports"}
  glob: "trainees-*.csv"
  incremental: column
  watermark_column: registered
  key_column: row
mapping:
  key_column: row
  fields:
    record_id: {{column: row}}
    registration_date: {{column: registered, date_formats: ["%Y-%m-%d"]}}
    sex: {{column: gender, code_table: sex}}
    region: {{column: parish}}
    birth_year: {{column: dob, date_formats: ["%Y-%m-%d"], date_part: year}}
    education_level: {{column: education}}
  identifiers:
    national_id: national_id
    given_name: first_name
    family_name: surname
    dob: dob
    person_ref: trainee_no
  code_tables:
    sex: {{M: "1", F: "2"}}
validation:
  region: {{required: true, code_list: region}}
  education_level: {{code_list: isced11}}
tokenise:
  link_key_file: {tmp_path / "link.key"}
  national_id_lengths: [9]
kafka:
  bootstrap_servers: {bootstrap}
  security_protocol: PLAINTEXT
""",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "HUB_CONNECTOR__LINK_KEY_PASSPHRASE": "lk",
        "HUB_CONNECTOR__SIGNING_KEY_PASSPHRASE": "sk",
    }
    return config, env, private


def cli(env: dict[str, str], *args: str, code: int = 0) -> Any:
    done = subprocess.run(
        [LMIS_HUB, "--json", "connector", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == code, done.stderr + done.stdout
    return json.loads(done.stdout)


def test_validate_run_and_status(tmp_path: Path, kafka_bootstrap: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    with contextlib.suppress(TopicAlreadyExistsError):
        admin.create_topics([NewTopic("lmis.tvet.trainee.v1", 1, 1)])
    admin.close()
    config, env, private = write_connector(tmp_path, kafka_bootstrap)

    checked = cli(env, "validate", "--config", str(config), code=1)  # rows are refused
    assert (checked["rows_read"], checked["records"], checked["refused_rows"]) == (5, 2, 3)
    assert checked["ok"] is False and checked["problems"] == []
    assert checked["warnings"] == ["hub_public_key_file is not set: `run` cannot verify receipts"]
    assert checked["refusal_reasons"] == {
        "sex: mapping.unknown_code": 1,
        "region: validation.code_list": 1,
        "national_id_token: identifier.invalid": 1,
    }
    assert {r["row"]: r["field"] for r in checked["refusals"]} == {
        "R003": "sex",
        "R004": "region",
        "R005": "national_id_token",
    }
    sampled = {s["record_id"] for s in checked["sample"]}  # keyed ids of rows R001, R002
    assert len(sampled) == 2 and not sampled & {"R001", "R002", "T001", "T002"}
    shown = json.dumps(checked["sample"])
    assert "Alicia" not in shown and "199004021" not in shown and "1990-04-02" not in shown
    assert not (tmp_path / "state").exists()  # a dry run keeps no state

    ran = cli(env, "run", "--config", str(config), "--once")
    assert (ran["records_published"], ran["batches"], ran["refused_rows"]) == (2, 1, 3)
    again = cli(env, "run", "--config", str(config), "--once")
    assert again["records_published"] == 0

    status = cli(env, "status", "--config", str(config))
    assert status["batches"] == {"pending": 0, "sent": 1, "accepted": 0, "rejected": 0}
    assert status["refused_rows"] == 3  # rows, as validate and run count them
    assert "refused" not in status
    listed = cli(env, "status", "--config", str(config), "--refusals")["refused"]
    assert sorted((r["row"], r["field"], r["reason"]) for r in listed) == [
        ("R003", "sex", "mapping.unknown_code"),
        ("R004", "region", "validation.code_list"),
        ("R005", "national_id_token", "identifier.invalid"),
    ]
    assert "12345" not in json.dumps(listed)  # R005's national ID: never a value

    key_id = key_id_for("tvet", private.public_key())
    mine = []
    for m in read_all(kafka_bootstrap, "lmis.tvet.trainee.v1", 1000, timeout_s=1):
        if parse_headers(m.headers).key_id == key_id:
            mine.append(m)
    assert len(mine) == 1
    opened = open_batch(
        mine[0].value,
        mine[0].headers,
        catalog=SchemaCatalog.load(),
        public_key_for=lambda kid: private.public_key() if kid == key_id else None,
        now=datetime.now(UTC),
        max_skew=timedelta(seconds=30),
    )
    assert {r["record_id"] for r in opened.records} == sampled
    assert opened.headers.agreement_id == "dsa-tvet-test"
    assert opened.records[0]["national_id_token"] is not None


def _wait(what: str, check: Callable[[], Any], *, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout_s} s")


def test_run_follow_survives_a_broker_restart_and_resends_what_it_lost(
    tmp_path: Path, restartable_broker: Broker
) -> None:
    """A broker that restarts empty (memory-only) loses the unanswered batch: the
    connector keeps running, replaces its producer, notices the loss from the receipts
    topic and sends the batch again at once (not after resend_after_s), saying so once."""
    broker = restartable_broker
    config, env, private = write_connector(tmp_path, broker.bootstrap)
    hub = Ed25519PrivateKey.generate()
    hub_signer = Signer(key_id_for("hub", hub.public_key()), hub)
    (tmp_path / "hub.pub.pem").write_text(public_pem(hub.public_key()), encoding="ascii")
    text = config.read_text(encoding="utf-8").replace("batch_size: 2", "batch_size: 1")
    config.write_text(text + f"hub_public_key_file: {tmp_path / 'hub.pub.pem'}\n", "utf-8")
    state_db = tmp_path / "state" / "state.db"
    log_path = tmp_path / "connector.log"
    with log_path.open("w") as log:
        command = [LMIS_HUB, "--json", "connector", "run", "--config", str(config)]
        proc = subprocess.Popen(
            [*command, "--follow", "--interval", "0.5"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        first, second = _wait("both batches on the broker", lambda: _published(broker.bootstrap, 2))
        answer = seal_receipt(
            Receipt(
                batch_id=parse_headers(first.headers).batch_id,
                agency="tvet",
                dataset="trainee",
                outcome="accepted",
                reason_code=None,
                lake_commit_id="1",
                records_received=1,
                records_accepted=1,
                records_rejected=0,
                decided_at=datetime.now(UTC),
            ),
            catalog=SchemaCatalog.load(),
            agreement_id="hub",
            agreement_version=1,
            signer=hub_signer,
            now=datetime.now(UTC),
        )
        sender = KafkaSender({"bootstrap.servers": broker.bootstrap}, timeout_s=10)
        sender.send("lmis.receipts.tvet", [answer])
        sender.close()
        _wait("the receipt applied", lambda: _states(state_db) == ["accepted", "sent"])

        broker.restart()  # every topic is gone, the second batch with it
        (again,) = _wait(
            "the lost batch sent again",
            lambda: _published(broker.bootstrap, 1),
            timeout_s=40,  # far less than resend_after_s (600 s)
        )
        assert proc.poll() is None, "the connector exited"
        assert again.value == second.value  # the same batch, signed anew
        assert parse_headers(again.headers).batch_id == parse_headers(second.headers).batch_id
        assert parse_headers(again.headers).key_id == key_id_for("tvet", private.public_key())
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{log_path.read_text(encoding='utf-8')}") from exc
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    logged = log_path.read_text(encoding="utf-8")
    assert code == 0, logged
    assert logged.count("broker lost") == 1, logged
    assert "resending 1 batches" in logged
    assert "Traceback" not in logged


def _published(bootstrap: str, count: int) -> list[Message] | None:
    """The connector's messages when there are ``count`` (the topic the broker created
    on the first produce has several partitions), in the order they were stored."""
    topic = "lmis.tvet.trainee.v1"
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused"})
    try:
        meta = consumer.list_topics(topic, timeout=5).topics.get(topic)
        if meta is None or meta.error is not None:
            return None
        consumer.assign([TopicPartition(topic, p, 0) for p in meta.partitions])
        got = [m for m in consumer.consume(count + 1, timeout=1) if m.error() is None]
    finally:
        consumer.close()
    if len(got) != count:
        return None
    got.sort(key=lambda m: m.timestamp()[1])
    return [
        Message(
            cast(bytes, m.key()),
            cast(bytes, m.value()),
            cast(list[tuple[str, bytes]], list(m.headers() or [])),
        )
        for m in got
    ]


def _states(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT state FROM batches ORDER BY created_at, rowid").fetchall()
    except sqlite3.Error:
        return []
    finally:
        conn.close()
    return [str(r[0]) for r in rows]


def test_validate_finds_misspelt_columns_and_unknown_fields(tmp_path: Path) -> None:
    """A misspelt column sends empty values with no refusal at all: validate names it."""
    config, env, _ = write_connector(tmp_path, "127.0.0.1:9")
    text = config.read_text(encoding="utf-8")
    text = text.replace("region: {column: parish}", "region: {column: parsh}")
    text = text.replace("given_name: first_name", "given_name: firstname")
    text = text.replace(
        "education_level: {column: education}",
        "education_level: {column: education}\n    favourite_colour: {constant: blue}",
    )
    config.write_text(text, encoding="utf-8")
    checked = cli(env, "validate", "--config", str(config), code=1)
    assert checked["ok"] is False
    assert checked["problems"] == [
        "fields.favourite_colour: tvet/trainee v1 has no field 'favourite_colour'",
        "fields.region.column: column 'parsh' is not in the source",
        "identifiers.given_name: column 'firstname' is not in the source",
    ]


def test_validate_loads_the_keys_as_run_does(tmp_path: Path) -> None:
    config, env, _ = write_connector(tmp_path, "127.0.0.1:9")
    done = subprocess.run(
        [LMIS_HUB, "--json", "connector", "validate", "--config", str(config)],
        env={**env, "HUB_CONNECTOR__SIGNING_KEY_PASSPHRASE": "wrong"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert json.loads(done.stdout)["error"]["code"] == "connector.signing_key_invalid"
