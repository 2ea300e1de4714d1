"""The agreement monitor, daily: as of the end of the data interval, expire the agreements
whose validity has ended, list the late deliveries (against each dataset's periodicity
and delivery lag) and the agreements expiring within 30 days; record the report in the
audit log (tag ``agreement:monitor``, once per interval) and mail it to the LMIS unit
through the SMTP server of ``HUB_NOTIFY__*`` (skipped when none is set, or when there
is nothing to report, or when an earlier run of the same interval already sent it).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import CronDataIntervalTimetable, dag, task
from hub_common import DEFAULT_ARGS, START, TAGS, interval, mail_lmis_unit, settings


@dag(
    dag_id="hub_agreements",
    schedule=CronDataIntervalTimetable("0 5 * * *", timezone="UTC"),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "agreements"],
    doc_md=__doc__,
)
def hub_agreements() -> None:
    @task(task_id="monitor")
    def monitor() -> dict[str, Any]:
        from hub_api.duties import agreement_monitor

        return agreement_monitor(settings(), interval())

    @task(task_id="notify_lmis_unit")
    def notify(report: dict[str, Any]) -> dict[str, Any]:
        from hub_api.duties import monitor_message

        if not report["recorded"]:
            return mail_lmis_unit(None, why_not="this interval's report was already sent")
        return mail_lmis_unit(monitor_message(report))

    notify(monitor())  # type: ignore[arg-type]  # an XComArg stands for the value


hub_agreements()
