"""The ``openai`` backend: any OpenAI-compatible chat-completions server (vLLM, Ollama, llama.cpp's server,
LM Studio, OpenAI itself).

Those servers have no Files API: each file the request refers to is converted (``convert.py``) into
content parts they accept, and the request goes to ``POST {base_url}/chat/completions`` with
``stream: true`` and ``stream_options.include_usage``. The body is rendered to a temporary file first
(``jsonbody.py``), so big files never sit in memory and the upstream gets a plain ``Content-Length`` body.

Failures become Google-shaped errors, never a hang (every connect and read has a deadline):

    cannot connect (refused, unreachable, DNS, connect timeout)    503 UNAVAILABLE
    connection dropped while sending or streaming                  503 UNAVAILABLE
    no byte within ``timeout`` seconds (first token or between)    504 DEADLINE_EXCEEDED
    the server answers 4xx/5xx, or an error event in the stream    502 with the upstream's message
    an answer that is not chat-completions JSON                    502

httpx rather than the ``openai`` package: it is already a dependency, it takes a streamed request body,
and its exception types map one to one onto the table above. The ``openai`` package's request types are
what the tests validate our bodies against.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator
from typing import Any, BinaryIO

import httpx

from gemfiles.backends.convert import Converted, Source, convert, estimate
from gemfiles.backends.jsonbody import JsonString, file_stream, write_json
from gemfiles.backends.openai_tools import (
    ToolCallStream,
    enum_events,
    function_messages,
    response_format_param,
    tool_params,
)
from gemfiles.backends.options import ConvertOptions, OpenAIOptions
from gemfiles.domain.calls import (
    Finished,
    FunctionCalled,
    Message,
    ModalityCount,
    ModelRequest,
    OutputEvent,
    Part,
    TextDelta,
    Usage,
)
from gemfiles.domain.tokens import CHARS_PER_TOKEN
from gemfiles.errors import ApiError, BadGateway, DeadlineExceeded, Unavailable

log = logging.getLogger("gemfiles.backends.openai")

FINISH_REASONS = {
    "stop": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
    "tool_calls": "STOP",  # Gemini ends a turn of function calls with STOP
    "function_call": "STOP",
}
MAX_ERROR_BODY = 64 * 1024
_DEFAULTS = OpenAIOptions()
DONE: dict[str, Any] = {}  # marks the stream's "data: [DONE]"
# generationConfig field (camelCase and snake_case, as the SDKs send either) -> chat-completions field.
GENERATION_FIELDS = {
    "temperature": "temperature",
    "topP": "top_p",
    "top_p": "top_p",
    "maxOutputTokens": "max_tokens",
    "max_output_tokens": "max_tokens",
    "stopSequences": "stop",
    "stop_sequences": "stop",
    "seed": "seed",
    "presencePenalty": "presence_penalty",
    "presence_penalty": "presence_penalty",
    "frequencyPenalty": "frequency_penalty",
    "frequency_penalty": "frequency_penalty",
}


class OpenAIBackend:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float = _DEFAULTS.timeout,
        connect_timeout: float = _DEFAULTS.connect_timeout,
        *,
        stream: bool = _DEFAULTS.stream,
        include_usage: bool = _DEFAULTS.include_usage,
        schema_format: str = _DEFAULTS.schema_format,
        options: ConvertOptions | None = None,
        convert_concurrency: int = 1,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key or None
        self.model = model or None
        self.timeout = float(timeout)
        self.stream = stream
        self.include_usage = include_usage
        self.schema_format = schema_format
        self.options = options or _DEFAULTS.convert
        self._timeouts = httpx.Timeout(self.timeout, connect=min(float(connect_timeout), self.timeout))
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        # Conversions decode media; one at a time keeps the server's memory flat under concurrent calls.
        self._converting = asyncio.Semaphore(max(1, convert_concurrency))

    # -- ModelBackend ----------------------------------------------------------------------------------

    async def generate(self, request: ModelRequest) -> AsyncIterator[OutputEvent]:
        async with self._converting:
            messages, converted = await self._messages(request)
        try:
            body: dict[str, Any] = {"model": self.model or request.model, "messages": messages}
            body.update(generation_params(request.generation_config))
            body.update(tool_params(request))
            response_format = response_format_param(request.response_format, self.schema_format)
            if response_format is not None:
                body["response_format"] = response_format
            body["stream"] = self.stream
            if self.stream and self.include_usage:
                body["stream_options"] = {"include_usage": True}
            spool, length = await write_json(body)
        finally:
            for item in converted:
                item.close()
        estimated = sum(c.tokens for item in converted for c in item.tokens) + _text_tokens(request)
        try:
            events = self._stream(spool, length) if self.stream else self._unary(spool, length)
            answer = _with_usage(events, estimated)
            if request.response_format.is_enum:
                answer = enum_events(answer)
            async for event in answer:
                yield event
        finally:
            spool.close()

    async def count_tokens(self, request: ModelRequest) -> Usage:
        counts: dict[str, int] = {"TEXT": _text_tokens(request)}
        for message in request.messages:
            for part in message.parts:
                source = _source(part)
                if source is not None:
                    for item in await estimate(source, self.options):
                        counts[item.modality] = counts.get(item.modality, 0) + item.tokens
        by_modality = tuple(ModalityCount(m, t) for m, t in counts.items() if t)  # type: ignore[arg-type]
        return Usage(sum(counts.values()), 0, by_modality)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- Request ---------------------------------------------------------------------------------------

    async def _messages(self, request: ModelRequest) -> tuple[list[dict[str, Any]], list[Converted]]:
        converted: list[Converted] = []
        messages: list[dict[str, Any]] = []
        try:
            if request.system_instruction:
                messages.append({"role": "system", "content": request.system_instruction})
            functions = function_messages(request.messages)
            for index, message in enumerate(request.messages):
                if index in functions:
                    # Function calls (an assistant message with tool_calls) or results (tool messages).
                    messages.extend(functions[index])
                    if message.role == "model" or not any(
                        p.kind in ("text", "file", "inline") for p in message.parts
                    ):
                        continue
                messages.append(await self._message(message, converted))
        except BaseException:
            for item in converted:
                item.close()
            raise
        return messages, converted

    async def _message(self, message: Message, converted: list[Converted]) -> dict[str, Any]:
        if message.role == "model":
            # Assistant turns carry text only in chat completions.
            text = "".join(part.text or "" for part in message.parts if part.kind == "text")
            return {"role": "assistant", "content": text}
        parts: list[dict[str, Any]] = []
        for part in message.parts:
            source = _source(part)
            if source is None:
                if part.text:
                    parts.append({"type": "text", "text": part.text})
                continue
            item = await convert(source, self.options)
            converted.append(item)
            parts.extend(item.parts)
        if all(part["type"] == "text" for part in parts):
            # Text alone goes as one string: text-only models and older servers take nothing else.
            return {"role": "user", "content": _joined_text(parts)}
        return {"role": "user", "content": parts}

    # -- Upstream --------------------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"Accept": "application/json"}
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            self._client = httpx.AsyncClient(
                timeout=self._timeouts, headers=headers, transport=self._transport
            )
        return self._client

    def _send(self, spool: BinaryIO, length: int) -> Any:
        return self._http().stream(
            "POST",
            f"{self.base_url}/chat/completions",
            content=file_stream(spool),
            headers={"Content-Type": "application/json", "Content-Length": str(length)},
        )

    async def _stream(self, spool: BinaryIO, length: int) -> AsyncIterator[dict[str, Any]]:
        """The upstream's SSE events, as parsed JSON chunks."""
        try:
            async with self._send(spool, length) as response:
                await _check_status(response)
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue  # comments, event names, keep-alives
                    data = line[5:].strip()
                    if data == "[DONE]":
                        yield DONE
                        return
                    yield _chunk(data)
        except httpx.HTTPError as exc:
            raise self._failure(exc) from None

    async def _unary(self, spool: BinaryIO, length: int) -> AsyncIterator[dict[str, Any]]:
        """A non-streamed answer, reshaped as one streamed chunk."""
        try:
            async with self._send(spool, length) as response:
                await _check_status(response)
                answer = _chunk((await response.aread()).decode("utf-8", errors="replace"))
        except httpx.HTTPError as exc:
            raise self._failure(exc) from None
        choices = [
            {
                "delta": {
                    "content": (c.get("message") or {}).get("content"),
                    "tool_calls": (c.get("message") or {}).get("tool_calls"),
                },
                "finish_reason": c.get("finish_reason"),
            }
            for c in answer.get("choices") or []
        ]
        yield {**answer, "choices": choices}

    def _failure(self, exc: httpx.HTTPError) -> ApiError:
        log.warning("model server %s: %s: %s", self.base_url, type(exc).__name__, exc)
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return Unavailable(f"The model server is unavailable: cannot connect ({_reason(exc)}).")
        if isinstance(exc, httpx.TimeoutException):
            return DeadlineExceeded(f"The model server did not answer within {self.timeout:g} seconds.")
        if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
            return Unavailable(f"The model server closed the connection ({_reason(exc)}).")
        return BadGateway(f"The model server's answer could not be read ({_reason(exc)}).")


