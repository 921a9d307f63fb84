"""A project's own quota (``gemfiles projects set-quota``, the admin API): NULL keeps the server's default.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("project_usage", sa.Column("quota_bytes", sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("project_usage") as batch:
        batch.drop_column("quota_bytes")
