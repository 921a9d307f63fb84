"""The domain's store ports implemented: SQL (SQLite, PostgreSQL), local disk, S3 and memory, chosen by URL
scheme (see registry.py)."""
