"""Indicator releases: each release built and published, with its lineage (lake
snapshots, linkage run, agreement versions per indicator) and its signed manifest.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from governance.timestamps import UtcDateTime

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "indicator_releases",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("built_at", UtcDateTime(), nullable=False),
        sa.Column("built_by", sa.String(length=200), nullable=False),
        sa.Column("published_at", UtcDateTime(), nullable=True),
        sa.Column("published_by", sa.String(length=200), nullable=True),
        sa.Column("snapshots", sa.JSON(), nullable=False),
        sa.Column("linkage_run", sa.Integer(), nullable=True),
        sa.Column("agreements", sa.JSON(), nullable=False),
        sa.Column("indicators", sa.JSON(), nullable=False),
        sa.Column("gold_snapshot", sa.BigInteger(), nullable=False),
        sa.Column("observations", sa.Integer(), nullable=False),
        sa.Column("withheld", sa.JSON(), nullable=False),
        sa.Column("folder", sa.String(length=300), nullable=True),
        sa.Column("manifest", sa.JSON(), nullable=True),
        sa.Column("signature", sa.String(length=200), nullable=True),
        sa.Column("signing_key_id", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_indicator_releases")),
    )
    with op.batch_alter_table("indicator_releases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_indicator_releases_state"), ["state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("indicator_releases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_indicator_releases_state"))
    op.drop_table("indicator_releases")
