"""What the hub's DAGs share: default arguments, the settings and the data interval of
the running task, and e-mail to the LMIS unit.

Parsing a DAG file must stay cheap and touch nothing (no settings, no database, no
network): the hub's packages are imported inside the functions below, which only task
bodies call. The settings are the ``HUB_*`` environment of the Airflow worker.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pendulum

if TYPE_CHECKING:
    from hub_api.duties import Interval
    from lmis_hub.settings import Settings

#: The first data interval of every hub DAG (catchup is off: only the latest runs).
START = pendulum.datetime(2026, 1, 1, tz="UTC")
TAGS = ["lmis-hub"]
#: A failed task is tried again twice, after about 5 then 10 minutes (a database restart, a
#: lake write conflict); the audit verification's tampering fails at once.
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "lmis-unit",
    "retries": 2,
    "retry_delay": timedelta(minutes=5),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
}


def settings() -> Settings:
    """The hub settings of this worker (``HUB_*``), loaded in the task that needs them."""
    from lmis_hub.settings import load_settings

    return load_settings()


def interval() -> Interval:
    """The data interval of the running task."""
    from airflow.sdk import get_current_context

    from hub_api.duties import Interval

    context = get_current_context()
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is None or end is None:  # a manual run of a DAG without data intervals
        end = context["logical_date"] or pendulum.now("UTC")
        start = end
    return Interval(start, end)


def mail_lmis_unit(
    message: tuple[str, str] | None, *, why_not: str = "", context: Any = None
) -> dict[str, Any]:
    """Send ``message`` (subject, plain text) to the LMIS unit through Airflow's SMTP
    notifier, the server from ``HUB_NOTIFY__*``. Skip the task (visibly) when there is
    nothing to send or no SMTP server is set. A callback passes its ``context``."""
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowSkipException

    if message is None:
        raise AirflowSkipException(why_not or "nothing to report")
    notify = settings().notify
    if not notify.enabled:
        raise AirflowSkipException("no SMTP server set (HUB_NOTIFY__SMTP_HOST): e-mail skipped")
    from hub_mail import send

    subject, body = message
    send(notify, subject, body, context or get_current_context())
    return {"subject": subject, "to": list(notify.mail_to)}
