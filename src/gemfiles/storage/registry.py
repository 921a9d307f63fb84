"""Backends chosen by URL scheme: ``sqlite://``/``postgresql://`` for metadata, ``file://``/``s3://`` for bytes.

``memory://name`` opens the in-memory twin of either (storage/memory.py), for tests. ``inline+<blob URL>#<SQLite
file>`` is a blob store whose small objects are kept in that database (storage/inline.py).
"""

from __future__ import annotations

from gemfiles.domain.ports import BlobStore, MetadataStore


def open_metadata_store(url: str) -> MetadataStore:
    scheme = url.split(":", 1)[0].split("+", 1)[0]
    if scheme == "memory":
        from gemfiles.storage.memory import MemoryMetadataStore

        return MemoryMetadataStore.from_url(url)
    if scheme in ("sqlite", "postgresql", "postgres"):
        from gemfiles.storage.sql import SqlMetadataStore

        return SqlMetadataStore.from_url(url)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///path or postgresql://...")


def open_blob_store(url: str) -> BlobStore:
    if url.startswith("inline+"):
        from gemfiles.storage.inline import InlineBlobStore, split_url

        inner_url, database = split_url(url)
        return InlineBlobStore(open_blob_store(inner_url), database)
    scheme = url.split(":", 1)[0]
    if scheme == "memory":
        from gemfiles.storage.memory import MemoryBlobStore

        return MemoryBlobStore.from_url(url)
    if scheme == "file":
        from gemfiles.storage.localdisk import LocalBlobStore

        return LocalBlobStore.from_url(url)
    if scheme == "s3":
        from gemfiles.storage.s3 import S3BlobStore

        return S3BlobStore.from_url(url)
    raise ValueError(f"unsupported blob URL {url!r}: use file:///path or s3://bucket/prefix")
