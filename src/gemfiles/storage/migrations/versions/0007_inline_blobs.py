"""The bytes of small files kept in the database, written with their file's row (storage/inline.py).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inline_blobs",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("create_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("inline_blobs")
