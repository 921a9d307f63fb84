"""Deterministic instances of JSON Schemas: valid (checked by the jsonschema library), stable per seed."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gemfiles.domain.instances import enum_value, instance, seed_of
from gemfiles.domain.schemas import SchemaError, from_openapi

from .schema_strategies import google_schemas, json_schemas, with_refs

CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER


def assert_valid(value: Any, schema: Any) -> None:
    jsonschema.Draft202012Validator(schema, format_checker=CHECKER).validate(value)


PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
        "email": {"type": "string", "format": "email"},
        "born": {"type": "string", "format": "date"},
        "id": {"type": "string", "format": "uuid"},
        "tags": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 2,
            "maxItems": 3,
            "uniqueItems": True,
        },
        "role": {"enum": ["admin", "user"]},
        "kind": {"const": "person"},
        "score": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "nickname": {"type": ["string", "null"]},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}


def test_generate_instance_valid_for_a_typical_object_schema() -> None:
    value = instance(PERSON, seed=seed_of("request"), text="report.pdf")
    assert_valid(value, PERSON)
    assert list(value) == list(PERSON["properties"])  # every property, in declaration order


def test_generate_instance_same_for_the_same_seed_and_different_for_another() -> None:
    first = instance(PERSON, seed=seed_of("a"), text="x")
    assert instance(PERSON, seed=seed_of("a"), text="x") == first
    assert any(instance(PERSON, seed=seed_of("b", n), text="x") != first for n in range(5))


def test_generate_instance_puts_the_text_in_the_first_free_string() -> None:
    value = instance(PERSON, seed=1, text="quarterly-report.pdf")
    assert value["name"] == "quarterly-report.pdf"
    assert "quarterly-report.pdf" not in (value["nickname"], *value["tags"])


def test_generate_instance_truncates_the_text_to_max_length() -> None:
    schema = {"type": "string", "maxLength": 5}
    assert instance(schema, seed=1, text="a long display name") == "a lon"


def test_generate_instance_pads_a_string_to_min_length() -> None:
    schema = {"type": "string", "minLength": 30}
    value = instance(schema, seed=1, text="short")
    assert len(value) >= 30
    assert_valid(value, schema)


def test_generate_instance_follows_refs_and_ends_recursion() -> None:
    tree = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "label": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
                "required": ["label", "children"],
            }
        },
        "$ref": "#/$defs/Node",
    }
    value = instance(tree, seed=7)
    assert_valid(value, tree)


def test_generate_instance_picks_exactly_one_branch_of_one_of() -> None:
    schema = {"oneOf": [{"type": "number"}, {"type": "integer"}, {"type": "string"}]}
    value = instance(schema, seed=3)
    assert_valid(value, schema)


def test_generate_instance_merges_all_of() -> None:
    schema = {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "integer", "minimum": 5}}, "required": ["a"]},
            {"properties": {"a": {"maximum": 6}, "b": {"type": "boolean"}}, "required": ["b"]},
        ]
    }
    value = instance(schema, seed=3)
    assert_valid(value, schema)
    assert value["a"] in (5, 6)


def test_generate_instance_fills_min_properties_from_additional_properties() -> None:
    schema = {"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 3}
    assert_valid(instance(schema, seed=3), schema)


def test_generate_instance_respects_max_properties_keeping_required_ones() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {}, "b": {}, "c": {}},
        "required": ["c"],
        "maxProperties": 1,
    }
    assert list(instance(schema, seed=3)) == ["c"]


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "integer", "multipleOf": 7, "minimum": 10, "maximum": 20},
        {"type": "number", "multipleOf": 0.25, "minimum": 0.3, "maximum": 0.6},
        {"type": "integer", "exclusiveMinimum": 1, "exclusiveMaximum": 3},
        {"type": "number", "exclusiveMinimum": 0.1, "exclusiveMaximum": 0.2},
        {"type": "number", "minimum": -5.5},
        {"type": "integer", "maximum": -1000},
    ],
)
def test_generate_number_within_bounds(schema: dict[str, Any]) -> None:
    assert_valid(instance(schema, seed=11), schema)


@pytest.mark.parametrize(
    "schema",
    [
        False,
        {"type": []},
        {"type": "integer", "minimum": 3, "maximum": 2},
        {"type": "string", "minLength": 4, "maxLength": 2},
        {"type": "array", "minItems": 2, "maxItems": 1},
        {"type": "object", "properties": {"a": {}, "b": {}}, "required": ["a", "b"], "maxProperties": 1},
        {"$ref": "#/$defs/Missing"},
        {"type": "string", "minLength": 10**7},
        {"type": "integer", "multipleOf": 1.7e306, "minimum": 1, "maximum": 10},
        {"type": "object", "required": None},
        {"type": "object", "properties": []},
        {"anyOf": []},
        {"type": 3},
    ],
)
def test_generate_instance_refuses_unsatisfiable_schema(schema: Any) -> None:
    with pytest.raises(SchemaError):
        instance(schema, seed=1)


def test_enum_value_prefers_the_text_when_it_is_a_value() -> None:
    schema = {"type": "string", "enum": ["positive", "negative", "neutral"]}
    assert enum_value(schema, seed=1, text=" negative ") == "negative"
    chosen = enum_value(schema, seed=1, text="what do you think?")
    assert chosen in schema["enum"] and enum_value(schema, seed=1, text="other") == chosen


def test_enum_value_refuses_a_schema_without_enum() -> None:
    with pytest.raises(SchemaError):
        enum_value({"type": "string"}, seed=1)


def test_seed_of_is_stable_across_processes() -> None:
    assert (
        seed_of("gemini-2.5-flash", "hello", ("ab" * 32,)) == 13314249796554255778
    )  # pinned: sha256, never hash()


PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(schema=json_schemas, seed=st.integers(0, 2**64 - 1), text=st.one_of(st.none(), st.text(max_size=30)))
def test_generated_instance_valid_for_any_generated_schema(
    schema: dict[str, Any], seed: int, text: str | None
) -> None:
    value = instance(schema, seed=seed, text=text)
    assert_valid(value, schema)
    assert instance(schema, seed=seed, text=text) == value


@PROPERTY
@given(schema=with_refs(), seed=st.integers(0, 2**64 - 1))
def test_generated_instance_valid_through_refs(schema: dict[str, Any], seed: int) -> None:
    assert_valid(instance(schema, seed=seed), schema)


@PROPERTY
@given(schema=google_schemas, seed=st.integers(0, 2**64 - 1))
def test_generated_instance_valid_for_converted_google_schema(schema: dict[str, Any], seed: int) -> None:
    converted = from_openapi(schema)
    jsonschema.Draft202012Validator.check_schema(converted)
    assert_valid(instance(converted, seed=seed, text="file.pdf"), converted)


def test_generate_empty_array_for_unconstrained_items() -> None:
    # The SDK sends a recursive model's children as {"type": "ARRAY", "items": {}}.
    assert instance({"type": "array", "items": {}}, seed=1) == []
    assert instance({"type": "array", "items": {}, "minItems": 2}, seed=1) != []


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"$ref": "#"}, "b": {"$ref": "#"}}, "required": ["a", "b"]},
        {"$ref": "#"},
        {"type": "array", "items": {"$ref": "#"}, "minItems": 3},
    ],
)
def test_generate_instance_refuses_a_schema_that_never_ends(schema: dict[str, Any]) -> None:
    with pytest.raises(SchemaError, match=r"too large or too deep|never end"):
        instance(schema, seed=1)
