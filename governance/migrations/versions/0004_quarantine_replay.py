"""Quarantine rows remember their content digest (one row per redelivered message) and
their replays (state, attempts, outcome); never deleted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from governance.timestamps import UtcDateTime

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ingest_quarantine", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_digest", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("state", sa.String(length=16), nullable=False, server_default="quarantined")
        )
        batch_op.add_column(sa.Column("replays", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("replayed_at", UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("replay_outcome", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("first_reason_code", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("snapshot_id", sa.String(length=32), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_ingest_quarantine_origin"),
            ["topic", "partition", "offset"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_ingest_quarantine_state"), ["state"], unique=False)
        batch_op.create_index(batch_op.f("ix_ingest_quarantine_agency"), ["agency"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ingest_quarantine", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_quarantine_agency"))
        batch_op.drop_index(batch_op.f("ix_ingest_quarantine_state"))
        batch_op.drop_index(batch_op.f("ix_ingest_quarantine_origin"))
        for name in (
            "snapshot_id",
            "first_reason_code",
            "replay_outcome",
            "replayed_at",
            "replays",
            "state",
            "content_digest",
        ):
            batch_op.drop_column(name)
