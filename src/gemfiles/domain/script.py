"""Scripted answers: the rule format, its validation, and what a rule matches.

A script is a list of rules (JSON or YAML; a bare list or ``{"rules": [...]}``). A rule has an optional
``name``, a ``match`` (every condition given must hold; none given matches every call), when it answers
(``nth``, ``times``) and an ``answer``. See docs/scripting.md for the format with examples. The registry that
holds rules per project and counts their calls is ``gemfiles.domain.scriptbook``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from gemfiles.domain.calls import ModelRequest, Part
from gemfiles.errors import InvalidArgument

FinishReason = Literal["STOP", "MAX_TOKENS", "SAFETY", "OTHER"]

# Google's canonical status for each HTTP code a scripted error may carry (the status may be given too).
STATUS_OF_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class ScriptError(InvalidArgument):
    """A script that cannot be loaded; the message names the rule (index and name) and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileMatch(_Strict):
    """An attached file (uploaded or inline) in any turn; every field given must hold for the same file."""

    mime_type: str | None = Field(None, description="glob, e.g. image/*")
    display_name: str | None = Field(None, description="glob")
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")


class Match(_Strict):
    model: str | None = Field(None, description="glob on the model id, e.g. gemini-2.5-*")
    text: str | None = Field(None, description="substring of the last user turn's text")
    text_regex: str | None = Field(None, description="regular expression searched in that text")
    file: FileMatch | None = None
    tools: bool | None = Field(None, description="whether function declarations were sent")
    function: str | None = Field(None, description="a function of this name was declared")
    function_response: str | None = Field(
        None, description="the last turn returns this function's result ('*': any)"
    )
    schema_: bool | None = Field(None, alias="schema", description="whether a response schema was sent")
    turn: int | None = Field(None, ge=1, description="the number of user turns in the request")

    @field_validator("text_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class CallAnswer(_Strict):
    """A function call; without ``name`` the deterministic model picks a declared function, without
    ``args`` it generates arguments valid for the declared parameters."""

    name: str | None = None
    args: dict[str, Any] | None = None
    id: str | None = None


class ErrorAnswer(_Strict):
    code: int = Field(ge=400, le=599)
    status: str | None = Field(None, pattern=r"^[A-Z_]+$")
    message: str | None = None
    details: list[dict[str, Any]] = Field(default_factory=list)
    retry_delay: float | None = Field(
        None, ge=0, description="seconds, sent as a google.rpc.RetryInfo detail"
    )
    retry_after: int | None = Field(None, ge=0, description="seconds, sent as a Retry-After header")

    @field_validator("details")
    @classmethod
    def _typed(cls, details: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for detail in details:
            if not isinstance(detail.get("@type"), str):
                raise ValueError(
                    "each detail needs an '@type', e.g. type.googleapis.com/google.rpc.ErrorInfo"
                )
        return details

    def canonical_status(self) -> str:
        return self.status or STATUS_OF_CODE.get(self.code, "UNKNOWN" if self.code < 500 else "INTERNAL")


class Answer(_Strict):
    text: str | None = None
    json_: Any = Field(None, alias="json")
    function_calls: list[CallAnswer] | None = Field(None, min_length=1)
    error: ErrorAnswer | None = None
    delay: float = Field(0, ge=0, description="seconds before the answer (or the error) starts")
    chunks: list[int] | None = Field(
        None,
        min_length=1,
        description="sizes of the first stream chunks (chunk_size, or one chunk, for the rest)",
    )
    chunk_size: int | None = Field(None, ge=1)
    chunk_delay: float = Field(0, ge=0, description="seconds between stream chunks")
    cut_after: int | None = Field(None, ge=0, description="drop the connection after this many chunks")
    finish_reason: FinishReason = "STOP"

    @field_validator("chunks")
    @classmethod
    def _positive(cls, sizes: list[int] | None) -> list[int] | None:
        if sizes is not None and any(size < 1 for size in sizes):
            raise ValueError("chunk sizes are at least 1")
        return sizes

    @model_validator(mode="after")
    def _one_kind(self) -> Answer:
        has_json = "json_" in self.model_fields_set
        if self.error is not None and (self.text is not None or has_json or self.function_calls):
            raise ValueError("an error answer cannot also carry text, json or function_calls")
        if has_json and (self.text is not None or self.function_calls):
            raise ValueError("a json answer cannot also carry text or function_calls")
        return self

    @property
    def has_json(self) -> bool:
        return "json_" in self.model_fields_set

    @property
    def falls_through(self) -> bool:
        """No content of its own: the deterministic model answers, with this answer's delays and cut."""
        return self.text is None and not self.has_json and not self.function_calls and self.error is None


class Rule(_Strict):
    name: str | None = None
    match: Match = Field(default_factory=Match)
    nth: int | None = Field(None, ge=1, description="the first matching call this rule answers (1-based)")
    times: int | None = Field(None, ge=1, description="how many matching calls it answers from then on")
    answer: Answer

    def answers_call(self, number: int) -> bool:
        """Whether the ``number``-th call matching this rule gets its answer."""
        first = self.nth or 1
        times = self.times if self.times is not None else (1 if self.nth is not None else None)
        return number >= first and (times is None or number < first + times)

    def label(self, index: int) -> str:
        return f"rule {index}" + (f" ({self.name!r})" if self.name else "")

    def matches(self, request: ModelRequest) -> bool:
        return matches(self.match, request)


def parse_rules(data: Any, source: str = "script") -> list[Rule]:
    """Rules from parsed JSON/YAML; a ScriptError names every bad rule and field."""
    if isinstance(data, dict) and set(data) == {"rules"}:
        data = data["rules"]
    if data is None:
        return []
    if not isinstance(data, list):
        raise ScriptError(f"{source}: expected a list of rules (or an object with 'rules').")
    rules, problems = [], []
    for index, item in enumerate(data):
        label = f"rule {index}" + (
            f" ({item['name']!r})" if isinstance(item, dict) and "name" in item else ""
        )
        if not isinstance(item, dict):
            problems.append(f"{label}: expected an object")
            continue
        try:
            rules.append(Rule.model_validate(item))
        except ValidationError as exc:
            problems.extend(f"{label}: {_where(e['loc'])}: {_message(e['msg'])}" for e in exc.errors())
    if problems:
        raise ScriptError(f"{source}: " + "; ".join(problems))
    return rules


def _message(text: str) -> str:
    return text.removeprefix("Value error, ")  # pydantic's prefix for our own checks


def _where(location: Iterable[Any]) -> str:
    names = [str(p) if not isinstance(p, int) else f"[{p}]" for p in location]
    return ".".join(names).replace(".[", "[") or "(rule)"


def load_script(path: str | Path) -> list[Rule]:
    """Rules from a ``.json``, ``.yaml`` or ``.yml`` file (GEMFILES_SCRIPT)."""
    import yaml  # only a server given a YAML script needs the parser

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScriptError(f"{path}: cannot read the script ({exc.strerror}).") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ScriptError(
            f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}"
        ) from None
    return parse_rules(data, str(path))


# Matching ---------------------------------------------------------------------------------------------


def last_user_text(request: ModelRequest) -> str:
    for message in reversed(request.messages):
        if message.role == "user":
            return "\n".join(p.text for p in message.parts if p.kind == "text" and p.text)
    return ""


def _file_matches(want: FileMatch, part: Part) -> bool:
    if part.file is not None:
        record = part.file.record
        mime, name, sha = record.mime_type, record.display_name or "", record.sha256_hex
    elif part.inline is not None:
        mime, name, sha = part.inline.mime_type, "", hashlib.sha256(part.inline.data).hexdigest()
    else:
        return False
    return (
        (want.mime_type is None or fnmatch.fnmatchcase(mime, want.mime_type))
        and (want.display_name is None or fnmatch.fnmatchcase(name, want.display_name))
        and (want.sha256 is None or sha == want.sha256.lower())
    )


def matches(match: Match, request: ModelRequest) -> bool:
    """Whether every condition given holds for the request."""
    text = last_user_text(request)
    model = request.model.removeprefix("models/")
    checks = [
        match.model is None or fnmatch.fnmatchcase(model, match.model.removeprefix("models/")),
        match.text is None or match.text in text,
        match.text_regex is None or re.search(match.text_regex, text) is not None,
        match.tools is None or match.tools == bool(request.tools),
        match.function is None or any(d.name == match.function for d in request.tools),
        match.schema_ is None or match.schema_ == (request.response_format.effective_schema() is not None),
        match.turn is None or match.turn == sum(m.role == "user" for m in request.messages),
        match.file is None or any(_file_matches(match.file, p) for m in request.messages for p in m.parts),
        match.function_response is None or _returns(request, match.function_response),
    ]
    return all(checks)


def _returns(request: ModelRequest, name: str) -> bool:
    last = request.messages[-1] if request.messages else None
    if last is None or last.role != "user":
        return False
    names = [p.function_response.name for p in last.parts if p.function_response is not None]
    return any(fnmatch.fnmatchcase(n, name) for n in names)
