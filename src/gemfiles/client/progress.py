"""Progress bars for uploads and downloads (bytes, rate, time left), on stderr; silent when not a terminal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from gemfiles.client.sources import UploadJob

if TYPE_CHECKING:
    from gemfiles.client.resumable import UploadResult


def make_progress(console: Console, *, disable: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}", table_column=None),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=disable,
        transient=False,
    )


def _short(label: str, width: int = 40) -> str:
    return label if len(label) <= width else "…" + label[-(width - 1) :]


class UploadBars:
    """One bar per upload in flight and one for the whole command; a line per finished file."""

    def __init__(self, progress: Progress, jobs: list[UploadJob], *, report_lines: bool) -> None:
        self.progress = progress
        self.report_lines = report_lines
        self.tasks: dict[int, TaskID] = {}
        self.done: dict[int, int] = {}
        total = sum(job.size for job in jobs)
        self.overall = progress.add_task(f"{len(jobs)} files", total=total) if len(jobs) > 1 else None

    def start(self, job: UploadJob, done: int) -> None:
        key = id(job)
        if key not in self.tasks:
            self.tasks[key] = self.progress.add_task(_short(job.label), total=job.size)
        self.rewind(job, done)

    def advance(self, job: UploadJob, size: int) -> None:
        key = id(job)
        self.done[key] = self.done.get(key, 0) + size
        self.progress.advance(self.tasks[key], size)
        if self.overall is not None:
            self.progress.advance(self.overall, size)

    def rewind(self, job: UploadJob, done: int) -> None:
        key = id(job)
        delta = done - self.done.get(key, 0)
        self.done[key] = done
        self.progress.update(self.tasks[key], completed=done)
        if self.overall is not None:
            self.progress.advance(self.overall, delta)

    def finish(self, job: UploadJob, result: UploadResult) -> None:
        key = id(job)
        if key in self.tasks:
            if result.file is not None and result.error is None:
                self.rewind(job, job.size)
            self.progress.update(self.tasks[key], visible=False)
        if not self.report_lines:
            return
        console = self.progress.console
        if result.interrupted:
            console.print(f"[yellow]interrupted[/yellow] {job.label}", highlight=False)
        elif result.error is not None:
            console.print(f"[red]failed[/red]      {job.label}: {result.error}", highlight=False)
        elif result.file is not None:
            resumed = f" (resumed at {result.resumed_from:,} bytes)" if result.resumed_from else ""
            checked = ", SHA-256 checked" if result.sha256_verified else ""
            console.print(
                f"[green]uploaded[/green]    {job.label} -> {result.file.get('name')}{resumed}{checked}",
                highlight=False,
            )
