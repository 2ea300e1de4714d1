"""Agreement notices: one row per superseded agreement version, written when the newer
version is activated and marked sent once the hub has published it to the provider's
receipts topic (a transactional outbox).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from governance.timestamps import UtcDateTime

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agreement_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agency", sa.String(length=32), nullable=False),
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("superseded_version", sa.Integer(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency"], ["agencies.code"], name=op.f("fk_agreement_notices_agency_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id", "superseded_version"],
            ["agreements.id", "agreements.version"],
            name="fk_agreement_notices_superseded",
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id", "current_version"],
            ["agreements.id", "agreements.version"],
            name="fk_agreement_notices_current",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_notices")),
        sa.UniqueConstraint(
            "agreement_id",
            "superseded_version",
            "current_version",
            name="uq_agreement_notices_versions",
        ),
    )
    with op.batch_alter_table("agreement_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agreement_notices_sent_at"), ["sent_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("agreement_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreement_notices_sent_at"))
    op.drop_table("agreement_notices")
