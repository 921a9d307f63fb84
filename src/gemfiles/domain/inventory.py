"""What the console shows an operator: a project's files, the uploads in progress across every project, the
newest batch jobs, and a file's preview (made by the ``Previewer``, never decoded here)."""

from __future__ import annotations

from gemfiles.domain.batches import BatchJob
from gemfiles.domain.clock import Clock
from gemfiles.domain.files import FileService
from gemfiles.domain.models import FileRecord, Page, UploadSession
from gemfiles.domain.ports import BatchStore, MetadataStore, Preview, Previewer
from gemfiles.domain.projects import check_project
from gemfiles.errors import NotFound

UPLOADS_SHOWN = 100
BATCHES_SHOWN = 50


class Inventory:
    def __init__(
        self,
        meta: MetadataStore,
        files: FileService,
        clock: Clock,
        previewer: Previewer | None = None,
        batches: BatchStore | None = None,
    ) -> None:
        self.meta = meta
        self._files = files
        self.clock = clock
        self.previewer = previewer
        self._batches = batches

    async def files(self, project: str, page_size: int | None, page_token: str | None) -> Page:
        return await self._files.list(check_project(project), page_size, page_token)

    async def file(self, project: str, file_id: str) -> FileRecord:
        return await self._files.get(check_project(project), file_id)

    def has_preview(self, record: FileRecord) -> bool:
        return self.previewer is not None and self.previewer.can_preview(record.mime_type)

    async def preview(self, project: str, file_id: str) -> Preview:
        record = await self.file(project, file_id)
        found = await self.previewer.preview(record) if self.previewer and self.has_preview(record) else None
        if found is None:
            raise NotFound(f"files/{file_id} has no preview.")
        return found

    async def uploads(self, limit: int = UPLOADS_SHOWN) -> list[UploadSession]:
        return await self.meta.sessions_in_progress(self.clock.now(), limit)

    async def batches(self, limit: int = BATCHES_SHOWN) -> list[BatchJob]:
        """The newest jobs of every project (none without a batch store)."""
        return await self._batches.recent_batches(limit) if self._batches is not None else []
