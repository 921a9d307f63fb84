"""The per-project registry of scripted rules and their call counters, and the playing of an answer.

Rules come from the start-up script (``GEMFILES_SCRIPT``, shared by every project, each project counting its
own calls) and from each project's run-time rules, which are tried first. Rules are tried in order; a rule
whose conditions hold counts the call, and answers it when the count is within its ``nth``/``times``
window; the first rule that answers wins and the rules after it are not counted. No answer: the caller uses
the deterministic model.

The registry lives in the server process's memory (an emulator's state): it is not shared between replicas
and is lost on restart; the start-up script is read again at start.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gemfiles.domain.calls import (
    Finished,
    FunctionCall,
    FunctionCalled,
    ModelRequest,
    OutputEvent,
    TextDelta,
)
from gemfiles.domain.faults import DropConnection
from gemfiles.domain.instances import seed_of
from gemfiles.domain.replies import call_for, call_id, choose_function, request_seed
from gemfiles.domain.script import Answer, CallAnswer, ErrorAnswer, Rule
from gemfiles.domain.tokens import compact_json, count_request, with_output
from gemfiles.errors import ApiError, InvalidArgument

Sleep = Callable[[float], Awaitable[None]]
Events = Callable[[], AsyncIterator[OutputEvent]]

# Google's own messages for the errors clients retry on.
DEFAULT_MESSAGES = {
    429: "Resource has been exhausted (e.g. check quota).",
    503: "The model is overloaded. Please try again later.",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
}


class StreamCut(DropConnection):
    """A scripted answer drops the connection here: the protocol layer aborts the response without a
    reply (unary) or mid-stream (SSE), as a network failure would."""

    def __init__(self, after: int) -> None:
        super().__init__(f"scripted connection drop after {after} chunk(s)")
        self.after = after


@dataclass(slots=True)
class _Entry:
    rule: Rule
    label: str
    calls: int = 0


@dataclass(slots=True)
class _Project:
    rules: list[_Entry] = field(default_factory=list)
    startup: list[_Entry] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Matched:
    """The rule that answers a call, and which of its matching calls this is (1-based)."""

    rule: Rule
    label: str
    call: int

    @property
    def answer(self) -> Answer:
        return self.rule.answer


class ScriptBook:
    def __init__(self, startup: Sequence[Rule] = ()) -> None:
        self.startup = list(startup)
        self._projects: dict[str, _Project] = {}

    def _project(self, project: str) -> _Project:
        state = self._projects.get(project)
        if state is None:
            entries = [_Entry(r, "script " + r.label(i)) for i, r in enumerate(self.startup)]
            state = self._projects[project] = _Project(startup=entries)
        return state

    def set_rules(self, project: str, rules: Sequence[Rule]) -> None:
        """Replaces the project's run-time rules (their counters start again)."""
        self._project(project).rules = [_Entry(r, r.label(i)) for i, r in enumerate(rules)]

    def add_rules(self, project: str, rules: Sequence[Rule]) -> None:
        """Appends run-time rules after the project's existing ones."""
        entries = self._project(project).rules
        entries.extend(_Entry(r, r.label(len(entries) + i)) for i, r in enumerate(rules))

    def rules(self, project: str) -> list[Rule]:
        return [entry.rule for entry in self._project(project).rules]

    def counts(self, project: str) -> dict[str, int]:
        """How many calls each rule has matched so far, by label (``rule 0 ('x')``, ``script rule 1``)."""
        state = self._project(project)
        return {entry.label: entry.calls for entry in [*state.rules, *state.startup]}

    def reset(self, project: str) -> None:
        """Drops the project's run-time rules and every counter it has."""
        self._projects.pop(project, None)

    def match(self, project: str, request: ModelRequest) -> Matched | None:
        state = self._project(project)
        for entry in [*state.rules, *state.startup]:
            if not entry.rule.matches(request):
                continue
            entry.calls += 1
            if entry.rule.answers_call(entry.calls):
                return Matched(entry.rule, entry.label, entry.calls)
        return None


def scripted_error(error: ErrorAnswer) -> ApiError:
    """The ApiError a scripted error answer raises: its code, status, message, details and headers."""
    details = list(error.details)
    if error.retry_delay is not None:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{error.retry_delay:g}s"}
        )
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else {}
    message = error.message or DEFAULT_MESSAGES.get(error.code, "Scripted error.")
    return _error_class(error.code, error.canonical_status())(message, details=details, headers=headers)


def _error_class(code: int, status: str) -> type[ApiError]:
    attributes: dict[str, Any] = {"code": code, "status": status, "__module__": __name__}
    return type("ScriptedError", (ApiError,), attributes)


def resolve_calls(request: ModelRequest, wanted: Sequence[CallAnswer], label: str) -> list[FunctionCall]:
    """The function calls of an answer; missing names, arguments and ids come from the deterministic model."""
    declared = {d.name: d for d in request.tools}
    seed = request_seed(request)
    calls = []
    for index, want in enumerate(wanted):
        declaration = declared.get(want.name) if want.name else choose_function(request, seed_of(seed, index))
        if declaration is None and want.name is None:
            raise InvalidArgument(
                f"{label} answers a function call, but the request declares no callable function."
            )
        if want.args is None and declaration is not None:
            generated = call_for(request, declaration, index)
            calls.append(FunctionCall(generated.name, generated.args, want.id or generated.id))
        else:
            name = want.name or (declaration.name if declaration else "")
            calls.append(
                FunctionCall(name, dict(want.args or {}), want.id or call_id(seed_of(seed, name, index)))
            )
    return calls


def chunk_text(text: str, answer: Answer) -> list[str]:
    """The text in the answer's chunks: the given sizes first, then ``chunk_size`` pieces (or the rest)."""
    pieces: list[str] = []
    rest = text
    for size in answer.chunks or []:
        if not rest:
            break
        pieces.append(rest[:size])
        rest = rest[size:]
    step = answer.chunk_size or len(rest) or 1
    pieces.extend(rest[i : i + step] for i in range(0, len(rest), step))
    return pieces or [""]


async def _content(request: ModelRequest, matched: Matched) -> AsyncIterator[OutputEvent]:
    answer = matched.answer
    text = compact_json(answer.json_) if answer.has_json else (answer.text or "")
    calls = resolve_calls(request, answer.function_calls or [], matched.label)
    if text or not calls:
        for piece in chunk_text(text, answer):
            yield TextDelta(piece)
    for call in calls:
        yield FunctionCalled(call)
    usage = with_output(count_request(request), text, calls)
    yield Finished(usage, answer.finish_reason, model_version=request.model)


async def play(
    matched: Matched, request: ModelRequest, fallback: Events, sleep: Sleep
) -> AsyncIterator[OutputEvent]:
    """The events of a scripted answer: its delay, then its error, or its chunks (with delays between them)
    up to a cut. An answer without content plays the deterministic model's events (``fallback``)."""
    answer = matched.answer
    if answer.delay:
        await sleep(answer.delay)
    if answer.error is not None:
        raise scripted_error(answer.error)
    events = fallback() if answer.falls_through else _content(request, matched)
    sent = 0
    async for event in events:
        if answer.cut_after is not None and (sent >= answer.cut_after or isinstance(event, Finished)):
            raise StreamCut(sent)  # a cut beyond the last chunk still loses the final event
        if not isinstance(event, Finished):
            if sent and answer.chunk_delay:
                await sleep(answer.chunk_delay)
            sent += 1
        yield event
