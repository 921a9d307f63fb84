"""The domain's ports: every adapter (storage, model backends, probers, sniffers) implements one of these.

The domain owns them and depends on nothing outside itself; adapters are chosen by URL or name in the
composition root (``gemfiles.app``). One module per noun: ``storage`` (metadata, blobs, interactions, and
the errors the stores raise), ``models`` (model backends), ``media`` (prober, type sniffer), ``batches``,
``caches`` and ``telemetry``. Import them from here: ``from gemfiles.domain.ports import MetadataStore``.
"""

from __future__ import annotations

from gemfiles.domain.ports.batches import BatchStore
from gemfiles.domain.ports.caches import CacheStore
from gemfiles.domain.ports.media import Preview, Previewer, Prober, ProbeResult, TypeSniffer
from gemfiles.domain.ports.models import BackendFactory, ModelBackend
from gemfiles.domain.ports.storage import (
    ApiKeyRecord,
    BlobStore,
    BlobStoreError,
    GcItem,
    InteractionStore,
    MetadataStore,
    NameTaken,
    PartNumbers,
    PartUnreadable,
    QuotaRefused,
    SessionGone,
    StorageError,
    StoredBlob,
    StoreUnavailable,
    inline_key,
    is_inline,
)
from gemfiles.domain.ports.telemetry import NoTelemetry, Telemetry

__all__ = [
    "ApiKeyRecord",
    "BackendFactory",
    "BatchStore",
    "BlobStore",
    "BlobStoreError",
    "CacheStore",
    "GcItem",
    "InteractionStore",
    "MetadataStore",
    "ModelBackend",
    "NameTaken",
    "NoTelemetry",
    "PartNumbers",
    "PartUnreadable",
    "Preview",
    "Previewer",
    "ProbeResult",
    "Prober",
    "QuotaRefused",
    "SessionGone",
    "StorageError",
    "StoreUnavailable",
    "StoredBlob",
    "Telemetry",
    "TypeSniffer",
    "inline_key",
    "is_inline",
]
