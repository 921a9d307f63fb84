"""Interactions: model calls kept as a timeline, continued with ``previous_interaction_id``.

A new interaction's input steps follow the conversation so far (the chain of stored interactions its
``previous_interaction_id`` names, files resolved again, so an expired file is refused then as on first
use); the answer is appended as a ``model_output`` step and the record stored unless ``store`` is false.
A stream that ends early (client gone, backend failed) leaves its record final, never in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from gemfiles.domain.calls import (
    Draft,
    Finished,
    FunctionCall,
    FunctionCalled,
    FunctionCallingConfig,
    FunctionDeclaration,
    OutputEvent,
    ResponseFormat,
    TextDelta,
    Usage,
)
from gemfiles.domain.clock import Clock
from gemfiles.domain.generation import Call, GenerationService
from gemfiles.domain.interactions import FINAL_STATUSES, InteractionRecord, new_interaction_id
from gemfiles.domain.ports import InteractionStore
from gemfiles.domain.timeline import has_inline_data, public, steps_drafts, storable, usage_record
from gemfiles.errors import FailedPrecondition, NotFound

HISTORY_DEPTH = 100
SWEEP_BATCH = 500


@dataclass(slots=True)
class InteractionCall:
    """A new interaction as the client asked for it."""

    model: str
    steps: list[dict[str, Any]]  # the input as steps (``domain.timeline``)
    previous_id: str | None = None
    system_instruction: str | None = None
    generation_config: dict[str, Any] = field(default_factory=dict)
    # Request fields shown again on GET, as the client sent them (``input``, ``generation_config``).
    echo: dict[str, Any] = field(default_factory=dict)
    store: bool = True
    tools: tuple[FunctionDeclaration, ...] = ()
    tool_config: FunctionCallingConfig = field(default_factory=FunctionCallingConfig)
    response_format: ResponseFormat = field(default_factory=ResponseFormat)


@dataclass(slots=True)
class InteractionStream:
    """A streamed interaction: its record (in progress, then final) and the model's text and function
    calls as they come."""

    record: InteractionRecord
    events: AsyncGenerator[TextDelta | FunctionCalled, None]


class InteractionService:
    def __init__(
        self,
        generation: GenerationService,
        store: InteractionStore | None,
        clock: Clock,
        ttl: timedelta,
        max_inline_pdf_bytes: int,
    ) -> None:
        self.generation = generation
        self.store = store
        self.clock = clock
        self.ttl = ttl
        self.max_inline_pdf_bytes = max_inline_pdf_bytes

    async def create(self, project: str, call: InteractionCall) -> InteractionRecord:
        record, model_call = await self._begin(project, call)
        answer = await self.generation.generate(project, model_call, "interactions")
        self._complete(record, answer.text, answer.finished, answer.calls)
        store = self._store_for(call)
        if store is not None:
            await store.put_interaction(record)
        return record

    async def stream(self, project: str, call: InteractionCall) -> InteractionStream:
        """Starts the call; errors before the model's first event are raised here."""
        record, model_call = await self._begin(project, call)
        events = await self.generation.stream(project, model_call, "interactions")
        store = self._store_for(call)
        if store is not None:
            await store.put_interaction(record)  # GET during the stream shows it in progress
        return InteractionStream(record, self._run(record, events, store))

    async def get(self, project: str, interaction_id: str) -> InteractionRecord:
        record = None
        if self.store is not None:
            record = await self.store.get_interaction(project, interaction_id, self.clock.now())
        if record is None:
            raise NotFound(f"Interaction {interaction_id} was not found.")
        return record

    async def delete(self, project: str, interaction_id: str) -> None:
        if self.store is None or not await self.store.delete_interaction(
            project, interaction_id, self.clock.now()
        ):
            raise NotFound(f"Interaction {interaction_id} was not found.")

    async def cancel(self, project: str, interaction_id: str) -> InteractionRecord:
        record = await self.get(project, interaction_id)
        if record.status in FINAL_STATUSES:
            raise FailedPrecondition(
                f"Interaction {record.id} is {record.status}; only an interaction in progress can be cancelled."
            )
        record.status = "cancelled"
        record.update_time = self.clock.now()
        assert self.store is not None  # get() found it there
        await self.store.put_interaction(record)
        return record

    async def sweep_expired(self) -> int:
        """Deletes expired interactions, a batch at a time; a background job (``run_forever``)."""
        if self.store is None:
            return 0
        total, swept = 0, SWEEP_BATCH
        while swept == SWEEP_BATCH:
            swept = await self.store.sweep_expired_interactions(self.clock.now(), SWEEP_BATCH)
            total += swept
        return total

    # -- Steps of a call -------------------------------------------------------------------------------

    def _store_for(self, call: InteractionCall) -> InteractionStore | None:
        return self.store if call.store else None

    async def _begin(self, project: str, call: InteractionCall) -> tuple[InteractionRecord, Call]:
        names: dict[str, str] = {}  # function call ids -> names, so a result may name only its call
        drafts = await self._history(project, call.previous_id, names)
        drafts += steps_drafts(call.steps, self.max_inline_pdf_bytes, names=names)
        model_call = Call(
            call.model,
            drafts,
            call.system_instruction,
            call.generation_config,
            tools=call.tools,
            tool_config=call.tool_config,
            response_format=call.response_format,
        )
        now = self.clock.now()
        record = InteractionRecord(
            project=project,
            id=new_interaction_id(),
            model=call.model,
            status="in_progress",
            create_time=now,
            update_time=now,
            expire_time=now + self.ttl,
            previous_id=call.previous_id or None,
            system_instruction=call.system_instruction,
            steps=[{**s, "input": True} for s in storable(call.steps)],
            extra=dict(call.echo),
        )
        if has_inline_data(call.steps):
            # Inline data is echoed by include_input as the stored steps (large data left out), not verbatim.
            record.extra["input"] = [public(step) for step in record.steps]
        return record, model_call

    async def _history(self, project: str, previous: str | None, names: dict[str, str]) -> list[Draft]:
        """The conversation so far, from the chain of stored interactions ``previous`` names."""
        chain: list[InteractionRecord] = []
        current = previous
        while current and len(chain) < HISTORY_DEPTH:
            record = await self.get(project, current)
            chain.append(record)
            current = record.previous_id
        drafts: list[Draft] = []
        for record in reversed(chain):
            where = f"interactions/{record.id}.steps"
            drafts += steps_drafts(record.steps, self.max_inline_pdf_bytes, where=where, names=names)
        return drafts

    def _complete(
        self,
        record: InteractionRecord,
        text: str,
        finished: Finished | None,
        calls: tuple[FunctionCall, ...] = (),
    ) -> None:
        """The model's steps appended: its text, then a ``function_call`` step per call (the interaction
        then ``requires_action``: the client runs the functions and continues with their results)."""
        if text or not calls:
            record.steps.append({"type": "model_output", "content": [{"type": "text", "text": text}]})
        for call in calls:
            step = {"type": "function_call", "id": call.id or "", "name": call.name, "arguments": call.args}
            record.steps.append(step)
        record.usage = usage_record(finished.usage if finished else Usage(0, 0))
        record.status = "requires_action" if calls else "completed"
        record.update_time = self.clock.now()

    async def _run(
        self,
        record: InteractionRecord,
        events: AsyncGenerator[OutputEvent, None],
        store: InteractionStore | None,
    ) -> AsyncGenerator[TextDelta | FunctionCalled, None]:
        texts: list[str] = []
        calls: list[FunctionCall] = []
        finished: Finished | None = None
        try:
            async for event in events:
                if isinstance(event, TextDelta) and event.text:
                    texts.append(event.text)
                    yield event
                elif isinstance(event, FunctionCalled):
                    calls.append(event.call)
                    yield event
                elif isinstance(event, Finished):
                    finished = event
            self._complete(record, "".join(texts), finished, tuple(calls))
            if store is not None:
                await store.put_interaction(record)
        except Exception:
            record.status = "failed"
            raise
        finally:
            with contextlib.suppress(Exception):
                await events.aclose()
            if record.status not in FINAL_STATUSES or record.status == "failed":
                await self._settle(store, record, self.clock.now())

    @staticmethod
    async def _settle(store: InteractionStore | None, record: InteractionRecord, now: datetime) -> None:
        if record.status == "in_progress":
            record.status = "cancelled"
        record.update_time = now
        if store is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(store.put_interaction(record))
