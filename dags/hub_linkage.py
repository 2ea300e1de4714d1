"""Linkage after new bronze data lands: an incremental run over what arrived since the
last committed run (a full run when there is none), skipped when bronze has not moved.

Triggered by an update of the ``hub_bronze`` asset (``lmis-hub://lake/bronze``) —
emitted by anything in Airflow that lands data in bronze, e.g. an ingest or replay task
with it as an outlet, or ``airflow assets materialize``/an asset event from the API —
and in any case every hour, which catches what the always-running ingest worker landed.
A committed run updates the ``hub_silver`` asset.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, dag, task
from hub_common import DEFAULT_ARGS, START, TAGS, settings

BRONZE = Asset(name="hub_bronze", uri="lmis-hub://lake/bronze")
SILVER = Asset(name="hub_silver", uri="lmis-hub://lake/silver")


@dag(
    dag_id="hub_linkage",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("15 * * * *", timezone="UTC"), assets=[BRONZE]
    ),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "linkage"],
    doc_md=__doc__,
)
def hub_linkage() -> None:
    @task(task_id="link", outlets=[SILVER])
    def link() -> dict[str, Any]:
        from hub_api.duties import linkage_run

        return linkage_run(settings())

    link()


hub_linkage()
