"""The generation service and interactions, called directly: routing, streams, the interaction timeline.

On the real SQLite store (files and interactions), with the inspect backend and small scripted backends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from gemfiles.backends.inspect import InspectBackend
from gemfiles.domain.calls import Draft, Finished, ModelRequest, OutputEvent, TextDelta, Usage
from gemfiles.domain.clock import ManualClock
from gemfiles.domain.contents import ContentResolver
from gemfiles.domain.conversations import InteractionCall, InteractionService
from gemfiles.domain.files import FileService
from gemfiles.domain.generation import Call, GenerationService
from gemfiles.domain.ports import ModelBackend
from gemfiles.domain.routing import ModelRouter
from gemfiles.errors import FailedPrecondition, NotFound, Unavailable
from gemfiles.storage.interactions import SqlInteractionStore
from gemfiles.storage.localdisk import LocalBlobStore
from gemfiles.storage.sql import SqlMetadataStore


class Scripted:
    """Yields ``texts`` then Finished, or raises ``error`` after ``fail_after`` texts; records closes."""

    def __init__(self, texts: list[str], error: Exception | None = None, fail_after: int = 0) -> None:
        self.texts = texts
        self.error = error
        self.fail_after = fail_after
        self.closed_streams = 0
        self.closed = False

    async def generate(self, request: ModelRequest) -> AsyncIterator[OutputEvent]:
        try:
            for index, text in enumerate(self.texts):
                if self.error is not None and index == self.fail_after:
                    raise self.error
                yield TextDelta(text)
            if self.error is not None:
                raise self.error
            yield Finished(Usage(3, len(self.texts)))
        finally:
            self.closed_streams += 1

    async def count_tokens(self, request: ModelRequest) -> Usage:
        return Usage(7, 0)

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
async def meta(tmp_path: Path) -> AsyncIterator[SqlMetadataStore]:
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    await store.migrate()
    yield store
    await store.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def service(
    meta: SqlMetadataStore, tmp_path: Path, clock: ManualClock, **backends: ModelBackend
) -> GenerationService:
    table = [(name, name) for name in backends] + [("*", "inspect")]
    router = ModelRouter(table, {**backends, "inspect": InspectBackend()})
    files = FileService(meta, LocalBlobStore(tmp_path / "blobs"), clock)
    return GenerationService(router, ContentResolver(files))


def interactions(
    meta: SqlMetadataStore, generation: GenerationService, clock: ManualClock
) -> InteractionService:
    return InteractionService(generation, SqlInteractionStore(meta), clock, timedelta(days=1), 1 << 20)


def ask(model: str, text: str = "hi") -> Call:
    return Call(model, [Draft("user", [text])])


def said(text: str) -> list[dict[str, object]]:
    return [{"type": "user_input", "content": [{"type": "text", "text": text}]}]


async def test_generate_answers_with_the_backend_the_table_routes_to(
    meta: SqlMetadataStore, tmp_path: Path, clock: ManualClock
) -> None:
    generation = service(meta, tmp_path, clock, echo=Scripted(["a", "b"]))
    answer = await generation.generate("p1", ask("echo"))
    assert (answer.text, answer.finished.usage) == ("ab", Usage(3, 2))
    inspected = await generation.generate("p1", ask("gemini-2.5-flash"))
    assert inspected.finished.model_version == "gemini-2.5-flash"
    assert (await generation.count_tokens("p1", ask("echo"))).input_tokens == 7


async def test_generate_refuses_a_model_no_route_matches(
    meta: SqlMetadataStore, tmp_path: Path, clock: ManualClock
) -> None:
    files = FileService(meta, LocalBlobStore(tmp_path / "blobs"), clock)
    generation = GenerationService(
        ModelRouter([("gemini-*", "inspect")], {"inspect": InspectBackend()}), ContentResolver(files)
    )
    assert generation.route("gpt-4o") is None
    with pytest.raises(NotFound):
        await generation.generate("p1", ask("gpt-4o"))


async def test_stream_raises_an_error_before_the_first_event_at_once(
    meta: SqlMetadataStore, tmp_path: Path, clock: ManualClock
) -> None:
    down = Scripted(["never"], Unavailable("down"), fail_after=0)
    generation = service(meta, tmp_path, clock, down=down)
    with pytest.raises(Unavailable):
        await generation.stream("p1", ask("down"))
    assert down.closed_streams == 1


async def test_stream_closed_early_closes_the_backend_stream(
    meta: SqlMetadataStore, tmp_path: Path, clock: ManualClock
) -> None:
    backend = Scripted(["a", "b", "c"])
    events = await service(meta, tmp_path, clock, slow=backend).stream("p1", ask("slow"))
    assert await anext(events) == TextDelta("a")
    await events.aclose()
    assert backend.closed_streams == 1


async def test_create_interaction_stores_it_and_a_later_one_continues_the_conversation(
    meta: SqlMetadataStore, tmp_path: Path, clock: ManualClock
) -> None:
    chats = interactions(meta, service(meta, tmp_path, clock), clock)
    first = await chats.create("p1", InteractionCall("gemini-2.5-flash", said("Hello")))
    assert first.status == "completed" and first.steps[-1]["type"] == "model_output"
    assert (await chats.get("p1", first.id)).steps == first.steps
    second = await chats.create(
        "p1", InteractionCall("gemini-2.5-flash", said("Again"), previous_id=first.id)
    )
    report = second.steps[-1]["content"][0]["text"]
    assert "Turn 1 (user)" in report and "Turn 3 (user)" in report  # Hello, the answer, Again
    with pytest.raises(NotFound):
        await chats.get("p2", first.id)  # another project's interaction is not there


async def test_create_interaction_with_store_false_keeps_nothing(
    meta: SqlMetadataStore, tmp_path: Path, clock: ManualClock
) -> None:
    chats = interactions(meta, service(meta, tmp_path, clock), clock)
    record = await chats.create("p1", InteractionCall("gemini-2.5-flash", said("Hi"), store=False))
    with pytest.raises(NotFound):
        await chats.get("p1", record.id)


async def test_streamed_interaction_is_stored_in_progress_then_completed(
    meta: SqlMetadataStore, tmp_path: Path, clock: ManualClock
) -> None:
    chats = interactions(meta, service(meta, tmp_path, clock, echo=Scripted(["a", "b"])), clock)
    stream = await chats.stream("p1", InteractionCall("echo", said("Hi")))
    assert (await chats.get("p1", stream.record.id)).status == "in_progress"
    assert [delta.text async for delta in stream.events] == ["a", "b"]
    stored = await chats.get("p1", stream.record.id)
    assert stored.status == "completed" and stored.usage["total_tokens"] == 5


async def test_streamed_interaction_left_early_is_stored_cancelled(
    meta: SqlMetadataStore, tmp_path: Path, clock: ManualClock
) -> None:
    chats = interactions(meta, service(meta, tmp_path, clock, echo=Scripted(["a", "b"])), clock)
    stream = await chats.stream("p1", InteractionCall("echo", said("Hi")))
    await anext(stream.events)
    await stream.events.aclose()
    assert (await chats.get("p1", stream.record.id)).status == "cancelled"


async def test_streamed_interaction_whose_backend_fails_is_stored_failed(
    meta: SqlMetadataStore, tmp_path: Path, clock: ManualClock
) -> None:
    broken = Scripted(["a", "b"], Unavailable("gone"), fail_after=1)
    chats = interactions(meta, service(meta, tmp_path, clock, broken=broken), clock)
    stream = await chats.stream("p1", InteractionCall("broken", said("Hi")))
    with pytest.raises(Unavailable):
        async for _ in stream.events:
            pass
    assert (await chats.get("p1", stream.record.id)).status == "failed"


async def test_cancel_refuses_a_final_interaction(
    meta: SqlMetadataStore, tmp_path: Path, clock: ManualClock
) -> None:
    chats = interactions(meta, service(meta, tmp_path, clock), clock)
    record = await chats.create("p1", InteractionCall("gemini-2.5-flash", said("Hi")))
    with pytest.raises(FailedPrecondition, match="completed"):
        await chats.cancel("p1", record.id)


async def test_sweep_deletes_expired_interactions(
    meta: SqlMetadataStore, tmp_path: Path, clock: ManualClock
) -> None:
    chats = interactions(meta, service(meta, tmp_path, clock), clock)
    record = await chats.create("p1", InteractionCall("gemini-2.5-flash", said("Hi")))
    assert await chats.sweep_expired() == 0
    clock.advance(timedelta(days=2))
    assert await chats.sweep_expired() == 1
    with pytest.raises(NotFound):
        await chats.delete("p1", record.id)


async def test_closing_the_service_closes_every_backend(
    meta: SqlMetadataStore, tmp_path: Path, clock: ManualClock
) -> None:
    backend = Scripted([])
    await service(meta, tmp_path, clock, echo=backend).close()
    assert backend.closed
