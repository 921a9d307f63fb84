"""Cached contents (context caching).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cached_contents",
        sa.Column("project", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("display_name", sa.Text, nullable=True),
        sa.Column("create_us", sa.BigInteger, nullable=False),
        sa.Column("update_us", sa.BigInteger, nullable=False),
        sa.Column("expire_us", sa.BigInteger, nullable=False),
        sa.Column("total_tokens", sa.BigInteger, nullable=False),
        sa.Column("body_json", sa.Text, nullable=False),
    )
    op.create_index("ix_cached_contents_project_created", "cached_contents", ["project", "create_us", "id"])
    op.create_index("ix_cached_contents_expire", "cached_contents", ["expire_us"])


def downgrade() -> None:
    op.drop_index("ix_cached_contents_expire", table_name="cached_contents")
    op.drop_index("ix_cached_contents_project_created", table_name="cached_contents")
    op.drop_table("cached_contents")
