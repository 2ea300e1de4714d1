"""Research access, daily: expire the projects whose term has run out (their keys are
destroyed, their extracts deleted), then propagate consent withdrawals: rebuild every
live extract that holds a person who has withdrawn consent for research.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import CronDataIntervalTimetable, dag, task
from hub_common import DEFAULT_ARGS, START, TAGS, settings


@dag(
    dag_id="hub_research",
    schedule=CronDataIntervalTimetable("0 4 * * *", timezone="UTC"),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "research", "consent"],
    doc_md=__doc__,
)
def hub_research() -> None:
    @task(task_id="expire_and_propagate_consent")
    def expire_and_propagate_consent() -> dict[str, Any]:
        from hub_api.duties import research_expiry

        return research_expiry(settings())

    expire_and_propagate_consent()


hub_research()
