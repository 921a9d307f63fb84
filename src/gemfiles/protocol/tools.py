"""Function calling and structured output on the wire: ``tools``, ``toolConfig``, response formats and
function-call parts, read in both spellings (the Python SDK writes snake_case inside some objects, the JS
SDK camelCase), and function calls rendered back.

generateContent::

    tools: [{functionDeclarations: [{name, description, parameters | parametersJsonSchema}]}]
    toolConfig: {functionCallingConfig: {mode, allowedFunctionNames}}
    generationConfig: {responseMimeType, responseSchema | responseJsonSchema}
    parts: {functionCall: {name, args, id}} | {functionResponse: {name, response, id}}

interactions::

    tools: [{type: "function", name, description, parameters}]
    generation_config: {tool_choice: "auto" | "any" | "none" | "validated" | {allowed_tools: {mode, tools}}}
    response_format: {type: "text", mime_type, schema} | a JSON Schema; response_mime_type
    steps: {type: "function_call", id, name, arguments} | {type: "function_result", call_id, name, result}
"""

from __future__ import annotations

from typing import Any, get_args

from gemfiles.domain.calls import (
    FunctionCall,
    FunctionCallingConfig,
    FunctionCallingMode,
    FunctionDeclaration,
    FunctionResponse,
    ResponseFormat,
)
from gemfiles.errors import InvalidArgument
from gemfiles.protocol.wire import get

MODES: tuple[str, ...] = get_args(FunctionCallingMode)


def _object(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidArgument(f"Invalid value at '{where}': expected an object.")
    return value


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"Invalid value at '{where}.name': a function name is required.")
    return value


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


# generateContent ----------------------------------------------------------------------


def function_declarations(body: dict[str, Any]) -> tuple[FunctionDeclaration, ...]:
    """The declared functions of ``tools`` (other tools, such as Google Search, are ignored)."""
    tools = body.get("tools")
    if tools is None:
        return ()
    if not isinstance(tools, list):
        raise InvalidArgument("Invalid value at 'tools': expected a list of Tool objects.")
    declared: list[FunctionDeclaration] = []
    for i, tool in enumerate(tools):
        tool = _object(tool, f"tools[{i}]") or {}
        items = get(tool, "function_declarations") or []
        if not isinstance(items, list):
            raise InvalidArgument(f"Invalid value at 'tools[{i}].function_declarations': expected a list.")
        for j, item in enumerate(items):
            where = f"tools[{i}].function_declarations[{j}]"
            declared.append(declaration(_object(item, where) or {}, where))
    return tuple(declared)


def declaration(item: dict[str, Any], where: str, *, json_schema: bool = False) -> FunctionDeclaration:
    parameters = _object(item.get("parameters"), f"{where}.parameters")
    schema = _object(get(item, "parameters_json_schema"), f"{where}.parameters_json_schema")
    if json_schema and schema is None:
        parameters, schema = None, parameters
    description = item.get("description")
    return FunctionDeclaration(
        _name(item.get("name"), where),
        description if isinstance(description, str) else "",
        parameters=parameters,
        parameters_json_schema=schema,
    )


def calling_config(body: dict[str, Any]) -> FunctionCallingConfig:
    tool_config = _object(get(body, "tool_config"), "tool_config")
    config = _object(get(tool_config, "function_calling_config"), "tool_config.function_calling_config")
    if not config:
        return FunctionCallingConfig()
    return _config(config.get("mode"), get(config, "allowed_function_names"), "tool_config")


def _config(mode: Any, allowed: Any, where: str) -> FunctionCallingConfig:
    mode = (mode or "AUTO").upper() if isinstance(mode, str) or mode is None else mode
    if mode == "MODE_UNSPECIFIED":
        mode = "AUTO"
    if mode not in MODES:
        raise InvalidArgument(f"Invalid value at '{where}.mode': expected one of {', '.join(MODES)}.")
    if allowed is None:
        allowed = []
    if not isinstance(allowed, list) or not all(isinstance(n, str) for n in allowed):
        raise InvalidArgument(f"Invalid value at '{where}': allowed function names must be strings.")
    return FunctionCallingConfig(mode, tuple(allowed))