# -- Pieces ---------------------------------------------------------------------------------------------


def generation_params(config: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in (config or {}).items():
        target = GENERATION_FIELDS.get(key)
        if target is not None and value is not None:
            params[target] = value
    schema = config.get("responseJsonSchema", config.get("response_json_schema")) if config else None
    mime = config.get("responseMimeType", config.get("response_mime_type")) if config else None
    if schema is not None:
        params["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": schema},
        }
    elif mime == "application/json":
        params["response_format"] = {"type": "json_object"}
    return params


def _source(part: Part) -> Source | None:
    if part.kind == "file" and part.file is not None:
        return Source.of_file(part.file)
    if part.kind == "inline" and part.inline is not None:
        return Source.of_inline(part.inline)
    return None


def _joined_text(parts: list[dict[str, Any]]) -> JsonString:
    pieces: list[Any] = []
    for index, part in enumerate(parts):
        if index:
            pieces.append("\n\n")
        text = part["text"]
        pieces.extend(text.pieces if isinstance(text, JsonString) else [text])
    return JsonString(pieces)


def _text_tokens(request: ModelRequest) -> int:
    chars = len(request.system_instruction or "")
    chars += sum(len(p.text or "") for m in request.messages for p in m.parts if p.kind == "text")
    return math.ceil(chars / CHARS_PER_TOKEN)


