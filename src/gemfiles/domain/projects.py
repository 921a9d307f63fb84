"""Projects and API keys, as an operator manages them: usage, a project's own quota, keys made and revoked.

Used by the admin API (``/_internal/admin/...``) and by ``gemfiles projects|keys`` on the local store.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from gemfiles.domain.clock import Clock
from gemfiles.domain.models import ProjectUsage
from gemfiles.domain.ports import ApiKeyRecord, MetadataStore
from gemfiles.errors import InvalidArgument, NotFound

PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
KEY_PREFIX_LENGTH = 10


def key_hash(key: str) -> str:
    """How a key is stored and looked up: its SHA-256, never the key."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def open_project(key: str) -> str:
    """The project of a key in the ``open`` auth mode: each distinct key is its own project."""
    return "k" + key_hash(key)[:32]


def check_project(project: str) -> str:
    if not PROJECT_NAME.match(project or ""):
        raise InvalidArgument(
            "A project name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit."
        )
    return project


@dataclass(frozen=True, slots=True)
class NewKey:
    key: str  # shown once, never stored
    record: ApiKeyRecord


class ProjectAdmin:
    def __init__(self, meta: MetadataStore, clock: Clock, default_quota: int) -> None:
        self.meta = meta
        self.clock = clock
        self.default_quota = default_quota

    async def projects(self) -> list[ProjectUsage]:
        return await self.meta.list_projects(self.clock.now())

    async def usage(self, project: str) -> ProjectUsage:
        """A project's usage and quota, listed or not (a project nobody used has zero of everything)."""
        for row in await self.projects():
            if row.project == project:
                return row
        return await self.meta.get_usage(project)

    async def set_quota(self, project: str, quota_bytes: int | None) -> ProjectUsage:
        """Gives a project its own quota (None: the default again). Bytes already stored stay; uploads that
        would take the project past its quota are refused with 429."""
        check_project(project)
        if quota_bytes is not None and not 0 <= quota_bytes < 2**63:
            raise InvalidArgument("quotaBytes must be a non-negative number of bytes.")
        await self.meta.set_quota(project, quota_bytes)
        return await self.usage(project)

    async def create_key(self, project: str) -> NewKey:
        check_project(project)
        key = "gf-" + secrets.token_urlsafe(30)
        record = ApiKeyRecord(key_hash(key), project, key[:KEY_PREFIX_LENGTH], self.clock.now(), None)
        await self.meta.create_key(record.key_hash, project, record.prefix, record.create_time)
        return NewKey(key, record)

    async def keys(self) -> list[ApiKeyRecord]:
        return await self.meta.list_keys()

    async def revoke_key(self, prefix: str) -> int:
        """Revokes the key with this listed prefix (or hash); NotFound when there is no active one."""
        if not prefix:
            raise InvalidArgument("Name the key by its prefix.")
        count = await self.meta.revoke_key(prefix, self.clock.now())
        if not count:
            raise NotFound(f"No active key with prefix {prefix}.")
        return count
