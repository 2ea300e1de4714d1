"""Database privileges of the application role (PostgreSQL).

The hub application connects as a role that may read and write its tables but may
not UPDATE, DELETE or TRUNCATE audit rows; together with the append-only triggers
this keeps the audit log append-only even against a compromised application.
Run :func:`grant_application_role` as the database owner after migrating.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from governance.db import Base

APPEND_ONLY_TABLES = ("audit_entries", "audit_checkpoints")


def _quote(connection: Connection, name: str) -> str:
    return connection.dialect.identifier_preparer.quote(name)


def grant_application_role(connection: Connection, role: str) -> None:
    """Give ``role`` what the hub needs and nothing that could rewrite the audit log."""
    if connection.dialect.name != "postgresql":
        return  # SQLite has no roles; its triggers are the guard
    quoted = _quote(connection, role)
    import governance.models  # noqa: F401  (every table on Base.metadata)

    for table in Base.metadata.sorted_tables:
        name = _quote(connection, table.name)
        if table.name in APPEND_ONLY_TABLES:
            connection.execute(text(f"GRANT SELECT, INSERT ON {name} TO {quoted}"))
            connection.execute(text(f"REVOKE UPDATE, DELETE, TRUNCATE ON {name} FROM {quoted}"))
        else:
            connection.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {name} TO {quoted}"))
    connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {quoted}"))
