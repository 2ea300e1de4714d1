"""Indicator releases on the release calendar: every day at 06:00 UTC, when the calendar
(`integration/indicators/release_calendar.yaml`) dates a publication that day, build a
release from the lake as it is then — bronze at its current snapshots, silver at the
last committed linkage run — and publish it as SDMX with a manifest signed by the hub;
indicators whose agreement is not in force are withheld. On other days the task does
nothing. A retry publishes the release its first try built rather than building
another; a lake with no data yet skips the run.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import CronDataIntervalTimetable, dag, task
from hub_common import DEFAULT_ARGS, START, TAGS, interval, settings


@dag(
    dag_id="hub_indicators",
    schedule=CronDataIntervalTimetable("0 6 * * *", timezone="UTC"),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "indicators"],
    doc_md=__doc__,
)
def hub_indicators() -> None:
    @task(task_id="build_and_publish")
    def build_and_publish() -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from hub_api.duties import indicator_release
        from integration.indicators.errors import SourceEmpty

        try:
            return indicator_release(settings(), interval())
        except SourceEmpty as exc:
            raise AirflowSkipException(f"{exc.code}: {exc.message}") from exc

    build_and_publish()


hub_indicators()
