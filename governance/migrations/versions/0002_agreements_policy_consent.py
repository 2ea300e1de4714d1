"""Agreements (versions, signatures, transitions, deliveries), research projects and
the consent registry (append-only, like the audit log).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from governance.timestamps import UtcDateTime

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agreement_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(length=100), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("batch_id", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_deliveries")),
    )
    with op.batch_alter_table("agreement_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_agreement_deliveries_lookup", ["agreement_id", "dataset", "at"], unique=False
        )

    op.create_table(
        "research_projects",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("purposes", sa.String(length=200), nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=False),
        sa.Column("approved_at", UtcDateTime(), nullable=False),
        sa.Column("valid_until", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_research_projects")),
    )
    op.create_table(
        "agreements",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider"], ["agencies.code"], name=op.f("fk_agreements_provider_agencies")
        ),
        sa.PrimaryKeyConstraint("id", "version", name=op.f("pk_agreements")),
    )
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agreements_provider"), ["provider"], unique=False)
        batch_op.create_index(batch_op.f("ix_agreements_state"), ["state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_agreements_valid_until"), ["valid_until"], unique=False
        )

    op.create_table(
        "consent_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_token", sa.LargeBinary(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("agency", sa.String(length=32), nullable=False),
        sa.Column("notice_version", sa.String(length=64), nullable=False),
        sa.Column("effective_at", UtcDateTime(), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency"], ["agencies.code"], name=op.f("fk_consent_events_agency_agencies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_events")),
    )
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consent_events_person", ["person_token", "purpose", "id"], unique=False
        )
        batch_op.create_index(
            "ix_consent_events_purpose_state", ["purpose", "state", "effective_at"], unique=False
        )

    op.create_table(
        "agreement_signatures",
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("agency", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=100), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("signed_at", UtcDateTime(), nullable=False),
        sa.Column("signed_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency"], ["agencies.code"], name=op.f("fk_agreement_signatures_agency_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id", "version"],
            ["agreements.id", "agreements.version"],
            name="fk_agreement_signatures_agreement",
        ),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["agency_keys.key_id"],
            name=op.f("fk_agreement_signatures_key_id_agency_keys"),
        ),
        sa.PrimaryKeyConstraint(
            "agreement_id", "version", "agency", name=op.f("pk_agreement_signatures")
        ),
    )
    _consent_append_only()
    op.create_table(
        "agreement_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agreement_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=False),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id", "version"],
            ["agreements.id", "agreements.version"],
            name="fk_agreement_transitions_agreement",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agreement_transitions")),
    )


def _consent_append_only() -> None:
    """Consent history is never overwritten: a withdrawal is a new row."""
    if op.get_bind().dialect.name == "postgresql":
        # audit_append_only() is defined by migration 0001.
        op.execute(
            "CREATE TRIGGER consent_events_append_only BEFORE UPDATE OR DELETE ON consent_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER consent_events_no_{operation.lower()} BEFORE {operation} "
                f"ON consent_events BEGIN SELECT RAISE(ABORT, 'consent history is append-only: "
                f"{operation} refused'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS consent_events_append_only ON consent_events")
    op.drop_table("agreement_transitions")
    op.drop_table("agreement_signatures")
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_events_purpose_state")
        batch_op.drop_index("ix_consent_events_person")

    op.drop_table("consent_events")
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreements_valid_until"))
        batch_op.drop_index(batch_op.f("ix_agreements_state"))
        batch_op.drop_index(batch_op.f("ix_agreements_provider"))

    op.drop_table("agreements")
    op.drop_table("research_projects")
    with op.batch_alter_table("agreement_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_agreement_deliveries_lookup")

    op.drop_table("agreement_deliveries")
