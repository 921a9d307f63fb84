"""Schemas of structured answers and function parameters: Google's OpenAPI subset turned into JSON Schema,
``$ref`` resolution, and a small conformance check used to pick ``oneOf`` branches.

Google's ``Schema`` (``responseSchema``, ``FunctionDeclaration.parameters``) is a subset of OpenAPI 3.0:
upper-case type names (``OBJECT``, ``STRING``...), ``nullable`` instead of a ``null`` type, 64-bit counts
(``minItems``, ``maxLength``...) that proto3 JSON may send as strings, ``propertyOrdering`` (the order the
model writes the properties in), ``defs`` and ``ref``. Everything downstream works on JSON Schema only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gemfiles.errors import InvalidArgument

JsonSchema = dict[str, Any] | bool

_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
_COUNTS = ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties")
_COPIED = ("format", "pattern", "title", "description", "default", "minimum", "maximum", "enum")
_SNAKE = re.compile(r"_([a-z])")


class SchemaError(InvalidArgument):
    """A schema that cannot be read, or one no instance satisfies."""


def _camel(key: str) -> str:
    # The SDKs send camelCase; a hand-written request may use the proto's snake_case names.
    return _SNAKE.sub(lambda m: m.group(1).upper(), key)


def _count(value: Any, where: str) -> int:
    # int64 fields arrive as JSON strings in proto3 JSON; a float must be whole.
    whole = isinstance(value, int | str) or (isinstance(value, float) and value.is_integer())
    try:
        number = int(value) if whole and not isinstance(value, bool) else None
    except (ValueError, OverflowError):
        number = None
    if number is None:
        raise SchemaError(f"Invalid schema at '{where}': expected a count, got {value!r}.")
    if number < 0:
        raise SchemaError(f"Invalid schema at '{where}': a count cannot be negative.")
    return number


def _ref(ref: Any, where: str) -> str:
    if not isinstance(ref, str):
        raise SchemaError(f"Invalid schema at '{where}': a reference is a string.")
    for prefix in ("#/defs/", "#/$defs/"):
        if ref.startswith(prefix):
            return "#/$defs/" + ref[len(prefix) :]
    return ref


def from_openapi(schema: Any, where: str = "schema") -> dict[str, Any]:
    """Google's OpenAPI-subset ``Schema`` as an equivalent JSON Schema (draft 2020-12 keywords)."""
    if not isinstance(schema, Mapping):
        raise SchemaError(f"Invalid schema at '{where}': expected an object.")
    source = {_camel(k): v for k, v in schema.items()}
    out: dict[str, Any] = {}
    kind = source.get("type")
    if kind is not None and kind != "TYPE_UNSPECIFIED":
        if not isinstance(kind, str) or kind.upper() not in _TYPES:
            raise SchemaError(f"Invalid schema at '{where}.type': unknown type {kind!r}.")
        out["type"] = kind.lower()
    for key in _COPIED:
        if source.get(key) is not None:
            out[key] = source[key]
    for key in _COUNTS:
        if source.get(key) is not None:
            out[key] = _count(source[key], f"{where}.{key}")
    if source.get("items") is not None:
        out["items"] = from_openapi(source["items"], f"{where}.items")
    if source.get("anyOf") is not None:
        branches = source["anyOf"]
        if not isinstance(branches, list) or not branches:
            raise SchemaError(f"Invalid schema at '{where}.anyOf': expected a non-empty list.")
        out["anyOf"] = [from_openapi(b, f"{where}.anyOf[{i}]") for i, b in enumerate(branches)]
    _object_keywords(source, out, where)
    if source.get("ref") is not None or source.get("$ref") is not None:
        out["$ref"] = _ref(source.get("ref", source.get("$ref")), f"{where}.ref")
    defs = source.get("defs", source.get("$defs"))
    if defs is not None:
        if not isinstance(defs, Mapping):
            raise SchemaError(f"Invalid schema at '{where}.defs': expected an object.")
        out["$defs"] = {name: from_openapi(d, f"{where}.defs.{name}") for name, d in defs.items()}
    if source.get("nullable") is True:
        _make_nullable(out)
    return out


