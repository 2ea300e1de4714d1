"""Audit checkpoints cover a range of entries and list their hashes; the head row
remembers the last checkpoint so the writer can make the next one when it is due.

Plain ``ADD COLUMN`` on both backends (no table rebuild, so the append-only triggers
stay in place).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from governance.timestamps import UtcDateTime

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("audit_checkpoints", sa.Column("first_seq", SEQ, nullable=True))
    op.add_column("audit_checkpoints", sa.Column("hashes", sa.LargeBinary(), nullable=True))
    op.add_column(
        "audit_head", sa.Column("checkpoint_seq", SEQ, nullable=False, server_default="0")
    )
    op.add_column("audit_head", sa.Column("checkpoint_at", UtcDateTime(), nullable=True))
    op.execute(
        "UPDATE audit_head SET "
        "checkpoint_seq = COALESCE((SELECT MAX(seq) FROM audit_checkpoints), 0), "
        "checkpoint_at = (SELECT MAX(at) FROM audit_checkpoints)"
    )


def downgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("checkpoint_at")
        batch_op.drop_column("checkpoint_seq")
    # A plain DROP COLUMN (SQLite 3.35+): a batch rebuild would lose the append-only
    # triggers of the table.
    op.execute("ALTER TABLE audit_checkpoints DROP COLUMN hashes")
    op.execute("ALTER TABLE audit_checkpoints DROP COLUMN first_seq")
