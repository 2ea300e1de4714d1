"""The quarantine digest, daily: per agency, the messages still in quarantine (by reason
code, the oldest) and how many arrived during the data interval, mailed to the LMIS unit
through the SMTP server of ``HUB_NOTIFY__*`` (skipped when the quarantine is empty or no
server is set).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import CronDataIntervalTimetable, dag, task
from hub_common import DEFAULT_ARGS, START, TAGS, interval, mail_lmis_unit, settings


@dag(
    dag_id="hub_quarantine_digest",
    schedule=CronDataIntervalTimetable("0 6 * * *", timezone="UTC"),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "quarantine"],
    doc_md=__doc__,
)
def hub_quarantine_digest() -> None:
    @task(task_id="digest")
    def digest() -> dict[str, Any]:
        from hub_api.duties import quarantine_digest

        return quarantine_digest(settings(), interval())

    @task(task_id="notify_lmis_unit")
    def notify(report: dict[str, Any]) -> dict[str, Any]:
        from hub_api.duties import digest_message

        return mail_lmis_unit(digest_message(report), why_not="nothing in quarantine")

    notify(digest())  # type: ignore[arg-type]  # an XComArg stands for the value


hub_quarantine_digest()