async def _with_usage(
    chunks: AsyncIterator[dict[str, Any]], estimated_input: int
) -> AsyncIterator[OutputEvent]:
    """Chat-completions chunks -> TextDelta events, then one Finished with the upstream's usage (or ours).

    Without upstream usage (llama-cpp-python ignores ``include_usage``), output tokens are the content
    chunks: OpenAI-compatible servers stream one token a chunk (empty ones for partial UTF-8 included).
    """
    finish: str | None = None
    done = False
    usage: dict[str, Any] | None = None
    model_version: str | None = None
    output_chars = content_chunks = 0
    tool_calls = ToolCallStream()
    async for chunk in chunks:
        if chunk is DONE:
            done = True
            continue
        model_version = chunk.get("model") or model_version
        if chunk.get("usage"):
            usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            tool_calls.feed(delta.get("tool_calls"))
            text = delta.get("content")
            if text is not None:
                content_chunks += 1
            if text:
                output_chars += len(text)
                yield TextDelta(text)
            if choice.get("finish_reason"):
                finish = FINISH_REASONS.get(choice["finish_reason"], "OTHER")
    if finish is None and not done:
        # llama-cpp-python, for one, answers 200 and then closes an empty stream when a prompt does not fit.
        raise BadGateway("The model server ended its answer unfinished (no finish_reason, no [DONE]).")
    for call in tool_calls.calls():
        yield FunctionCalled(call)
    if usage and isinstance(usage.get("prompt_tokens"), int):
        result = Usage(int(usage["prompt_tokens"]), int(usage.get("completion_tokens") or 0))
    else:
        output = max(content_chunks, math.ceil(output_chars / CHARS_PER_TOKEN))
        result = Usage(estimated_input, output)
    yield Finished(result, finish or "STOP", model_version)  # type: ignore[arg-type]


def _chunk(data: str) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except ValueError:
        raise BadGateway(f"The model server sent something that is not JSON: {data[:200]!r}") from None
    if not isinstance(chunk, dict):
        raise BadGateway(f"The model server sent something that is not a chat completion: {data[:200]!r}")
    if "error" in chunk:
        raise BadGateway(f"The model server failed: {_message(chunk)}")
    return chunk


async def _check_status(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    body = b""
    async for block in response.aiter_bytes():
        body += block
        if len(body) >= MAX_ERROR_BODY:
            break
    text = body[:MAX_ERROR_BODY].decode("utf-8", errors="replace")
    try:
        message = _message(json.loads(text))
    except ValueError:
        message = _clip(text) or response.reason_phrase
    raise BadGateway(f"The model server answered {response.status_code}: {message}")


def _message(payload: Any) -> str:
    """The human message of an OpenAI-style ``{"error": {"message"}}``, FastAPI ``detail`` or plain body."""
    text = json.dumps(payload)
    if isinstance(payload, dict):
        error = payload.get("error", payload)
        if isinstance(error, dict):
            found = next((error[key] for key in ("message", "detail", "msg") if error.get(key)), None)
            if found is not None:
                text = found if isinstance(found, str) else json.dumps(found)
        elif isinstance(error, str):
            text = error
    return _clip(text)


def _clip(text: str) -> str:
    # Some servers put their Python traceback in the message: the client gets what precedes it.
    return text.split("Traceback (most recent call last)", 1)[0].strip()[:1000]


def _reason(exc: Exception) -> str:
    text = str(exc).strip()
    return text[:200] if text else type(exc).__name__
