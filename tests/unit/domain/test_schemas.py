"""Google's OpenAPI-subset schemas read as JSON Schema."""

from __future__ import annotations

import pytest

from gemfiles.domain.calls import FunctionDeclaration, ResponseFormat
from gemfiles.domain.schemas import SchemaError, conforms, from_openapi, resolve


def test_convert_openapi_types_to_lower_case_json_schema() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {
            "title": {"type": "STRING", "description": "the title"},
            "pages": {"type": "INTEGER", "minimum": 1},
            "tags": {
                "type": "ARRAY",
                "items": {"type": "STRING", "format": "enum", "enum": ["a", "b"]},
                "minItems": "1",
            },
        },
        "required": ["title"],
    }
    assert from_openapi(schema) == {
        "type": "object",
        "properties": {
            "title": {"type": "string", "description": "the title"},
            "pages": {"type": "integer", "minimum": 1},
            "tags": {
                "type": "array",
                "items": {"type": "string", "format": "enum", "enum": ["a", "b"]},
                "minItems": 1,
            },
        },
        "required": ["title"],
    }


def test_convert_nullable_to_a_null_type_enum_value_or_branch() -> None:
    assert from_openapi({"type": "STRING", "nullable": True}) == {"type": ["string", "null"]}
    assert from_openapi({"type": "STRING", "enum": ["x"], "nullable": True})["enum"] == ["x", None]
    assert from_openapi({"anyOf": [{"type": "STRING"}], "nullable": True}) == {
        "anyOf": [{"type": "string"}, {"type": "null"}]
    }


def test_convert_orders_properties_by_property_ordering() -> None:
    schema = {
        "type": "OBJECT",
        "properties": {"a": {"type": "STRING"}, "b": {"type": "STRING"}, "c": {"type": "STRING"}},
        "propertyOrdering": ["c", "a"],
    }
    assert list(from_openapi(schema)["properties"]) == ["c", "a", "b"]


def test_convert_accepts_snake_case_field_names() -> None:
    assert from_openapi({"type": "ARRAY", "items": {"type": "NUMBER"}, "max_items": "3"}) == {
        "type": "array",
        "items": {"type": "number"},
        "maxItems": 3,
    }


def test_convert_defs_and_refs() -> None:
    schema = {"type": "OBJECT", "properties": {"p": {"ref": "#/defs/P"}}, "defs": {"P": {"type": "BOOLEAN"}}}
    converted = from_openapi(schema)
    assert converted["properties"]["p"] == {"$ref": "#/$defs/P"}
    assert resolve("#/$defs/P", converted) == {"type": "boolean"}


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        ({"type": "STRUCT"}, "schema.type"),
        ({"type": "OBJECT", "properties": {"a": {"type": "FOO"}}}, "schema.properties.a.type"),
        ({"type": "ARRAY", "items": {"type": "STRING"}, "minItems": "many"}, "schema.minItems"),
        ({"type": "OBJECT", "required": "a"}, "schema.required"),
        ("OBJECT", "schema"),
        ({"type": "STRING", "minLength": 2.5}, "schema.minLength"),
        ({"type": "STRING", "maxLength": float("inf")}, "schema.maxLength"),
    ],
)
def test_convert_refuses_a_bad_schema_naming_where(schema: object, where: str) -> None:
    with pytest.raises(SchemaError, match=f"'{where}'") as caught:
        from_openapi(schema)
    assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"


def test_resolve_refuses_a_remote_reference() -> None:
    with pytest.raises(SchemaError, match="only references within the schema"):
        resolve("https://example.com/s.json", {})


def test_conforms_tells_one_of_branches_apart() -> None:
    root = {"$defs": {"N": {"type": "integer", "maximum": 3}}}
    assert conforms(2, {"$ref": "#/$defs/N"}, root)
    assert not conforms(5, {"$ref": "#/$defs/N"}, root)
    assert not conforms({"a": 1}, {"type": "object", "required": ["b"]}, root)
    assert not conforms(True, {"type": "integer"}, root)


def test_function_declaration_parameters_as_json_schema() -> None:
    google = FunctionDeclaration("f", parameters={"type": "OBJECT", "properties": {"x": {"type": "NUMBER"}}})
    assert google.json_schema() == {"type": "object", "properties": {"x": {"type": "number"}}}
    raw = {"type": "object", "properties": {"y": {"type": "string"}}}
    assert FunctionDeclaration("g", parameters_json_schema=raw).json_schema() is raw
    assert FunctionDeclaration("h").json_schema() == {"type": "object", "properties": {}}


def test_response_format_schema_prefers_json_schema() -> None:
    assert ResponseFormat("application/json", schema={"type": "STRING"}).effective_schema() == {
        "type": "string"
    }
    assert ResponseFormat("application/json", json_schema={"type": "integer"}).effective_schema() == {
        "type": "integer"
    }
    assert ResponseFormat().effective_schema() is None and not ResponseFormat().is_json
    assert ResponseFormat("text/x.enum").is_enum
