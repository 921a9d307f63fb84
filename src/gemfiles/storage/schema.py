"""The tables, in SQLAlchemy Core, shared by SQLite and PostgreSQL. Changes go through Alembic migrations.

Times are integer microseconds since the epoch (UTC): portable, exact and cheap to compare.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

files = Table(
    "files",
    metadata,
    Column("project", String(64), primary_key=True),
    Column("id", String(40), primary_key=True),
    Column("display_name", Text, nullable=True),
    Column("mime_type", String(255), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sha256_hex", String(64), nullable=False),
    Column("create_us", BigInteger, nullable=False),
    Column("update_us", BigInteger, nullable=False),
    Column("expire_us", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
    Column("source", String(16), nullable=False),
    Column("error_json", Text, nullable=True),
    Column("facts_json", Text, nullable=True),
    Column("blob_key", String(255), nullable=False),
    Column("probe_due", Boolean, nullable=False),
    Column("lease_until", BigInteger, nullable=True),
    Index("ix_files_project_created", "project", "create_us", "id"),
    Index("ix_files_expire", "expire_us"),
    Index("ix_files_probe_due", "probe_due"),
    Index("ix_files_blob_key", "blob_key"),  # migration 0006: the scrub's lookups
)

upload_sessions = Table(
    "upload_sessions",
    metadata,
    Column("token_digest", String(64), primary_key=True),
    Column("project", String(64), nullable=False),
    Column("file_id", String(40), nullable=False),
    Column("mime_type", String(255), nullable=False),
    Column("display_name", Text, nullable=True),
    Column("declared_size", BigInteger, nullable=True),
    Column("reserved_bytes", BigInteger, nullable=False),
    Column("received", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("create_us", BigInteger, nullable=False),
    Column("expire_us", BigInteger, nullable=False),
    Column("blob_state", Text, nullable=False),
    Column("parts", Text, nullable=False),
    Column("next_part", Integer, nullable=False),
    Column("hash_state", LargeBinary, nullable=True),
    Column("result_error", Text, nullable=True),
    Index("ix_upload_sessions_expire", "expire_us"),
)

project_usage = Table(
    "project_usage",
    metadata,
    Column("project", String(64), primary_key=True),
    Column("used_bytes", BigInteger, nullable=False),
    Column("reserved_bytes", BigInteger, nullable=False),
    # The project's own quota (migration 0005); NULL: the server's default.
    Column("quota_bytes", BigInteger, nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_hash", String(64), primary_key=True),
    Column("project", String(64), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("create_us", BigInteger, nullable=False),
    Column("revoked_us", BigInteger, nullable=True),
)

blob_gc = Table(
    "blob_gc",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("key", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("create_us", BigInteger, nullable=False),
    Column("lease_until", BigInteger, nullable=True),
)

# Stored interactions (migration 0002); read and written by storage/interactions.py.
interactions = Table(
    "interactions",
    metadata,
    Column("project", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("model", String(255), nullable=False),
    Column("status", String(32), nullable=False),
    Column("previous_id", String(64), nullable=True),
    Column("create_us", BigInteger, nullable=False),
    Column("update_us", BigInteger, nullable=False),
    Column("expire_us", BigInteger, nullable=False),
    Column("body_json", Text, nullable=False),
    Index("ix_interactions_expire", "expire_us"),
)

# Batch jobs (migration 0003); read and written by storage/batches.py.
batches = Table(
    "batches",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("project", String(64), nullable=False),
    Column("model", String(255), nullable=False),
    Column("display_name", Text, nullable=True),
    Column("state", String(32), nullable=False),
    Column("create_us", BigInteger, nullable=False),
    Column("update_us", BigInteger, nullable=False),
    Column("end_us", BigInteger, nullable=True),
    Column("input_key", String(255), nullable=False),
    Column("input_file", String(64), nullable=True),
    Column("request_count", BigInteger, nullable=False),
    Column("succeeded", BigInteger, nullable=False),
    Column("failed", BigInteger, nullable=False),
    Column("done_lines", BigInteger, nullable=False),
    Column("done_offset", BigInteger, nullable=False),
    Column("output_file", String(64), nullable=True),
    Column("error_json", Text, nullable=True),
    Column("lease_until", BigInteger, nullable=True),
    Index("ix_batches_project_created", "project", "create_us", "id"),
    Index("ix_batches_state", "state"),
    Index("ix_batches_input_key", "input_key"),  # migration 0006
)

batch_results = Table(
    "batch_results",
    metadata,
    Column("batch_id", String(64), primary_key=True),
    Column("idx", BigInteger, primary_key=True),
    Column("key", Text, nullable=True),
    Column("ok", Boolean, nullable=False),
    Column("body_json", Text, nullable=False),
)

batch_holds = Table(
    "batch_holds",
    metadata,
    Column("project", String(64), primary_key=True),
    Column("hold", String(16), nullable=False),
    Column("after_lines", BigInteger, nullable=False),
)

# Cached contents (migration 0004); read and written by storage/caches.py.
cached_contents = Table(
    "cached_contents",
    metadata,
    Column("project", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("model", String(255), nullable=False),
    Column("display_name", Text, nullable=True),
    Column("create_us", BigInteger, nullable=False),
    Column("update_us", BigInteger, nullable=False),
    Column("expire_us", BigInteger, nullable=False),
    Column("total_tokens", BigInteger, nullable=False),
    Column("body_json", Text, nullable=False),
    Index("ix_cached_contents_project_created", "project", "create_us", "id"),
    Index("ix_cached_contents_expire", "expire_us"),
)

# The bytes of small files, kept in the database with their file's row (migration 0007; storage/inline.py):
# written in the transaction that records the file, deleted by the collection of its blob key.
inline_blobs = Table(
    "inline_blobs",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("create_us", BigInteger, nullable=False),
)
