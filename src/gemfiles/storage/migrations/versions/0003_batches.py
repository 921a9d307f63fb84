"""Batch jobs, their answers and the emulator's holds (the Batch API).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("display_name", sa.Text, nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("create_us", sa.BigInteger, nullable=False),
        sa.Column("update_us", sa.BigInteger, nullable=False),
        sa.Column("end_us", sa.BigInteger, nullable=True),
        sa.Column("input_key", sa.String(255), nullable=False),
        sa.Column("input_file", sa.String(64), nullable=True),
        sa.Column("request_count", sa.BigInteger, nullable=False),
        sa.Column("succeeded", sa.BigInteger, nullable=False),
        sa.Column("failed", sa.BigInteger, nullable=False),
        sa.Column("done_lines", sa.BigInteger, nullable=False),
        sa.Column("done_offset", sa.BigInteger, nullable=False),
        sa.Column("output_file", sa.String(64), nullable=True),
        sa.Column("error_json", sa.Text, nullable=True),
        sa.Column("lease_until", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_batches_project_created", "batches", ["project", "create_us", "id"])
    op.create_index("ix_batches_state", "batches", ["state"])
    op.create_table(
        "batch_results",
        sa.Column("batch_id", sa.String(64), primary_key=True),
        sa.Column("idx", sa.BigInteger, primary_key=True),
        sa.Column("key", sa.Text, nullable=True),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("body_json", sa.Text, nullable=False),
    )
    op.create_table(
        "batch_holds",
        sa.Column("project", sa.String(64), primary_key=True),
        sa.Column("hold", sa.String(16), nullable=False),
        sa.Column("after_lines", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("batch_holds")
    op.drop_table("batch_results")
    op.drop_index("ix_batches_state", table_name="batches")
    op.drop_index("ix_batches_project_created", table_name="batches")
    op.drop_table("batches")
