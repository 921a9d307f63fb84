"""Stored interactions (GET /interactions/{id}, previous_interaction_id).

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
    op.create_table(
        "interactions",
        sa.Column("project", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("previous_id", sa.String(64), nullable=True),
        sa.Column("create_us", sa.BigInteger, nullable=False),
        sa.Column("update_us", sa.BigInteger, nullable=False),
        sa.Column("expire_us", sa.BigInteger, nullable=False),
        sa.Column("body_json", sa.Text, nullable=False),
    )
    op.create_index("ix_interactions_expire", "interactions", ["expire_us"])


def downgrade() -> None:
    op.drop_index("ix_interactions_expire", table_name="interactions")
    op.drop_table("interactions")