def response_format(config: dict[str, Any]) -> ResponseFormat:
    """``responseMimeType`` with ``responseSchema`` or ``responseJsonSchema`` of a generation config whose
    top-level keys are already snake_case."""
    mime = config.get("response_mime_type")
    schema = _object(config.get("response_schema"), "generation_config.response_schema")
    json_schema = config.get("response_json_schema")
    json_schema = _object(json_schema, "generation_config.response_json_schema")
    if mime is not None and not isinstance(mime, str):
        raise InvalidArgument("Invalid value at 'generation_config.response_mime_type': expected a string.")
    if mime is None and (schema is not None or json_schema is not None):
        mime = "application/json"
    return ResponseFormat(mime or "text/plain", schema, json_schema)


def function_part(part: dict[str, Any], where: str) -> FunctionCall | FunctionResponse | None:
    call = get(part, "function_call")
    if call is not None:
        call = _object(call, f"{where}.function_call") or {}
        args = _object(call.get("args"), f"{where}.function_call.args") or {}
        return FunctionCall(_name(call.get("name"), f"{where}.function_call"), args, _id(call.get("id")))
    result = get(part, "function_response")
    if result is not None:
        result = _object(result, f"{where}.function_response") or {}
        response = _object(result.get("response"), f"{where}.function_response.response") or {}
        name = _name(result.get("name"), f"{where}.function_response")
        return FunctionResponse(name, response, _id(result.get("id")))
    return None


def call_part(call: FunctionCall) -> dict[str, Any]:
    """A ``functionCall`` part of an answer."""
    out: dict[str, Any] = {"name": call.name, "args": call.args}
    if call.id:
        out["id"] = call.id
    return {"functionCall": out}


# Interactions ----------------------------------------------------------------------


def interaction_tools(body: dict[str, Any]) -> tuple[FunctionDeclaration, ...]:
    tools = body.get("tools")
    if tools is None:
        return ()
    if not isinstance(tools, list):
        raise InvalidArgument("Invalid value at 'tools': expected a list of tools.")
    declared = []
    for i, tool in enumerate(tools):
        tool = _object(tool, f"tools[{i}]") or {}
        if tool.get("type", "function") == "function":
            declared.append(declaration(tool, f"tools[{i}]", json_schema=True))
    return tuple(declared)


def interaction_tool_config(generation_config: dict[str, Any]) -> FunctionCallingConfig:
    choice = generation_config.get("tool_choice")
    if choice is None:
        return FunctionCallingConfig()
    if isinstance(choice, str):
        return _config(choice, None, "generation_config.tool_choice")
    allowed = _object(get(_object(choice, "generation_config.tool_choice"), "allowed_tools"), "allowed_tools")
    allowed = allowed or {}
    return _config(allowed.get("mode"), allowed.get("tools"), "generation_config.tool_choice.allowed_tools")


def interaction_response_format(body: dict[str, Any]) -> ResponseFormat:
    value = get(body, "response_format")
    mime = get(body, "response_mime_type")
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, dict) and v.get("type") in (None, "text")), None)
    if value is None:
        return ResponseFormat(mime) if isinstance(mime, str) and mime else ResponseFormat()
    value = _object(value, "response_format") or {}
    if value.get("type") == "text" or "schema" in value:
        mime = get(value, "mime_type") or mime
        schema = _object(value.get("schema"), "response_format.schema")
        return ResponseFormat(mime or ("application/json" if schema else "text/plain"), json_schema=schema)
    return ResponseFormat(mime if isinstance(mime, str) and mime else "application/json", json_schema=value)


def call_step(call: FunctionCall) -> dict[str, Any]:
    return {"type": "function_call", "id": call.id or "", "name": call.name, "arguments": call.args}
