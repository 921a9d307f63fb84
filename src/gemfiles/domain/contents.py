"""Resolving what a model call refers to: drafts (``domain.calls``) into messages with their files resolved.

A file reference is resolved by its ``uri`` (any host or API version: the ``files/{id}`` at the end of the
path is what counts) or by its name ``files/{id}``. It must be the caller's, unexpired and ACTIVE.
Resolution reads metadata only: a file's bytes are opened by a backend when, and only if, it needs them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Awaitable
from typing import Any
from urllib.parse import unquote, urlsplit

from gemfiles.domain.calls import (
    Draft,
    FileRef,
    FunctionCall,
    FunctionResponse,
    InlineData,
    Message,
    Part,
    ResolvedFile,
)
from gemfiles.domain.files import FileService
from gemfiles.domain.mime import file_kind, is_untyped
from gemfiles.domain.models import FileState
from gemfiles.domain.ports import Prober
from gemfiles.errors import FailedPrecondition, InvalidArgument

log = logging.getLogger("gemfiles.models")

_FILE_AT_END = re.compile(r"(?:^|/)files/([a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?)$")


def file_id_of(uri: str) -> str:
    """``https://host/v1beta/files/abc``, ``/files/abc`` or ``files/abc`` -> ``abc``."""
    text = uri.strip() if isinstance(uri, str) else ""
    path = text
    if "://" in text:
        parts = urlsplit(text)
        path = parts.path if parts.scheme in ("http", "https") else ""
    match = _FILE_AT_END.search(unquote(path).rstrip("/"))
    if not match:
        raise InvalidArgument(
            f"Invalid file uri {uri!r}: expected the uri of a file uploaded with the Files API "
            "(https://<host>/v1beta/files/<id>) or its name (files/<id>)."
        )
    return match.group(1)


class ContentResolver:
    """Turns drafts into the backend's resolved messages, enforcing who may use which file.

    With a ``prober``, a file the media worker has not probed yet (an image used right after upload, say)
    and inline data get their facts computed on demand; without one they resolve with the facts they have.
    """

    def __init__(self, files: FileService, prober: Prober | None = None) -> None:
        self.files = files
        self.prober = prober

    async def file(self, project: str, ref: FileRef) -> ResolvedFile:
        file_id = file_id_of(ref.uri)
        record = await self.files.get(project, file_id)  # foreign, missing, expired: 403 FileNotAccessible
        if is_untyped(record.mime_type):
            # Stored without a type its bytes could tell (mime.is_untyped): no model reads it, as on Google.
            raise InvalidArgument(f"Unsupported MIME type: {record.mime_type}")
        if record.state != FileState.ACTIVE:
            # Google's text for PROCESSING and FAILED files alike.
            raise FailedPrecondition(
                f"The File {file_id} is not in an ACTIVE state and usage is not allowed."
            )
        if record.facts is None and self.prober is not None:
            facts = await self._facts(self.prober.facts(record))
            record = dataclasses.replace(record, facts=facts)
        if record.facts and record.facts.get("probe_error") and file_kind(record.mime_type) == "audio":
            # Audio is ACTIVE before its probe (as on Google): bytes that do not decode fail the call.
            raise InvalidArgument(
                f"The File {file_id} could not be decoded as {record.mime_type}: {record.facts['probe_error']}."
            )
        return ResolvedFile(record, self.files.blobs)

    async def inline(self, data: InlineData) -> InlineData:
        if data.facts is not None or self.prober is None:
            return data
        facts = await self._facts(self.prober.inline(data.mime_type, data.data))
        return dataclasses.replace(data, facts=facts)

    async def resolve(self, project: str, drafts: list[Draft]) -> list[Message]:
        resolved: dict[str, ResolvedFile] = {}
        messages: list[Message] = []
        for draft in drafts:
            parts: list[Part] = []
            for item in draft.parts:
                if isinstance(item, str):
                    parts.append(Part("text", text=item))
                elif isinstance(item, FileRef):
                    key = file_id_of(item.uri)
                    if key not in resolved:
                        resolved[key] = await self.file(project, item)
                    parts.append(Part("file", file=resolved[key]))
                elif isinstance(item, FunctionCall):
                    parts.append(Part("function_call", function_call=item))
                elif isinstance(item, FunctionResponse):
                    parts.append(Part("function_response", function_response=item))
                else:
                    parts.append(Part("inline", inline=await self.inline(item)))
            messages.append(Message(draft.role, parts))
        return messages

    @staticmethod
    async def _facts(pending: Awaitable[dict[str, Any] | None]) -> dict[str, Any]:
        try:
            return dict(await pending or {})
        except asyncio.CancelledError:
            raise
        except Exception:  # facts are a courtesy: a file the probe cannot read is still usable
            log.warning("computing media facts failed", exc_info=True)
            return {}
