"""The Python SDK, unmodified, against the controllable model: response schemas (``response.parsed``),
enums, function calling (ANY, AUTO with a rule, automatic function calling), streaming and interactions.

JSON answers are checked with a JSON Schema validator against the schema the SDK sent.
"""

from __future__ import annotations

import enum
import hashlib
import io
import json
from typing import Any

import httpx
import jsonschema
import pydantic
import pytest
from google import genai
from google.genai import types

MODEL = "gemini-2.5-flash"


class Invoice(pydantic.BaseModel):
    vendor: str
    total: float
    lines: list[str]
    paid: bool


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="The weather in a city.",
    parameters_json_schema={
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
        "required": ["city", "unit"],
    },
)


def weather_tools(mode: str) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode=mode)),  # type: ignore[arg-type]
    )


def put_rules(http: httpx.Client, rules: list[dict[str, Any]]) -> dict[str, Any]:
    reply = http.put("/_internal/rules", json=rules)
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


# Structured output -------------------------------------------------------------------------------


def test_generate_content_with_pydantic_schema_answers_valid_json_that_parses(client: genai.Client) -> None:
    config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=Invoice)
    response = client.models.generate_content(model=MODEL, contents="Read the invoice", config=config)
    assert isinstance(response.parsed, Invoice)
    assert response.text is not None
    jsonschema.validate(json.loads(response.text), Invoice.model_json_schema())
    again = client.models.generate_content(model=MODEL, contents="Read the invoice", config=config)
    assert again.text == response.text  # the same request gets the same instance


def test_generate_content_with_json_schema_dict_answers_an_instance(client: genai.Client) -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
        "required": ["title", "tags"],
    }
    config = types.GenerateContentConfig(response_mime_type="application/json", response_json_schema=schema)
    response = client.models.generate_content(model=MODEL, contents="Summarize", config=config)
    assert response.text is not None
    value = json.loads(response.text)
    jsonschema.validate(value, schema)
    assert value["title"] == "Summarize"  # the first free string carries what the model received


def test_generate_content_with_text_enum_answers_one_value(client: genai.Client) -> None:
    config = types.GenerateContentConfig(response_mime_type="text/x.enum", response_schema=Color)
    response = client.models.generate_content(model=MODEL, contents="Pick a color", config=config)
    assert response.text in {"red", "green", "blue"}
    assert isinstance(response.parsed, Color)


def test_stream_with_schema_joins_to_valid_json(client: genai.Client) -> None:
    config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=Invoice)
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="Read it", config=config))
    text = "".join(chunk.text or "" for chunk in chunks)
    Invoice.model_validate_json(text)
    assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP


def test_count_tokens_counts_the_declared_tools_as_usage_does(client: genai.Client) -> None:
    config = weather_tools("ANY")
    response = client.models.generate_content(model=MODEL, contents="Weather?", config=config)
    counted = client.models.count_tokens(
        model=MODEL,
        contents=[
            types.Content(
                role="user",
                parts=[types.Part(text="Weather?")],
            )
        ],
    )
    assert response.usage_metadata is not None and counted.total_tokens is not None
    # The tool declaration is part of the input: usage counts it, a count of the text alone does not.
    assert response.usage_metadata.prompt_token_count > counted.total_tokens  # type: ignore[operator]


# Function calling ---------------------------------------------------------------------------------


def test_mode_any_answers_a_function_call_with_valid_args_and_an_id(client: genai.Client) -> None:
    response = client.models.generate_content(
        model=MODEL, contents="What is the weather in Oslo?", config=weather_tools("ANY")
    )
    calls = response.function_calls
    assert calls and len(calls) == 1
    assert calls[0].name == "get_weather" and calls[0].id
    jsonschema.validate(calls[0].args, WEATHER.parameters_json_schema)  # type: ignore[arg-type]
    candidate = response.candidates[0]  # type: ignore[index]
    assert candidate.finish_reason == types.FinishReason.STOP


def test_mode_auto_answers_text_unless_a_rule_forces_a_call(client: genai.Client, http: httpx.Client) -> None:
    plain = client.models.generate_content(model=MODEL, contents="Hello", config=weather_tools("AUTO"))
    assert not plain.function_calls and plain.text
    put_rules(http, [{"match": {"function": "get_weather"}, "answer": {"function_calls": [{}]}}])
    forced = client.models.generate_content(model=MODEL, contents="Hello", config=weather_tools("AUTO"))
    assert forced.function_calls and forced.function_calls[0].name == "get_weather"
    jsonschema.validate(forced.function_calls[0].args, WEATHER.parameters_json_schema)  # type: ignore[arg-type]


def test_automatic_function_calling_completes_its_loop(client: genai.Client, http: httpx.Client) -> None:
    called: list[str] = []

    def get_weather(city: str) -> dict[str, Any]:
        """The weather in a city."""
        called.append(city)
        return {"temperature": 21, "city": city}

    put_rules(http, [{"match": {"function": "get_weather", "turn": 1}, "answer": {"function_calls": [{}]}}])
    config = types.GenerateContentConfig(tools=[get_weather])
    response = client.models.generate_content(model=MODEL, contents="Weather in Oslo?", config=config)
    assert len(called) == 1
    assert response.text is not None and "get_weather returned" in response.text
    assert '"temperature":21' in response.text
    history = response.automatic_function_calling_history or []
    assert any(p.function_call for c in history for p in c.parts or [])