def _object_keywords(source: Mapping[str, Any], out: dict[str, Any], where: str) -> None:
    properties = source.get("properties")
    if properties is not None:
        if not isinstance(properties, Mapping):
            raise SchemaError(f"Invalid schema at '{where}.properties': expected an object.")
        converted = {name: from_openapi(p, f"{where}.properties.{name}") for name, p in properties.items()}
        ordering = source.get("propertyOrdering")
        if isinstance(ordering, list):
            # The model writes properties in propertyOrdering's order, the unlisted ones after.
            first = [n for n in ordering if n in converted]
            converted = {n: converted[n] for n in [*first, *(n for n in converted if n not in first)]}
        out["properties"] = converted
    if source.get("required") is not None:
        required = source["required"]
        if not isinstance(required, list) or not all(isinstance(n, str) for n in required):
            raise SchemaError(f"Invalid schema at '{where}.required': expected a list of names.")
        out["required"] = list(required)
    extra = source.get("additionalProperties")
    if isinstance(extra, bool):
        out["additionalProperties"] = extra
    elif isinstance(extra, Mapping):
        out["additionalProperties"] = dict(extra)  # documented as JSON Schema already


def _make_nullable(out: dict[str, Any]) -> None:
    kind = out.get("type")
    if isinstance(kind, str) and kind != "null":
        out["type"] = [kind, "null"]
    enum = out.get("enum")
    if isinstance(enum, list) and None not in enum:  # any other enum is refused by the schema's check
        out["enum"] = [*enum, None]
    if "anyOf" in out:
        out["anyOf"] = [*out["anyOf"], {"type": "null"}]
    if "$ref" in out:
        out["anyOf"] = [{"$ref": out.pop("$ref")}, {"type": "null"}]


def resolve(ref: str, root: JsonSchema) -> JsonSchema:
    """The schema a local reference (``#``, ``#/$defs/X``, any JSON pointer into the root) points at."""
    if not ref.startswith("#"):
        raise SchemaError(f"Unsupported reference {ref!r}: only references within the schema are resolved.")
    node: Any = root
    for token in [t for t in ref[1:].split("/") if t]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            raise SchemaError(f"Unresolvable reference {ref!r}.")
    if not isinstance(node, dict | bool):
        raise SchemaError(f"Reference {ref!r} does not point at a schema.")
    return node


def type_matches(value: Any, kind: str) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return False


def conforms(value: Any, schema: JsonSchema, root: JsonSchema, depth: int = 0) -> bool:
    """A partial validator (types, const, enum, bounds, properties, items, combinators): enough to tell
    ``oneOf`` branches apart. It may accept what a full validator refuses, never the reverse."""
    if schema is True or depth > 64:
        return True
    if schema is False:
        return False
    if "$ref" in schema and not conforms(value, resolve(schema["$ref"], root), root, depth + 1):
        return False
    kind = schema.get("type")
    kinds = [kind] if isinstance(kind, str) else kind if isinstance(kind, list) else None
    if kinds is not None and not any(type_matches(value, k) for k in kinds):
        return False
    if "const" in schema and not _equal(value, schema["const"]):
        return False
    if "enum" in schema and not any(_equal(value, e) for e in schema["enum"]):
        return False
    if not _bounds_hold(value, schema):
        return False
    if isinstance(value, dict) and not _object_conforms(value, schema, root, depth):
        return False
    if isinstance(value, list) and "items" in schema and isinstance(schema["items"], dict | bool):
        if not all(conforms(v, schema["items"], root, depth + 1) for v in value):
            return False
    if any(not conforms(value, s, root, depth + 1) for s in schema.get("allOf", [])):
        return False
    if "anyOf" in schema and not any(conforms(value, s, root, depth + 1) for s in schema["anyOf"]):
        return False
    if "oneOf" in schema:
        return sum(conforms(value, s, root, depth + 1) for s in schema["oneOf"]) == 1
    return True


