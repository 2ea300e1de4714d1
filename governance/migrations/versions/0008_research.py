"""Research access: the people, projects from application to end, their members, the
reviewers' decisions, each project's sealed key, its extracts and the outputs submitted
to the airlock with their checkers' reviews.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from governance.timestamps import UtcDateTime

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "research_people",
        sa.Column("user", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("institution", sa.String(length=200), nullable=False),
        sa.Column("accreditation_expires", sa.Date(), nullable=True),
        sa.Column("registered_by", sa.String(length=200), nullable=False),
        sa.Column("registered_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user", name=op.f("pk_research_people")),
    )
    with op.batch_alter_table("research_projects", schema=None) as batch_op:
        batch_op.alter_column("approved_by", existing_type=sa.String(length=200), nullable=True)
        batch_op.alter_column("approved_at", existing_type=UtcDateTime(), nullable=True)
        batch_op.alter_column("valid_until", existing_type=UtcDateTime(), nullable=True)
        batch_op.add_column(
            sa.Column("state", sa.String(length=16), nullable=False, server_default="approved")
        )
        batch_op.add_column(
            sa.Column("applicant", sa.String(length=200), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("applied_at", UtcDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("application", sa.JSON(), nullable=False, server_default="{}")
        )
        batch_op.add_column(sa.Column("refusal", sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column("ended_at", UtcDateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_research_projects_state"), ["state"], unique=False)
    with op.batch_alter_table("research_projects", schema=None) as batch_op:
        batch_op.alter_column("state", server_default=None)
        batch_op.alter_column("applicant", server_default=None)
        batch_op.alter_column("application", server_default=None)

    op.create_table(
        "research_members",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("user", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("added_by", sa.String(length=200), nullable=False),
        sa.Column("added_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["research_projects.id"],
            name=op.f("fk_research_members_project_id_research_projects"),
        ),
        sa.PrimaryKeyConstraint("project_id", "user", name=op.f("pk_research_members")),
    )
    op.create_table(
        "research_decisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=220), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("agency", sa.String(length=32), nullable=True),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["research_projects.id"],
            name=op.f("fk_research_decisions_project_id_research_projects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_research_decisions")),
    )
    with op.batch_alter_table("research_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_research_decisions_project_id"), ["project_id"], unique=False
        )
    op.create_table(
        "research_project_keys",
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("destroyed_at", UtcDateTime(), nullable=True),
        sa.Column("kek_id", sa.String(length=16), nullable=False),
        sa.Column("wrap_nonce", sa.LargeBinary(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["research_projects.id"],
            name=op.f("fk_research_project_keys_project_id_research_projects"),
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_research_project_keys")),
    )
    op.create_table(
        "research_extracts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("built_by", sa.String(length=200), nullable=False),
        sa.Column("built_at", UtcDateTime(), nullable=False),
        sa.Column("folder", sa.String(length=300), nullable=False),
        sa.Column("manifest", sa.JSON(), nullable=False),
        sa.Column("signature", sa.String(length=200), nullable=False),
        sa.Column("signing_key_id", sa.String(length=100), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("k_achieved", sa.Integer(), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
        sa.Column("ended_by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["research_projects.id"],
            name=op.f("fk_research_extracts_project_id_research_projects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_research_extracts")),
    )
    with op.batch_alter_table("research_extracts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_research_extracts_project_id"), ["project_id"], unique=False
        )
    op.create_table(
        "research_outputs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("submitted_by", sa.String(length=200), nullable=False),
        sa.Column("submitted_at", UtcDateTime(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("layout", sa.JSON(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=False),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["research_projects.id"],
            name=op.f("fk_research_outputs_project_id_research_projects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_research_outputs")),
    )
    with op.batch_alter_table("research_outputs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_research_outputs_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_research_outputs_state"), ["state"], unique=False)
    op.create_table(
        "research_output_reviews",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("output_id", sa.Integer(), nullable=False),
        sa.Column("checker", sa.String(length=200), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["output_id"],
            ["research_outputs.id"],
            name=op.f("fk_research_output_reviews_output_id_research_outputs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_research_output_reviews")),
    )
    with op.batch_alter_table("research_output_reviews", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_research_output_reviews_output_id"), ["output_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("research_output_reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_research_output_reviews_output_id"))
    op.drop_table("research_output_reviews")
    with op.batch_alter_table("research_outputs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_research_outputs_state"))
        batch_op.drop_index(batch_op.f("ix_research_outputs_project_id"))
    op.drop_table("research_outputs")
    with op.batch_alter_table("research_extracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_research_extracts_project_id"))
    op.drop_table("research_extracts")
    op.drop_table("research_project_keys")
    with op.batch_alter_table("research_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_research_decisions_project_id"))
    op.drop_table("research_decisions")
    op.drop_table("research_members")
    with op.batch_alter_table("research_projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_research_projects_state"))
        for column in ("ended_at", "refusal", "application", "applied_at", "applicant", "state"):
            batch_op.drop_column(column)
        batch_op.alter_column("valid_until", existing_type=UtcDateTime(), nullable=False)
        batch_op.alter_column("approved_at", existing_type=UtcDateTime(), nullable=False)
        batch_op.alter_column("approved_by", existing_type=sa.String(length=200), nullable=False)
    op.drop_table("research_people")
