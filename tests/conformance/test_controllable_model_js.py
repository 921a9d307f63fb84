"""The JS SDK (@google/genai), unmodified, against the controllable model: JSON for a schema (unary and
streamed), function calls under ANY (unary and streamed) and the answer to a functionResponse, an
interaction that calls a function, and a scripted 429 with its RetryInfo."""

from __future__ import annotations

import json

import httpx
import jsonschema

from tests.conformance.test_models_js import pytestmark as js_marks
from tests.conformance.test_models_js import run_script
from tests.support import LiveServer

pytestmark = js_marks

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
    "required": ["city", "unit"],
}
REPORT = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "pages": {"type": "integer"}, "draft": {"type": "boolean"}},
    "required": ["title", "pages", "draft"],
}


def test_js_sdk_gets_json_function_calls_and_scripted_errors(
    live_server: LiveServer, api_key: str, http: httpx.Client
) -> None:
    rules = [
        {"match": {"text": "busy"}, "answer": {"error": {"code": 429, "retry_delay": 1.5, "retry_after": 2}}}
    ]
    assert http.put("/_internal/rules", json=rules).status_code == 200
    result = run_script(live_server, api_key, "models_tools.mjs")

    jsonschema.validate(json.loads(result["jsonText"]), REPORT)
    jsonschema.validate(json.loads(result["streamed"]), REPORT)

    call = result["call"]
    assert call["name"] == "get_weather" and call["id"].startswith("call-")
    jsonschema.validate(call["args"], WEATHER)
    assert [c["name"] for c in result["streamCalls"]] == ["get_weather"]
    assert result["answered"] == 'get_weather returned {"temperature":21}.'

    assert result["interactionStatus"] == "requires_action"
    step = result["interactionSteps"][0]
    assert step["type"] == "function_call" and step["name"] == "get_weather" and step["id"]
    jsonschema.validate(step["arguments"], WEATHER)

    busy = result["busy"]
    assert busy["status"] == 429 and busy["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"} in busy["error"][
        "details"
    ]
