"""What a request handler can reach: the settings and the domain services, built once by create_app."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gemfiles.domain.clock import Clock
from gemfiles.domain.files import FileService
from gemfiles.domain.ports import BlobStore, MetadataStore, Prober
from gemfiles.domain.uploads import UploadService
from gemfiles.domain.workers import Maintenance
from gemfiles.protocol.http import Authenticator
from gemfiles.settings import Settings


@dataclass
class Services:
    settings: Settings
    clock: Clock
    meta: MetadataStore
    blobs: BlobStore
    auth: Authenticator
    files: FileService
    uploads: UploadService
    maintenance: Maintenance
    prober: Prober
    ready: bool = False
    # Filled by later layers (model backends, interactions) without touching this module.
    extras: dict[str, Any] = field(default_factory=dict)
