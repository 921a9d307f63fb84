"""The inspect backend: a deterministic report of what it received, built from metadata alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gemfiles.backends.inspect import HEADER, InspectBackend
from gemfiles.backends.registry import BackendCatalog
from gemfiles.domain.calls import (
    Finished,
    InlineData,
    Message,
    ModelRequest,
    Part,
    ResolvedFile,
    TextDelta,
)
from gemfiles.domain.models import FileRecord
from gemfiles.domain.ports import ModelBackend
from gemfiles.domain.routing import ModelRouter
from gemfiles.settings import Settings


class NoBlobs:
    """Any read fails the test: the inspector must never touch a file's bytes (time to first byte)."""

    def open(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("the inspector read a file's bytes")

    def reader(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("the inspector read a file's bytes")


def video_part() -> Part:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    record = FileRecord(
        project="p",
        id="big1",
        display_name="huge.mp4",
        mime_type="video/mp4",
        size_bytes=1 << 30,
        sha256_hex="ab" * 32,
        create_time=now,
        update_time=now,
        expire_time=now + timedelta(hours=48),
        blob_key="k",
        facts={
            "duration_seconds": 600.0,
            "container": "mp4",
            "video_codec": "h264",
            "width": 1920,
            "height": 1080,
        },
    )
    return Part("file", file=ResolvedFile(record, NoBlobs()))  # type: ignore[arg-type]


def request() -> ModelRequest:
    return ModelRequest(
        model="gemini-2.5-flash",
        messages=[Message("user", [Part("text", text="What happens?"), video_part()])],
        system_instruction="Be exact.",
    )


async def generate(backend: InspectBackend, req: ModelRequest) -> tuple[list[str], Finished]:
    deltas: list[str] = []
    finished = None
    async for event in backend.generate(req):
        if isinstance(event, TextDelta):
            deltas.append(event.text)
        else:
            assert isinstance(event, Finished) and finished is None
            finished = event
    assert finished is not None
    return deltas, finished


async def test_report_lists_prompt_file_identity_and_stored_facts_without_reading_bytes() -> None:
    deltas, finished = await generate(InspectBackend(), request())
    assert "".join(deltas) == "\n".join(
        [
            HEADER,
            "Model: gemini-2.5-flash",
            'System instruction: "Be exact."',
            'Text: "What happens?"',
            "File 1: files/big1",
            '  Display name: "huge.mp4"',
            "  MIME type: video/mp4",
            f"  Size: {1 << 30} bytes",
            "  SHA-256: " + "ab" * 32,
            "  Dimensions: 1920x1080",
            "  Duration: 600.000 s",
            "  Container: mp4",
            "  Video codec: h264",
            "Input tokens: 157807 (TEXT 7, VIDEO 157800)",
            "",
        ]
    )
    assert len(deltas) > 3
    assert finished.finish_reason == "STOP"
    assert finished.usage.input_tokens == 3 + 4 + 600 * 263
    assert finished.usage.output_tokens == -(-len("".join(deltas)) // 4)


async def test_same_request_same_answer_and_count_tokens_matches_usage() -> None:
    backend = InspectBackend()
    first, finished = await generate(backend, request())
    second, _ = await generate(backend, request())
    assert first == second
    assert (await backend.count_tokens(request())).input_tokens == finished.usage.input_tokens


async def test_inline_data_and_turns_are_reported_in_order() -> None:
    req = ModelRequest(
        model="m",
        messages=[
            Message("user", [Part("inline", inline=InlineData("text/plain", b"abc", {"line_count": 1}))]),
            Message("model", [Part("text", text="Seen.")]),
            Message("user", [Part("text", text="Again")]),
        ],
    )
    text = "".join((await generate(InspectBackend(), req))[0]).splitlines()
    assert text[2:] == [
        "Turn 1 (user):",
        "  Inline data 1:",
        "    MIME type: text/plain",
        "    Size: 3 bytes",
        "    SHA-256: ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "    Lines: 1",
        "Turn 2 (model):",
        '  Text: "Seen."',
        "Turn 3 (user):",
        '  Text: "Again"',
        "Input tokens: 5 (TEXT 5)",
    ]


def test_router_sends_each_model_to_the_first_matching_pattern() -> None:
    settings = Settings(models={"exact-model": "inspect", "gemini-*": "inspect"})
    router = ModelRouter.build(settings.models, BackendCatalog(settings.openai_options()))
    assert isinstance(router.backends["inspect"], ModelBackend)
    route = router.route("gemini-2.5-flash")
    assert route is not None and route.pattern == "gemini-*"
    assert router.route("exact-model") is not None and router.route("exact-model").pattern == "exact-model"  # type: ignore[union-attr]
    assert router.route("gpt-4o") is None
    assert router.listed() == [("exact-model", "inspect")]
    defaults = Settings()
    assert ModelRouter.build(defaults.models, BackendCatalog(defaults.openai_options())).listed() == [
        ("inspect", "inspect")
    ]


async def test_inspect_answers_json_for_a_response_schema_instead_of_the_report() -> None:
    import json

    from gemfiles.domain.calls import ResponseFormat

    schema = {
        "type": "object",
        "properties": {"file": {"type": "string"}, "seconds": {"type": "number"}},
        "required": ["file"],
    }
    req = request()
    req.response_format = ResponseFormat("application/json", json_schema=schema)
    deltas, finished = await generate(InspectBackend(), req)
    value = json.loads("".join(deltas))
    assert value["file"] == "huge.mp4" and set(value) == {"file", "seconds"}
    assert finished.usage.input_tokens == (await InspectBackend().count_tokens(req)).input_tokens


async def test_inspect_calls_a_declared_function_under_any() -> None:
    from gemfiles.domain.calls import FunctionCalled, FunctionCallingConfig, FunctionDeclaration

    req = request()
    req.tools = (
        FunctionDeclaration(
            "lookup",
            parameters={"type": "OBJECT", "properties": {"q": {"type": "STRING"}}, "required": ["q"]},
        ),
    )
    req.tool_config = FunctionCallingConfig("ANY")
    events = [event async for event in InspectBackend().generate(req)]
    assert isinstance(events[0], FunctionCalled) and events[0].call.name == "lookup"
    assert events[0].call.args == {"q": "huge.mp4"} and isinstance(events[-1], Finished)


async def test_inspect_report_lists_function_call_turns() -> None:
    from gemfiles.domain.calls import FunctionCall

    history = Message(
        "model", [Part("function_call", function_call=FunctionCall("lookup", {"q": "x"}, id="c1"))]
    )
    req = ModelRequest(
        "m",
        [Message("user", [Part("text", text="go")]), history, Message("user", [Part("text", text="and?")])],
    )
    deltas, _ = await generate(InspectBackend(), req)
    assert 'Turn 2 (model):\n  Function call: lookup {"q":"x"} (id c1)\n' in "".join(deltas)
