"""`lmis-hub connector` run as a subprocess over a tiny CSV source and the real broker."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError
from pydantic import SecretStr

from connectors.sdk.linkkey import LinkKey, write_link_key_file
from governance.keys.material import encrypted_private_pem, key_id_for
from schemas.catalog import Catalog
from schemas.envelope import open_batch, parse_headers
from tests.connectors.sdk.kafka_helpers import read_all

LMIS_HUB = str(Path(sys.executable).parent / "lmis-hub")
CSV = """trainee_no,registered,gender,parish,dob,first_name,surname,national_id,education
T001,2025-01-05,M,TT-POS,1990-04-02,Alicia,Baptiste,199004021,3
T002,2025-01-06,F,TT-SFO,1985-11-30,Brent,Charles,198511303,4
T003,2025-01-07,X,TT-POS,1979-02-14,Carla,Dookie,197902145,2
T004,2025-01-08,F,NOWHERE,1999-07-21,Dion,Edwards,199907216,3
T005,2025-01-09,M,TT-SFO,2001-09-09,Erin,Felix,12345,1
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
  key_column: trainee_no
mapping:
  key_column: trainee_no
  fields:
    record_id: {{column: trainee_no}}
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
  region: {{required: true, code_list: regions}}
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


def cli(env: dict[str, str], *args: str) -> Any:
    done = subprocess.run(
        [LMIS_HUB, "--json", "connector", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


def test_validate_run_and_status(tmp_path: Path, kafka_bootstrap: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    with contextlib.suppress(TopicAlreadyExistsError):
        admin.create_topics([NewTopic("lmis.tvet.trainee.v1", 1, 1)])
    admin.close()
    config, env, private = write_connector(tmp_path, kafka_bootstrap)

    checked = cli(env, "validate", "--config", str(config))
    assert (checked["rows_read"], checked["records"], checked["refused_rows"]) == (5, 2, 3)
    assert checked["refusal_reasons"] == {
        "sex: mapping.unknown_code": 1,
        "region: validation.code_list": 1,
        "national_id_token: identifier.invalid": 1,
    }
    assert {r["row"]: r["field"] for r in checked["refusals"]} == {
        "T003": "sex",
        "T004": "region",
        "T005": "national_id_token",
    }
    assert {s["record_id"] for s in checked["sample"]} == {"T001", "T002"}
    shown = json.dumps(checked["sample"])
    assert "Alicia" not in shown and "199004021" not in shown and "1990-04-02" not in shown
    assert not (tmp_path / "state").exists()  # a dry run keeps no state

    ran = cli(env, "run", "--config", str(config), "--once")
    assert (ran["records_published"], ran["batches"], ran["refused_rows"]) == (2, 1, 3)
    again = cli(env, "run", "--config", str(config), "--once")
    assert again["records_published"] == 0

    status = cli(env, "status", "--config", str(config))
    assert status["batches"] == {"pending": 0, "sent": 1, "accepted": 0, "rejected": 0}
    assert status["refused_rows"] == 3

    key_id = key_id_for("tvet", private.public_key())
    mine = []
    for m in read_all(kafka_bootstrap, "lmis.tvet.trainee.v1", 1000, timeout_s=1):
        if parse_headers(m.headers).key_id == key_id:
            mine.append(m)
    assert len(mine) == 1
    opened = open_batch(
        mine[0].value,
        mine[0].headers,
        catalog=Catalog.load(),
        public_key_for=lambda kid: private.public_key() if kid == key_id else None,
        now=datetime.now(UTC),
        max_skew=timedelta(seconds=30),
    )
    assert [r["record_id"] for r in opened.records] == ["T001", "T002"]
    assert opened.headers.agreement_id == "dsa-tvet-test"
    assert opened.records[0]["national_id_token"] is not None
