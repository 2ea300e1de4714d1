"""Linkage: runs, person keys and their changes, the clerical review queue and the
reviewers' decisions (the links themselves are in the lake's silver tables).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from governance.timestamps import UtcDateTime

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "linkage_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.String(length=2000), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("model", sa.JSON(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("snapshots", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linkage_runs")),
    )
    with op.batch_alter_table("linkage_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_linkage_runs_state"), ["state"], unique=False)

    op.create_table(
        "linkage_review",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("left_source", sa.String(length=100), nullable=False),
        sa.Column("left_record", sa.String(length=64), nullable=False),
        sa.Column("right_source", sa.String(length=100), nullable=False),
        sa.Column("right_record", sa.String(length=64), nullable=False),
        sa.Column("match_weight", sa.Float(), nullable=False),
        sa.Column("match_probability", sa.Float(), nullable=False),
        sa.Column("pattern", sa.JSON(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["linkage_runs.id"], name=op.f("fk_linkage_review_run_id_linkage_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linkage_review")),
        sa.UniqueConstraint(
            "run_id",
            "left_source",
            "left_record",
            "right_source",
            "right_record",
            name=op.f("uq_linkage_review_run_id"),
        ),
    )
    with op.batch_alter_table("linkage_review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_linkage_review_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_linkage_review_state"), ["state"], unique=False)

    op.create_table(
        "person_key_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("other", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["linkage_runs.id"], name=op.f("fk_person_key_events_run_id_linkage_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_key_events")),
    )
    with op.batch_alter_table("person_key_events", schema=None) as batch_op:
        batch_op.create_index("ix_person_key_events_key", ["key", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_key_events_run_id"), ["run_id"], unique=False)

    op.create_table(
        "person_keys",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("issued_run", sa.Integer(), nullable=False),
        sa.Column("issued_at", UtcDateTime(), nullable=False),
        sa.Column("retired_run", sa.Integer(), nullable=True),
        sa.Column("forwards_to", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["issued_run"], ["linkage_runs.id"], name=op.f("fk_person_keys_issued_run_linkage_runs")
        ),
        sa.ForeignKeyConstraint(
            ["retired_run"],
            ["linkage_runs.id"],
            name=op.f("fk_person_keys_retired_run_linkage_runs"),
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_person_keys")),
    )
    with op.batch_alter_table("person_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_person_keys_forwards_to"), ["forwards_to"], unique=False
        )

    op.create_table(
        "linkage_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=True),
        sa.Column("left_source", sa.String(length=100), nullable=False),
        sa.Column("left_record", sa.String(length=64), nullable=False),
        sa.Column("right_source", sa.String(length=100), nullable=False),
        sa.Column("right_record", sa.String(length=64), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column("decided_at", UtcDateTime(), nullable=False),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["linkage_review.id"],
            name=op.f("fk_linkage_decisions_review_id_linkage_review"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linkage_decisions")),
    )
    with op.batch_alter_table("linkage_decisions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_linkage_decisions_pair",
            ["left_source", "left_record", "right_source", "right_record"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("linkage_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_linkage_decisions_pair")

    op.drop_table("linkage_decisions")
    with op.batch_alter_table("person_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_keys_forwards_to"))

    op.drop_table("person_keys")
    with op.batch_alter_table("person_key_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_key_events_run_id"))
        batch_op.drop_index("ix_person_key_events_key")

    op.drop_table("person_key_events")
    with op.batch_alter_table("linkage_review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_linkage_review_state"))
        batch_op.drop_index(batch_op.f("ix_linkage_review_run_id"))

    op.drop_table("linkage_review")
    with op.batch_alter_table("linkage_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_linkage_runs_state"))

    op.drop_table("linkage_runs")
