"""The agency-side DAG factory: `lmis-hub connector dag` writes a DAG per connector config
on its agreement's periodicity; the DAG parses without reading the config, runs the
connector (publish, receipts) against the real broker, and tells a broker outage (retried)
from a refusal that retrying cannot mend (failed at once)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from tests.dags.hubs import at
from tests.hub_api.http.server import free_port
from tests.hub_api.test_cli_connector import write_connector


def connector_cli(*args: str, code: int = 0) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", "from hub_api.cli import main; main()", "--json", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == code, done.stderr + done.stdout
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


@pytest.fixture
def connector(tmp_path: Path, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    with contextlib.suppress(TopicAlreadyExistsError):
        admin.create_topics([NewTopic("lmis.tvet.trainee.v1", 1, 1)])
    admin.close()
    config, env, _ = write_connector(tmp_path, kafka_bootstrap)
    for key in ("HUB_CONNECTOR__LINK_KEY_PASSPHRASE", "HUB_CONNECTOR__SIGNING_KEY_PASSPHRASE"):
        monkeypatch.setenv(key, env[key])
    return config


def folder_bag(folder: Path) -> Any:
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=folder, bundle_path=folder)


def test_a_dag_per_connector_on_the_agreements_periodicity(
    airflow_home: Path, connector: Path, tmp_path: Path
) -> None:
    dags = tmp_path / "dags"
    refused = connector_cli(
        "connector", "dag", "--config", str(connector), "--out", str(dags), code=2
    )
    assert refused["error"]["code"] == "connector.config_invalid"  # no periodicity anywhere
    written = connector_cli(
        "connector", "dag", "--config", str(connector), "--out", str(dags),
        "--periodicity", "monthly",
    )  # fmt: skip
    assert written["dag_id"] == "connector_tvet_trainee"
    bag = folder_bag(dags)
    assert bag.import_errors == {}
    assert set(bag.dags) == {"connector_tvet_trainee"}  # the factory module is not a DAG
    dag = bag.dags["connector_tvet_trainee"]
    assert dag.timetable.expression == "0 2 1 * *"
    assert dag.default_args["retries"] > 0

    # an agency's own DAG folder, not the configured one: serialise it as Airflow's DAG
    # processor would before running it
    from airflow.dag_processing.dagbag import sync_bag_to_db
    from airflow.models.dagbundle import DagBundleModel
    from airflow.utils.session import create_session

    with create_session() as session:
        if session.get(DagBundleModel, "agency-dags") is None:
            session.add(DagBundleModel(name="agency-dags"))
    sync_bag_to_db(bag, "agency-dags", None)
    run = dag.test(logical_date=at("2026-12-01T02:00:00"))
    assert str(run.state) == "success"
    assert {ti.task_id: str(ti.state) for ti in run.get_task_instances()} == {
        "run_connector": "success"
    }
    # the connector's own record of what it sent: the two valid rows, in one batch
    status = connector_cli("connector", "status", "--config", str(connector))
    assert (status["records"], status["batches"]["sent"], status["refused_rows"]) == (2, 1, 3)


def test_a_broker_outage_is_retried_and_a_bad_config_is_not(
    airflow_home: Path, connector: Path, tmp_path: Path
) -> None:
    sys.path.insert(0, str(Path(__file__).parents[2] / "dags"))
    try:
        from agency_connector import BrokerUnavailable, run_connector
        from airflow.sdk.exceptions import AirflowFailException
    finally:
        sys.path.pop(0)
    down = tmp_path / "down.yaml"
    text = connector.read_text().replace(
        "bootstrap_servers:", f"bootstrap_servers: 127.0.0.1:{free_port()}  #"
    )
    down.write_text(text.replace("state_dir:", f"state_dir: {tmp_path / 'state2'}  #"))
    with pytest.raises(BrokerUnavailable, match=r"connector\.publish_failed"):
        run_connector(str(down), timeout_s=120)
    broken = tmp_path / "broken.yaml"
    broken.write_text("agency: tvet\n")
    with pytest.raises(AirflowFailException, match=r"connector\.config_invalid"):
        run_connector(str(broken), timeout_s=60)
