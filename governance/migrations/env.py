"""Alembic environment: runs online against the engine handed in by governance.db."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Engine

import governance.models  # noqa: F401  (registers every table on Base.metadata)
from governance.db import Base

engine: Engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
