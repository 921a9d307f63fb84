"""The journal: what the model received and what it answered, per project, for tests to assert on.

The generation service passes each call's events through ``Journal.watch``; the entry is written when the
answer ends (finished, failed with an API error, cut, or abandoned by the client), so a test that reads the
journal after its call sees the whole exchange. Files appear as name, display name, MIME type, size and
SHA-256 (never bytes). The journal keeps the last ``limit`` entries of each project, in the server
process's memory.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from gemfiles.domain.calls import Finished, FunctionCall, FunctionCalled, ModelRequest, OutputEvent, TextDelta
from gemfiles.domain.faults import DropConnection
from gemfiles.errors import ApiError

Outcome = Literal["finished", "error", "dropped", "abandoned"]


@dataclass(frozen=True, slots=True)
class FileSeen:
    """A file the model received: ``name`` is ``files/<id>`` for an upload, None for inline data."""

    name: str | None
    display_name: str | None
    mime_type: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Turn:
    role: str
    texts: tuple[str, ...] = ()
    files: tuple[FileSeen, ...] = ()
    function_calls: tuple[dict[str, Any], ...] = ()
    function_responses: tuple[dict[str, Any], ...] = ()


@dataclass(slots=True)
class AnswerSeen:
    outcome: Outcome = "abandoned"
    text: str = ""
    function_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    error: dict[str, Any] | None = None  # {"code", "status", "message"}


@dataclass(frozen=True, slots=True)
class JournalEntry:
    sequence: int
    time: datetime
    method: str  # generateContent, streamGenerateContent, interactions, ...
    model: str
    system_instruction: str | None
    turns: tuple[Turn, ...]
    generation_config: dict[str, Any]
    tools: tuple[str, ...]
    tool_mode: str
    response_mime_type: str
    response_schema: dict[str, Any] | None
    rule: str | None  # the scripted rule that answered, by label; None: the deterministic model
    answer: AnswerSeen

    @property
    def texts(self) -> list[str]:
        """Every text the model received, in order."""
        return [text for turn in self.turns for text in turn.texts]

    @property
    def files(self) -> list[FileSeen]:
        return [file for turn in self.turns for file in turn.files]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the time as RFC 3339) for the control surface."""
        out = asdict(self)
        out["time"] = self.time.isoformat().replace("+00:00", "Z")
        return out


def _call(call: FunctionCall) -> dict[str, Any]:
    return {"name": call.name, "args": call.args, "id": call.id}


def turns_of(request: ModelRequest) -> tuple[Turn, ...]:
    turns = []
    for message in request.messages:
        texts, files, calls, results = [], [], [], []
        for part in message.parts:
            if part.kind == "text":
                texts.append(part.text or "")
            elif part.file is not None:
                r = part.file.record
                files.append(
                    FileSeen(f"files/{r.id}", r.display_name, r.mime_type, r.size_bytes, r.sha256_hex)
                )
            elif part.inline is not None:
                data = part.inline.data
                sha = hashlib.sha256(data).hexdigest()
                files.append(FileSeen(None, None, part.inline.mime_type, len(data), sha))
            elif part.function_call is not None:
                calls.append(_call(part.function_call))
            elif part.function_response is not None:
                result = part.function_response
                results.append({"name": result.name, "response": result.response, "id": result.id})
        turns.append(Turn(message.role, tuple(texts), tuple(files), tuple(calls), tuple(results)))
    return tuple(turns)


class Journal:
    def __init__(self, now: Callable[[], datetime], limit: int = 1000) -> None:
        self.now = now
        self.limit = limit
        self._entries: dict[str, deque[JournalEntry]] = {}
        self._sequence = 0

    def entries(self, project: str) -> list[JournalEntry]:
        return list(self._entries.get(project, ()))

    def reset(self, project: str) -> None:
        self._entries.pop(project, None)

    def record(self, project: str, entry: JournalEntry) -> None:
        self._entries.setdefault(project, deque(maxlen=self.limit)).append(entry)

    def entry(
        self, request: ModelRequest, method: str, answer: AnswerSeen, rule: str | None = None
    ) -> JournalEntry:
        self._sequence += 1
        response = request.response_format
        return JournalEntry(
            sequence=self._sequence,
            time=self.now(),
            method=method,
            model=request.model,
            system_instruction=request.system_instruction,
            turns=turns_of(request),
            generation_config=dict(request.generation_config),
            tools=tuple(d.name for d in request.tools),
            tool_mode=request.tool_config.mode,
            response_mime_type=response.mime_type,
            response_schema=response.effective_schema(),
            rule=rule,
            answer=answer,
        )

    async def watch(
        self,
        project: str,
        method: str,
        request: ModelRequest,
        events: AsyncIterator[OutputEvent],
        rule: str | None = None,
    ) -> AsyncIterator[OutputEvent]:
        """Passes the events through and journals the exchange when the answer ends, however it ends."""
        answer = AnswerSeen()
        try:
            async for event in events:
                if isinstance(event, TextDelta):
                    answer.text += event.text
                elif isinstance(event, FunctionCalled):
                    answer.function_calls.append(_call(event.call))
                elif isinstance(event, Finished):
                    answer.outcome, answer.finish_reason = "finished", event.finish_reason
                    answer.input_tokens, answer.output_tokens = (
                        event.usage.input_tokens,
                        event.usage.output_tokens,
                    )
                yield event
        except ApiError as exc:
            answer.outcome = "error"
            answer.error = {"code": exc.code, "status": exc.status, "message": exc.message}
            raise
        except DropConnection:
            answer.outcome = "dropped"
            raise
        finally:
            self.record(project, self.entry(request, method, answer, rule))
