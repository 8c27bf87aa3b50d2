"""leads keep their models' engagement state; the queue's index (stage and grade)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("engagement", sa.Text(), nullable=True))
    op.create_index(
        "ix_scores_model_stage_grade",
        "scores",
        ["model", "stage", "grade", "score", "lead_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_scores_model_stage_grade", table_name="scores")
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("engagement")