def test_stream_carries_a_function_call_chunk(client: genai.Client) -> None:
    chunks = list(
        client.models.generate_content_stream(model=MODEL, contents="Weather?", config=weather_tools("ANY"))
    )
    calls = [call for chunk in chunks for call in chunk.function_calls or []]
    assert [c.name for c in calls] == ["get_weather"] and calls[0].id


def test_function_response_turn_gets_a_text_that_uses_it(client: genai.Client) -> None:
    contents = [
        types.Content(role="user", parts=[types.Part(text="Weather in Oslo?")]),
        types.Content(
            role="model",
            parts=[
                types.Part(
                    function_call=types.FunctionCall(name="get_weather", args={"city": "Oslo"}, id="c1")
                )
            ],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(name="get_weather", response={"t": 3}, id="c1")
                )
            ],
        ),
    ]
    response = client.models.generate_content(model=MODEL, contents=contents, config=weather_tools("ANY"))
    assert response.text == 'get_weather returned {"t":3}.'


# Interactions ------------------------------------------------------------------------------------


def test_interactions_function_call_then_result(client: genai.Client) -> None:
    tool = {"type": "function", "name": "get_weather", "parameters": WEATHER.parameters_json_schema}
    first = client.interactions.create(
        model=MODEL, input="Weather in Oslo?", tools=[tool], generation_config={"tool_choice": "any"}
    )
    steps = [s for s in first.steps or [] if getattr(s, "type", None) == "function_call"]
    assert len(steps) == 1
    call = steps[0]
    assert call.name == "get_weather" and call.id  # type: ignore[union-attr]
    jsonschema.validate(call.arguments, WEATHER.parameters_json_schema)  # type: ignore[union-attr, arg-type]
    second = client.interactions.create(
        model=MODEL,
        previous_interaction_id=first.id,
        input=[{"type": "function_result", "call_id": call.id, "name": "get_weather", "result": {"t": 3}}],  # type: ignore[union-attr]
        tools=[tool],
    )
    assert second.output_text == 'get_weather returned {"t":3}.'


def test_interactions_stream_has_a_function_call_step(client: genai.Client) -> None:
    tool = {"type": "function", "name": "get_weather", "parameters": WEATHER.parameters_json_schema}
    events = list(
        client.interactions.create(
            model=MODEL, input="Weather?", tools=[tool], generation_config={"tool_choice": "any"}, stream=True
        )
    )
    kinds = [e.event_type for e in events]
    assert kinds[0] == "interaction.created" and kinds[-1] == "interaction.completed"
    starts = [e for e in events if e.event_type == "step.start"]
    assert starts[0].step.type == "function_call" and starts[0].step.name == "get_weather"  # type: ignore[union-attr]
    deltas = [e for e in events if e.event_type == "step.delta"]
    jsonschema.validate(json.loads(deltas[0].delta.arguments), WEATHER.parameters_json_schema)  # type: ignore[union-attr, arg-type]


def test_interactions_response_format_answers_valid_json(client: genai.Client) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 3}}, "required": ["n"]}
    interaction = client.interactions.create(
        model=MODEL,
        input="Count",
        response_format={"type": "text", "mime_type": "application/json", "schema": schema},
    )
    assert interaction.output_text is not None
    jsonschema.validate(json.loads(interaction.output_text), schema)


# Async ------------------------------------------------------------------------------------------------


async def test_async_schema_parses_and_automatic_function_calling_completes(
    aclient: genai.client.AsyncClient, http: httpx.Client
) -> None:
    config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=Invoice)
    response = await aclient.models.generate_content(model=MODEL, contents="Read", config=config)
    assert isinstance(response.parsed, Invoice)

    text = ""
    async for chunk in await aclient.models.generate_content_stream(
        model=MODEL, contents="Read", config=config
    ):
        text += chunk.text or ""
    Invoice.model_validate_json(text)

    called: list[str] = []

    async def get_weather(city: str) -> dict[str, Any]:
        """The weather in a city."""
        called.append(city)
        return {"temperature": 18}

    put_rules(http, [{"match": {"function": "get_weather", "turn": 1}, "answer": {"function_calls": [{}]}}])
    answer = await aclient.models.generate_content(
        model=MODEL, contents="Weather?", config=types.GenerateContentConfig(tools=[get_weather])
    )
    assert called and answer.text is not None and '"temperature":18' in answer.text

    forced = await aclient.models.generate_content(
        model=MODEL, contents="Weather?", config=weather_tools("ANY")
    )
    assert forced.function_calls and forced.function_calls[0].name == "get_weather"


# Rules, errors, cuts and the journal through the SDK ------------------------------------------------


