"""the loop: sales feedback and its reasons, outcomes, scores as they were, alerts

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DEFAULT_REASONS = [
    ("bad fit", False),
    ("no budget", False),
    ("wrong contact", False),
    ("already a customer", False),
    ("spam", False),
    ("other", True),
]


def upgrade() -> None:
    reasons = op.create_table(
        "feedback_reasons",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("needs_note", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.bulk_insert(
        reasons,
        [
            {"name": n, "position": i, "needs_note": note}
            for i, (n, note) in enumerate(DEFAULT_REASONS)
        ],
    )
    op.create_table(
        "feedback",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("lead_id", sa.String(length=256), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=200), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("grade", sa.String(length=200), nullable=True),
        sa.Column("stage", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_feedback_lead", "feedback", ["lead_id", "id"])
    op.create_index("ix_feedback_model_at", "feedback", ["model", "at"])
    op.create_table(
        "outcomes",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("lead_id", sa.String(length=256), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ux_outcomes", "outcomes", ["lead_id", "outcome", "at"], unique=True)
    op.create_index("ix_outcomes_at", "outcomes", ["at"])
    op.create_table(
        "score_snapshots",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("lead_id", sa.String(length=256), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("fit_score", sa.Float(), nullable=False),
        sa.Column("engagement_score", sa.Float(), nullable=False),
        sa.Column("grade", sa.String(length=200), nullable=True),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("probability", sa.Float(), nullable=True),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_snapshots_model_kind_at", "score_snapshots", ["model", "kind", "at"])
    op.create_index("ix_snapshots_lead", "score_snapshots", ["lead_id", "model"])
    op.create_table(
        "model_alerts",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ux_model_alerts", "model_alerts", ["model", "version", "kind"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_model_alerts", table_name="model_alerts")
    op.drop_table("model_alerts")
    op.drop_index("ix_snapshots_lead", table_name="score_snapshots")
    op.drop_index("ix_snapshots_model_kind_at", table_name="score_snapshots")
    op.drop_table("score_snapshots")
    op.drop_index("ix_outcomes_at", table_name="outcomes")
    op.drop_index("ux_outcomes", table_name="outcomes")
    op.drop_table("outcomes")
    op.drop_index("ix_feedback_model_at", table_name="feedback")
    op.drop_index("ix_feedback_lead", table_name="feedback")
    op.drop_table("feedback")
    op.drop_table("feedback_reasons")
