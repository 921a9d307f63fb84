"""Whatever a client sends as a schema, a rule or a fault, the answer is a 400 (an InvalidArgument), never
another exception (a 500)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gemfiles.domain.faults import parse_faults
from gemfiles.domain.instances import instance
from gemfiles.domain.schemas import from_openapi
from gemfiles.domain.script import parse_rules
from gemfiles.errors import InvalidArgument

KEYS = st.sampled_from(
    [
        "type", "properties", "items", "required", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "$defs",
        "minLength", "maxLength", "minItems", "maxItems", "minimum", "maximum", "exclusiveMinimum",
        "exclusiveMaximum", "multipleOf", "format", "nullable", "additionalProperties", "minProperties",
        "maxProperties", "prefixItems", "uniqueItems", "pattern", "propertyOrdering", "ref", "defs",
        "match", "answer", "text", "json", "error", "code", "function_calls", "kind", "nth", "times", "seconds",
    ]
)  # fmt: skip
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=True),
    st.sampled_from(["string", "OBJECT", "object", "#", "#/$defs/a", "a", "date"]),
)
JSON = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.one_of(KEYS, st.text(max_size=3)), inner, max_size=4)
    ),
    max_leaves=15,
)
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def only_invalid_argument(call: Any, *args: Any) -> None:
    try:
        call(*args)
    except InvalidArgument:
        pass


@FUZZ
@given(value=JSON)
def test_any_json_schema_gives_an_instance_or_a_400(value: Any) -> None:
    only_invalid_argument(lambda v: instance(v, seed=1, text="t"), value)


@FUZZ
@given(value=JSON)
@example(value={"enum": False, "nullable": True})  # found by a run: a TypeError, not a 400, before the fix
def test_any_google_schema_converts_or_gives_a_400(value: Any) -> None:
    only_invalid_argument(lambda v: instance(from_openapi(v), seed=1), value)


@FUZZ
@given(value=JSON)
def test_any_script_loads_or_gives_a_400(value: Any) -> None:
    only_invalid_argument(parse_rules, value)
    only_invalid_argument(parse_faults, value)
