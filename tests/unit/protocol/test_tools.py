"""Reading tools, tool config, response formats and function parts in every spelling the SDKs send."""

from __future__ import annotations

import pytest

from gemfiles.domain.calls import FunctionCall, FunctionResponse
from gemfiles.errors import InvalidArgument
from gemfiles.protocol.contents import snake_keys
from gemfiles.protocol.tools import (
    call_part,
    calling_config,
    function_declarations,
    function_part,
    interaction_response_format,
    interaction_tool_config,
    interaction_tools,
    response_format,
)

PARAMS = {"type": "OBJECT", "properties": {"q": {"type": "STRING"}}}


def test_function_declarations_read_camel_and_snake_case_and_skip_other_tools() -> None:
    body = {
        "tools": [
            {"functionDeclarations": [{"name": "a", "parameters": PARAMS}]},
            {"function_declarations": [{"name": "b", "parameters_json_schema": {"type": "object"}}]},
            {"googleSearch": {}},
        ]
    }
    declared = function_declarations(body)
    assert [d.name for d in declared] == ["a", "b"]
    assert declared[0].parameters == PARAMS and declared[1].parameters_json_schema == {"type": "object"}


def test_a_declaration_without_a_name_is_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"tools\[0\]\.function_declarations\[0\]\.name"):
        function_declarations({"tools": [{"functionDeclarations": [{"parameters": PARAMS}]}]})


def test_calling_config_reads_mode_and_allowed_names_and_refuses_unknown_modes() -> None:
    config = calling_config(
        {"toolConfig": {"functionCallingConfig": {"mode": "any", "allowedFunctionNames": ["a"]}}}
    )
    assert config.mode == "ANY" and config.allowed_function_names == ("a",)
    unspecified = calling_config({"tool_config": {"function_calling_config": {"mode": "MODE_UNSPECIFIED"}}})
    assert unspecified.mode == "AUTO"
    with pytest.raises(InvalidArgument, match="mode"):
        calling_config({"toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}})


def test_response_format_reads_both_spellings_and_implies_json_for_a_schema() -> None:
    camel = response_format(
        snake_keys({"responseMimeType": "application/json", "responseSchema": PARAMS}, "g")
    )
    assert camel.is_json and camel.schema == PARAMS
    implied = response_format(snake_keys({"response_json_schema": {"type": "object"}}, "g"))
    assert implied.is_json and implied.json_schema == {"type": "object"}
    assert response_format({}).mime_type == "text/plain"


def test_function_parts_read_ids_and_render_back() -> None:
    call = function_part({"functionCall": {"name": "f", "args": {"x": 1}, "id": "c1"}}, "p")
    assert call == FunctionCall("f", {"x": 1}, "c1")
    result = function_part({"function_response": {"name": "f", "response": {"ok": True}}}, "p")
    assert result == FunctionResponse("f", {"ok": True}, None)
    assert call_part(FunctionCall("f", {}, "c1")) == {"functionCall": {"name": "f", "args": {}, "id": "c1"}}
    with pytest.raises(InvalidArgument, match="args"):
        function_part({"functionCall": {"name": "f", "args": [1]}}, "p")


def test_interaction_tools_tool_choice_and_response_format() -> None:
    tools = interaction_tools(
        {"tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}]}
    )
    assert tools[0].parameters_json_schema == {"type": "object"} and tools[0].parameters is None
    assert interaction_tool_config({"tool_choice": "any"}).mode == "ANY"
    allowed = interaction_tool_config(
        {"tool_choice": {"allowed_tools": {"mode": "validated", "tools": ["f"]}}}
    )
    assert allowed.mode == "VALIDATED" and allowed.allowed_function_names == ("f",)
    typed = interaction_response_format(
        {"response_format": {"type": "text", "mime_type": "application/json", "schema": {"type": "object"}}}
    )
    assert typed.is_json and typed.json_schema == {"type": "object"}
    legacy = interaction_response_format(
        {"response_format": {"type": "object"}, "response_mime_type": "application/json"}
    )
    assert legacy.is_json and legacy.json_schema == {"type": "object"}
