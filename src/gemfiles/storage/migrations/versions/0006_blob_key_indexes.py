"""Indexes for the scrub of orphan bytes (domain/scrub.py): which files and batch jobs name a blob key.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_files_blob_key", "files", ["blob_key"])
    op.create_index("ix_batches_input_key", "batches", ["input_key"])


def downgrade() -> None:
    op.drop_index("ix_batches_input_key", "batches")
    op.drop_index("ix_files_blob_key", "files")
