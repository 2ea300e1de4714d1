"""Lake retention, daily: delete the bronze rows older than their agreement's retention
period, expire the snapshots older than ``HUB_LAKE__KEEP_SNAPSHOTS_H`` and delete the
files only they referenced (one ``lake:retention`` audit entry per table changed).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import CronDataIntervalTimetable, dag, task
from hub_common import DEFAULT_ARGS, START, TAGS, settings


@dag(
    dag_id="hub_lake_retention",
    schedule=CronDataIntervalTimetable("0 3 * * *", timezone="UTC"),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "lake"],
    doc_md=__doc__,
)
def hub_lake_retention() -> None:
    @task(task_id="retention")
    def retention() -> dict[str, Any]:
        from hub_api.duties import lake_retention

        return lake_retention(settings())

    retention()


hub_lake_retention()
