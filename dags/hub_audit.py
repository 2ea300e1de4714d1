"""The audit log: an hourly signed checkpoint, a daily verification of the whole chain.

``hub_audit_checkpoint`` signs the entries not yet covered once a checkpoint is due
(``HUB_AUDIT__CHECKPOINT_EVERY_S`` / ``_EVERY_ENTRIES``), so an idle hour is covered too.
``hub_audit_verify`` recomputes the chain and checks every signed checkpoint; a broken
chain fails the task at once (no retry: tampering is not transient), names the first
bad entry, and mails the LMIS unit when ``HUB_NOTIFY__*`` is set.
"""

from __future__ import annotations

import contextlib
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, dag, task
from hub_common import DEFAULT_ARGS, START, TAGS, interval, mail_lmis_unit, settings


@dag(
    dag_id="hub_audit_checkpoint",
    schedule=CronDataIntervalTimetable("@hourly", timezone="UTC"),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "audit"],
    doc_md=__doc__,
)
def hub_audit_checkpoint() -> None:
    @task(task_id="checkpoint")
    def checkpoint() -> dict[str, Any]:
        from hub_api.duties import audit_checkpoint

        return audit_checkpoint(settings())

    checkpoint()


def _tampering_mail(context: Any) -> None:
    """on_failure_callback of the verification: tell the LMIS unit why it failed."""
    from airflow.sdk.exceptions import AirflowSkipException

    error = context.get("exception")
    with contextlib.suppress(AirflowSkipException):  # no SMTP server set: the failure shows
        mail_lmis_unit(
            ("LMIS hub: the audit log does not verify", f"{error}\n\nRun lmis-hub audit verify."),
            context=context,
        )


@dag(
    dag_id="hub_audit_verify",
    schedule=CronDataIntervalTimetable("30 2 * * *", timezone="UTC"),
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=[*TAGS, "audit"],
    doc_md=__doc__,
)
def hub_audit_verify() -> None:
    @task(task_id="verify", on_failure_callback=_tampering_mail)
    def verify() -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from governance.errors import AuditTampered
        from hub_api.duties import audit_verify

        try:
            return audit_verify(settings(), interval())
        except AuditTampered as exc:
            raise AirflowFailException(f"{exc.code}: {exc.message}") from exc

    verify()


hub_audit_checkpoint()
hub_audit_verify()
