"""E-mail to the LMIS unit through Airflow's SMTP notifier, with the SMTP server taken
from the hub settings (``HUB_NOTIFY__*``) instead of an Airflow connection: the hub's
settings stay the one place its deployment is configured. Imported by task bodies only.
"""

from __future__ import annotations

import html
import json
from functools import cached_property
from typing import Any

from airflow.providers.smtp.hooks.smtp import SmtpHook
from airflow.providers.smtp.notifications.smtp import SmtpNotifier
from airflow.sdk import Connection

from lmis_hub.settings import NotifySettings

CONN_ID = "lmis_hub_notify"


def connection(notify: NotifySettings) -> Connection:
    """An SMTP connection (in Airflow's terms) for the server of ``notify``."""
    password = notify.smtp_password.get_secret_value() if notify.smtp_password else None
    extra = {
        "from_email": notify.mail_from,
        "disable_ssl": notify.smtp_security != "ssl",
        "disable_tls": notify.smtp_security != "starttls",
        "timeout": notify.timeout_s,
        "retry_limit": 2,
    }
    return Connection(
        conn_id=CONN_ID,
        conn_type="smtp",
        host=notify.smtp_host,
        port=notify.smtp_port,
        login=notify.smtp_user,
        password=password,
        extra=json.dumps(extra),
    )


class SettingsSmtpHook(SmtpHook):
    """Airflow's SMTP hook on a connection given to it, not looked up by id."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(smtp_conn_id=conn.conn_id)
        self._given = conn

    def get_connection(self, conn_id: str) -> Connection:  # type: ignore[override]
        return self._given


class LmisUnitNotifier(SmtpNotifier):
    """Airflow's SMTP notifier sending through the server of the hub settings."""

    def __init__(self, notify: NotifySettings, **kwargs: Any) -> None:
        self._conn = connection(notify)
        super().__init__(
            to=list(notify.mail_to),
            from_email=notify.mail_from,
            smtp_conn_id=CONN_ID,
            **kwargs,
        )

    @cached_property
    def hook(self) -> SmtpHook:
        return SettingsSmtpHook(self._conn)


def send(notify: NotifySettings, subject: str, body: str, context: Any) -> None:
    """Send ``body`` (plain text, shown as is) with ``subject`` to ``notify.mail_to``."""
    content = f"<pre>{html.escape(body)}</pre>"
    LmisUnitNotifier(notify, subject=subject, html_content=content).notify(context)
