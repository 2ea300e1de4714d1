"""The ways back after the hub rejects a batch, as an operator takes them through the
CLI: `connector resend --batch ID --rejected` (the config named a wrong agreement) and
`connector rewind --to-batch ID` (the mapping was wrong), against a real hub."""

from __future__ import annotations

from pathlib import Path

from integration.lake.bronze import bronze_identifier
from integration.lake.catalog import open_catalog
from tests.fixtures.kafka import Broker
from tests.hub_api.connector_stack import AGREEMENT, hub_and_connector


def test_a_batch_rejected_for_a_wrong_agreement_is_resent_under_the_corrected_one(
    tmp_path: Path, restartable_broker: Broker
) -> None:
    with hub_and_connector(
        tmp_path, restartable_broker.bootstrap, agreement_id="dsa-tvet-typo"
    ) as s:
        ran, _ = s.connector("run", "--once")
        assert ran["records_published"] == 2
        status = s.until_status("the rejection", lambda st: st["batches"]["rejected"] == 1)
        (rejected,) = status["rejected"]
        batch = rejected["batch_id"]
        assert rejected["reason_code"] == "agreement.unknown"
        assert f"connector resend --batch {batch} --rejected" in rejected["ways_back"]
        assert f"connector rewind --to-batch {batch}" in rejected["ways_back"]
        # Running again sends nothing (the watermark moved on), and a plain resend is
        # refused with a message that names both ways back.
        again, _ = s.connector("run", "--once")
        assert again["records_published"] == 0
        refused, _ = s.connector("resend", "--batch", batch, code=2)
        assert refused["error"]["code"] == "outbox.batch_settled"
        assert "--rejected" in refused["error"]["message"]
        assert "connector rewind --to-batch" in refused["error"]["message"]

        s.edit_config("agreement_id: dsa-tvet-typo", f"agreement_id: {AGREEMENT}")
        resent, _ = s.connector("resend", "--batch", batch, "--rejected")
        assert resent["resent"] == [batch]
        status = s.until_status("the acceptance", lambda st: st["batches"]["accepted"] == 1)
        assert status["batches"] == {"pending": 0, "sent": 0, "accepted": 1, "rejected": 0}


def test_a_batch_rejected_for_its_mapping_is_read_again_after_a_rewind(
    tmp_path: Path, restartable_broker: Broker
) -> None:
    with hub_and_connector(tmp_path, restartable_broker.bootstrap) as s:
        right = 'birth_year: {column: dob, date_formats: ["%Y-%m-%d"], date_part: year}'
        s.edit_config(right, right.replace("date_part: year", "date_part: day"))  # a slip
        ran, _ = s.connector("run", "--once")
        assert (ran["records_published"], ran["refused_rows"]) == (2, 3)
        status = s.until_status("the rejection", lambda st: st["batches"]["rejected"] == 1)
        (rejected,) = status["rejected"]
        batch = rejected["batch_id"]
        assert rejected["reason_code"] == "validation.range"  # a birth year of 2 or 30

        s.edit_config(right.replace("date_part: year", "date_part: day"), right)
        done, _ = s.connector("rewind", "--to-batch", batch)
        assert done["batches"] == [batch] and done["watermark_to"] is None  # the first batch
        assert done["refusals_cleared"] == 3
        ran, _ = s.connector("run", "--once")
        assert (ran["records_published"], ran["batches"], ran["refused_rows"]) == (2, 1, 3)
        status = s.until_status("the acceptance", lambda st: st["batches"]["accepted"] == 1)
        assert status["batches"] == {"pending": 0, "sent": 0, "accepted": 1, "rejected": 1}
        assert status["refused_rows"] == 3  # the refusals are not counted twice
        (old,) = status["rejected"]
        assert old["batch_id"] == batch and old["rewound_at"] is not None
        assert status["last_rewind"]["details"]["to_batch"] == batch

        lake = open_catalog(database_url=s.hub.database_url, warehouse=str(s.hub.warehouse))
        rows = lake.load_table(bronze_identifier("tvet", "trainee")).scan().to_arrow()
        assert sorted(rows["birth_year"].to_pylist()) == [1985, 1990]  # the corrected values