def _equal(a: Any, b: Any) -> bool:
    return (type(a) is type(b) and a == b) or (
        type_matches(a, "number") and type_matches(b, "number") and a == b
    )


def _bounds_hold(value: Any, schema: Mapping[str, Any]) -> bool:
    if isinstance(value, str):
        return schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value))
    if isinstance(value, list):
        return schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value))
    if type_matches(value, "number"):
        low, high = schema.get("minimum"), schema.get("maximum")
        return (low is None or value >= low) and (high is None or value <= high)
    return True


def _object_conforms(value: dict[str, Any], schema: Mapping[str, Any], root: JsonSchema, depth: int) -> bool:
    if any(name not in value for name in schema.get("required", [])):
        return False
    properties = schema.get("properties", {})
    for name, item in value.items():
        if name in properties:
            if not conforms(item, properties[name], root, depth + 1):
                return False
        elif schema.get("additionalProperties") is False:
            return False
    return True


_NUMBERS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "$defs", "definitions")
_SCHEMAS = ("items", "additionalProperties", "not")


def check_schema(schema: Any, where: str = "schema") -> None:
    """Refuses (400, naming where) a JSON Schema whose keywords have the wrong shapes, before any use."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, Mapping):
        raise SchemaError(f"Invalid schema at '{where}': expected an object or a boolean.")
    kind = schema.get("type")
    if "type" in schema and not (
        isinstance(kind, str) or (isinstance(kind, list) and all(isinstance(k, str) for k in kind))
    ):
        raise SchemaError(f"Invalid schema at '{where}.type': expected a type name or a list of them.")
    for key in _COUNTS:
        value = schema.get(key)
        if key in schema and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise SchemaError(f"Invalid schema at '{where}.{key}': expected a non-negative integer.")
    for key in _NUMBERS:
        value = schema.get(key)
        bool_flag = key.startswith("exclusive") and isinstance(value, bool)  # draft 4's form
        if key in schema and not bool_flag and not _finite(value):
            raise SchemaError(f"Invalid schema at '{where}.{key}': expected a number.")
    if "multipleOf" in schema and _finite(schema["multipleOf"]) and schema["multipleOf"] <= 0:
        raise SchemaError(f"Invalid schema at '{where}.multipleOf': expected a number above 0.")
    _check_keywords(schema, where)


def _finite(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and value == value
        and abs(value) != float("inf")
    )


def _check_keywords(schema: Mapping[str, Any], where: str) -> None:
    if "enum" in schema and not (isinstance(schema["enum"], list) and schema["enum"]):
        raise SchemaError(f"Invalid schema at '{where}.enum': expected a non-empty list.")
    required = schema.get("required")
    if "required" in schema and not (
        isinstance(required, list) and all(isinstance(n, str) for n in required)
    ):
        raise SchemaError(f"Invalid schema at '{where}.required': expected a list of names.")
    for key in ("$ref", "format", "pattern"):
        if key in schema and not isinstance(schema[key], str):
            raise SchemaError(f"Invalid schema at '{where}.{key}': expected a string.")
    for key in _SCHEMAS:
        if key in schema:
            check_schema(schema[key], f"{where}.{key}")
    for key in _SCHEMA_LISTS:
        if key in schema:
            branches = schema[key]
            if not isinstance(branches, list) or (not branches and key != "prefixItems"):
                raise SchemaError(f"Invalid schema at '{where}.{key}': expected a non-empty list of schemas.")
            for index, branch in enumerate(branches):
                check_schema(branch, f"{where}.{key}[{index}]")
    for key in _SCHEMA_MAPS:
        if key in schema:
            members = schema[key]
            if not isinstance(members, Mapping):
                raise SchemaError(f"Invalid schema at '{where}.{key}': expected an object of schemas.")
            for name, member in members.items():
                check_schema(member, f"{where}.{key}.{name}")