def test_scripted_429_with_retry_info_is_surfaced_by_the_sdk(
    client: genai.Client, http: httpx.Client
) -> None:
    put_rules(
        http,
        [{"match": {"text": "busy"}, "answer": {"error": {"code": 429, "retry_delay": 2, "retry_after": 2}}}],
    )
    with pytest.raises(genai.errors.APIError) as caught:
        client.models.generate_content(model=MODEL, contents="busy now")
    error = caught.value
    assert error.code == 429 and error.status == "RESOURCE_EXHAUSTED"
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"} in (
        error.details or {}
    ).get("error", {}).get("details", [])
    raw = http.post(
        f"/v1beta/models/{MODEL}:generateContent", json={"contents": [{"parts": [{"text": "busy"}]}]}
    )
    assert raw.status_code == 429 and raw.headers["retry-after"] == "2"


def test_scripted_stream_cut_fails_the_sdk_stream(client: genai.Client, http: httpx.Client) -> None:
    put_rules(
        http,
        [
            {
                "match": {"text": "story"},
                "answer": {"text": "Once upon a time", "chunk_size": 4, "cut_after": 2},
            }
        ],
    )
    received: list[str] = []
    with pytest.raises(Exception) as caught:
        for chunk in client.models.generate_content_stream(model=MODEL, contents="a story"):
            received.append(chunk.text or "")
    assert not isinstance(caught.value, AssertionError)
    assert received == ["Once", " upo"]


def test_scripted_text_streams_in_the_given_chunks(client: genai.Client, http: httpx.Client) -> None:
    put_rules(
        http,
        [
            {
                "match": {"text": "story"},
                "answer": {"text": "Once upon a time", "chunks": [1, 2], "chunk_size": 5},
            }
        ],
    )
    pieces = [
        c.text for c in client.models.generate_content_stream(model=MODEL, contents="a story") if c.text
    ]
    assert pieces == ["O", "nc", "e upo", "n a t", "ime"]


def test_journal_records_what_the_model_received_and_reset_forgets_everything(
    client: genai.Client, http: httpx.Client
) -> None:
    file = client.files.upload(
        file=io.BytesIO(b"hello journal\n"), config={"mime_type": "text/plain", "display_name": "j.txt"}
    )
    put_rules(http, [{"name": "hi", "match": {"text": "hi"}, "answer": {"text": "scripted"}}])
    client.models.generate_content(model=MODEL, contents=[file, "hi"], config=weather_tools("AUTO"))
    entries = http.get("/_internal/journal").json()["entries"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["method"] == "generateContent" and entry["rule"] == "rule 0 ('hi')"
    assert entry["turns"][0]["texts"] == ["hi"] and entry["tools"] == ["get_weather"]
    seen = entry["turns"][0]["files"][0]
    assert seen["name"] == file.name and seen["sha256"] == hashlib.sha256(b"hello journal\n").hexdigest()
    assert entry["answer"]["text"] == "scripted" and entry["answer"]["outcome"] == "finished"

    assert http.post("/_internal/reset").json() == {"deletedFiles": 1}
    assert http.get("/_internal/journal").json() == {"entries": []}
    assert http.get("/_internal/rules").json()["rules"] == []
    assert list(client.files.list()) == []


def test_bad_rules_are_refused_naming_the_rule_and_field(http: httpx.Client) -> None:
    reply = http.put(
        "/_internal/rules",
        json=[{"answer": {"text": "ok"}}, {"name": "x", "answer": {"error": {"code": 200}}}],
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["message"].startswith("rules: rule 1 ('x'): answer.error.code:")


def test_controls_are_off_unless_enabled(server_factory: Any) -> None:
    server = server_factory()
    reply = httpx.get(f"{server.url}/_internal/rules", headers={"x-goog-api-key": "k"})
    assert reply.status_code == 404


def test_start_up_script_answers_every_project(server_factory: Any, tmp_path: Any) -> None:
    script = tmp_path / "rules.yaml"
    script.write_text("rules:\n  - match: {text: ping}\n    answer: {text: pong}\n")
    server = server_factory(GEMFILES_SCRIPT=str(script))
    for key in ("a-key", "b-key"):
        with genai.Client(api_key=key, http_options={"base_url": server.url}) as sdk:
            assert sdk.models.generate_content(model=MODEL, contents="ping").text == "pong"


def test_interactions_stream_cut_closes_without_completed(http: httpx.Client) -> None:
    put_rules(
        http, [{"match": {"text": "story"}, "answer": {"text": "abcdefgh", "chunk_size": 2, "cut_after": 1}}]
    )
    received = b""
    with pytest.raises(httpx.RemoteProtocolError):
        with http.stream(
            "POST", "/v1beta/interactions", json={"model": MODEL, "input": "story", "stream": True}
        ) as r:
            for block in r.iter_bytes():
                received += block
    assert b'"text":"ab"' in received and b"interaction.completed" not in received
    entry = http.get("/_internal/journal").json()["entries"][-1]
    assert entry["method"] == "interactions" and entry["answer"]["outcome"] == "dropped"
