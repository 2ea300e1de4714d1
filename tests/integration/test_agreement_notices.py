"""An agreement amendment, told to the agency: the hub publishes a signed notice when the
newer version is activated, the connector takes it and says what to set; a batch sent
under the old version is quarantined, replayed under the new one, and the connector
follows the replay's receipt. A notice that does not verify is logged and ignored."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Producer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.agreement_notices import Supersession, seal_agreement_notice
from schemas.catalog import SchemaCatalog
from schemas.keys import key_id_for
from schemas.receipts import receipt_topic
from schemas.signing import Signer
from tests.fixtures.kafka import Broker
from tests.hub_api.connector_stack import AGREEMENT, hub_and_connector

SUPERSEDED = f"agreement {AGREEMENT} version 1 is superseded by version 2: set agreement_version: 2"
LATER_ROWS = """row,trainee_no,registered,gender,parish,dob,first_name,surname,national_id,education
R006,T006,2025-02-03,F,TT-ARI,1993-05-06,Fay,Garcia,199305067,3
"""


def test_an_activated_amendment_reaches_the_connector_and_its_refused_batch_comes_back(
    tmp_path: Path, restartable_broker: Broker
) -> None:
    with hub_and_connector(tmp_path, restartable_broker.bootstrap) as s:
        s.connector("run", "--once")
        s.until_status("the first batch accepted", lambda st: st["batches"]["accepted"] == 1)
        assert s.status()["agreement"] == {"id": AGREEMENT, "version": 1, "superseded": None}

        assert s.activate_amendment() == 2  # the running worker publishes the notice
        status = s.until_status(
            "the agreement notice", lambda st: st["agreement"]["superseded"] is not None
        )
        assert status["agreement"]["superseded"] == SUPERSEDED

        # A notice the hub did not sign: logged, ignored.
        forger = Ed25519PrivateKey.generate()
        forged = seal_agreement_notice(
            Supersession("tvet", AGREEMENT, 1, 9, datetime.now(UTC)),
            catalog=SchemaCatalog.load(),
            signer=Signer(key_id_for("hub", s.hub.hub_key), forger),
            now=datetime.now(UTC),
        )
        producer = Producer({"bootstrap.servers": s.bootstrap})
        producer.produce(
            receipt_topic("tvet"), key=forged.key, value=forged.value, headers=list(forged.headers)
        )
        assert producer.flush(10) == 0
        ran, log = s.connector("run", "--once")
        assert "agreement notice refused: [envelope.bad_signature]" in log
        assert f"{SUPERSEDED} (the hub refuses" in log  # said when the run starts
        assert ran["superseded"] == SUPERSEDED and ran["receipts_invalid"] == 1
        assert s.status()["agreement"]["superseded"] == SUPERSEDED  # not version 9

        # A new row, still sent under version 1: quarantined, rejected.
        (s.config.parent / "exports" / "trainees-2.csv").write_text(LATER_ROWS, "utf-8")
        status = s.until_status("the rejection", lambda st: st["batches"]["rejected"] == 1)
        (rejected,) = status["rejected"]
        assert rejected["reason_code"] == "agreement.version_superseded"

        # The LMIS unit replays it under the amendment; the connector follows the receipt.
        replayed, _ = s.hub_cli("quarantine", "replay", "--reason", "agreement.version_superseded")
        assert [r["outcome"] for r in replayed] == ["accepted"]
        status = s.until_status("the replay's receipt", lambda st: st["batches"]["rejected"] == 0)
        assert status["batches"] == {"pending": 0, "sent": 0, "accepted": 2, "rejected": 0}
