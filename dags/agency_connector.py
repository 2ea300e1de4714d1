"""The agency-side DAG factory: one DAG per connector config, for an agency that runs
Airflow, scheduled on the agreement's periodicity.

``lmis-hub connector dag --config FILE --out DAGS_FOLDER`` writes a DAG file of two
lines that calls :func:`connector_dag` (and copies this module beside it), so parsing
reads no config and opens nothing. The task runs ``lmis-hub connector run --once`` on the
config — publish the new rows, apply the hub's receipts, resend what has none — and
returns its summary. A delivery that fails because the broker or the link is down
(``connector.publish_failed``) is retried with a growing delay: the batch waits in the
connector's outbox with its watermark. Any other refusal (a config or a key the
connector rejects) fails at once: retrying would not mend it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, dag, task
from airflow.sdk.exceptions import AirflowFailException

#: The agreement's periodicity as a schedule (at 02:00 UTC, after the day's business).
SCHEDULES = {
    "daily": "0 2 * * *",
    "weekly": "0 2 * * 1",
    "monthly": "0 2 1 * *",
    "quarterly": "0 2 1 1,4,7,10 *",
    "annual": "0 2 1 1 *",
}
RETRYABLE = "connector.publish_failed"
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "agency-it",
    "retries": 6,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(hours=2),
}


class BrokerUnavailable(RuntimeError):
    """The delivery failed on the way (broker or link down): Airflow tries again."""


def run_connector(config: str, timeout_s: float = 3600.0) -> dict[str, Any]:
    """One ``lmis-hub connector run --once`` on ``config``; its JSON summary."""
    done = subprocess.run(
        [sys.executable, "-c", "from hub_api.cli import main; main()",
         "--json", "connector", "run", "--once", "--config", config],
        capture_output=True, text=True, timeout=timeout_s, check=False,
    )  # fmt: skip
    try:
        answer: dict[str, Any] = json.loads(done.stdout or "{}")
    except ValueError:
        answer = {}
    if done.returncode == 0:
        return answer
    error = answer.get("error", {})
    reason = f"{error.get('code', 'connector.failed')}: {error.get('message', done.stderr[-500:])}"
    if error.get("code") == RETRYABLE:
        raise BrokerUnavailable(reason)
    raise AirflowFailException(reason)


def connector_dag(
    *, dag_id: str, config: str, periodicity: str, default_args: dict[str, Any] | None = None
) -> DAG:
    """The DAG running the connector of ``config`` on ``periodicity``."""
    if periodicity not in SCHEDULES:
        raise ValueError(f"periodicity {periodicity!r}: one of {', '.join(SCHEDULES)}")

    @dag(
        dag_id=dag_id,
        schedule=CronTriggerTimetable(SCHEDULES[periodicity], timezone="UTC"),
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        default_args=default_args if default_args is not None else DEFAULT_ARGS,
        tags=["lmis-connector", periodicity],
        doc_md=__doc__,
    )
    def connector() -> None:
        @task(task_id="run_connector")
        def run() -> dict[str, Any]:
            return run_connector(config)

        run()

    built: DAG = connector()
    return built
