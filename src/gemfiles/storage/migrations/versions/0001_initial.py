"""Files, upload sessions, project usage, API keys and the blob collection queue.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("project", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("display_name", sa.Text, nullable=True),
        sa.Column("mime_type", sa.String(255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256_hex", sa.String(64), nullable=False),
        sa.Column("create_us", sa.BigInteger, nullable=False),
        sa.Column("update_us", sa.BigInteger, nullable=False),
        sa.Column("expire_us", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("error_json", sa.Text, nullable=True),
        sa.Column("facts_json", sa.Text, nullable=True),
        sa.Column("blob_key", sa.String(255), nullable=False),
        sa.Column("probe_due", sa.Boolean, nullable=False),
        sa.Column("lease_until", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_files_project_created", "files", ["project", "create_us", "id"])
    op.create_index("ix_files_expire", "files", ["expire_us"])
    op.create_index("ix_files_probe_due", "files", ["probe_due"])
    op.create_table(
        "upload_sessions",
        sa.Column("token_digest", sa.String(64), primary_key=True),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("file_id", sa.String(40), nullable=False),
        sa.Column("mime_type", sa.String(255), nullable=False),
        sa.Column("display_name", sa.Text, nullable=True),
        sa.Column("declared_size", sa.BigInteger, nullable=True),
        sa.Column("reserved_bytes", sa.BigInteger, nullable=False),
        sa.Column("received", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("create_us", sa.BigInteger, nullable=False),
        sa.Column("expire_us", sa.BigInteger, nullable=False),
        sa.Column("blob_state", sa.Text, nullable=False),
        sa.Column("parts", sa.Text, nullable=False),
        sa.Column("next_part", sa.Integer, nullable=False),
        sa.Column("hash_state", sa.LargeBinary, nullable=True),
        sa.Column("result_error", sa.Text, nullable=True),
    )
    op.create_index("ix_upload_sessions_expire", "upload_sessions", ["expire_us"])
    op.create_table(
        "project_usage",
        sa.Column("project", sa.String(64), primary_key=True),
        sa.Column("used_bytes", sa.BigInteger, nullable=False),
        sa.Column("reserved_bytes", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("create_us", sa.BigInteger, nullable=False),
        sa.Column("revoked_us", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "blob_gc",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("create_us", sa.BigInteger, nullable=False),
        sa.Column("lease_until", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    for table in ("blob_gc", "api_keys", "project_usage", "upload_sessions", "files"):
        op.drop_table(table)
