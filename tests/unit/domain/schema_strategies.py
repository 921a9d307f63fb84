"""Hypothesis strategies for satisfiable JSON Schemas and Google OpenAPI-subset schemas."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import strategies as st

NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-50, 50), st.text(max_size=5))
SMALL = st.integers(0, 4)


@st.composite
def strings(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if draw(st.booleans()):
        schema["format"] = draw(
            st.sampled_from(["date", "date-time", "email", "uri", "uuid", "ipv4", "time"])
        )
        return schema
    low = draw(st.integers(0, 20))
    if draw(st.booleans()):
        schema["minLength"] = low
    if draw(st.booleans()):
        schema["maxLength"] = low + draw(st.integers(0, 20))
    return schema


@st.composite
def integers(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer"}
    low = draw(st.integers(-1000, 1000))
    step = draw(st.one_of(st.none(), st.integers(1, 7)))
    first_multiple = math.ceil(low / step) * step if step else low
    high = first_multiple + draw(st.integers(0, 50))
    exclusive = draw(st.booleans()) and high - low >= 2 and not step
    if draw(st.booleans()):
        schema["exclusiveMinimum" if exclusive else "minimum"] = low
    if draw(st.booleans()):
        schema["exclusiveMaximum" if exclusive else "maximum"] = high
    if step:
        schema["multipleOf"] = step
    return schema


@st.composite
def numbers(draw: st.DrawFn) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "number"}
    low = draw(st.floats(-1e6, 1e6, allow_nan=False))
    width = draw(st.one_of(st.just(0.0), st.floats(1e-3, 1e3)))
    exclusive = width > 0 and draw(st.booleans())
    if draw(st.booleans()):
        schema["exclusiveMinimum" if exclusive else "minimum"] = low
    if draw(st.booleans()):
        schema["exclusiveMaximum" if exclusive else "maximum"] = low + width
    elif draw(st.booleans()):
        schema["multipleOf"] = draw(st.sampled_from([0.5, 0.25, 2, 3]))
    return schema


def leaves() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        strings(),
        integers(),
        numbers(),
        st.just({"type": "boolean"}),
        st.just({"type": "null"}),
        st.lists(SCALARS, min_size=1, max_size=4, unique_by=lambda v: (type(v), v)).map(
            lambda e: {"enum": e}
        ),
        SCALARS.map(lambda c: {"const": c}),
        st.just({}),
    )


@st.composite
def objects(draw: st.DrawFn, children: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    properties = draw(st.dictionaries(NAMES, children, max_size=4))
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if properties:
        schema["required"] = draw(st.lists(st.sampled_from(sorted(properties)), unique=True))
    schema["additionalProperties"] = draw(st.sampled_from([True, False, {"type": "integer"}]))
    if schema["additionalProperties"] is not False and draw(st.booleans()):
        schema["minProperties"] = len(properties) + draw(SMALL)
    return schema


@st.composite
def arrays(draw: st.DrawFn, children: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    low = draw(SMALL)
    schema: dict[str, Any] = {"type": "array", "items": draw(children), "minItems": low}
    if draw(st.booleans()):
        schema["maxItems"] = low + draw(SMALL)
    return schema


@st.composite
def one_ofs(draw: st.DrawFn) -> dict[str, Any]:
    # Branches of different types, so exactly one can match.
    kinds = draw(
        st.lists(
            st.sampled_from(["string", "integer", "boolean", "null", "object"]),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    return {"oneOf": [{"type": kind} for kind in kinds]}


def composites(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        objects(children),
        arrays(children),
        st.lists(children, min_size=1, max_size=3).map(lambda b: {"anyOf": b}),
        children.map(lambda c: {"allOf": [c, {"description": "wrapped"}]}),
        children.map(lambda c: {**c, "type": [c["type"], "null"]} if isinstance(c.get("type"), str) else c),
        one_ofs(),
    )


json_schemas = st.recursive(leaves(), composites, max_leaves=12)


@st.composite
def with_refs(draw: st.DrawFn) -> dict[str, Any]:
    """A root that reaches its body through $defs."""
    body = draw(json_schemas)
    return {
        "$defs": {
            "Body": body,
            "Holder": {
                "type": "object",
                "properties": {"body": {"$ref": "#/$defs/Body"}},
                "required": ["body"],
            },
        },
        "$ref": "#/$defs/Holder",
    }


# Google's subset -----------------------------------------------------------------------------


@st.composite
def google_leaves(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["STRING", "INTEGER", "NUMBER", "BOOLEAN"]))
    schema: dict[str, Any] = {"type": kind}
    if kind == "STRING" and draw(st.booleans()):
        schema["enum"] = draw(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=4, unique=True))
    elif kind == "STRING" and draw(st.booleans()):
        low = draw(SMALL)
        schema["minLength"], schema["maxLength"] = str(low), str(low + draw(SMALL))  # int64 as strings
    elif kind in ("INTEGER", "NUMBER") and draw(st.booleans()):
        low = draw(st.integers(-100, 100))
        schema["minimum"], schema["maximum"] = low, low + draw(st.integers(0, 10))
    if draw(st.booleans()):
        schema["nullable"] = True
    return schema


@st.composite
def google_objects(draw: st.DrawFn, children: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    properties = draw(st.dictionaries(NAMES, children, min_size=1, max_size=4))
    names = sorted(properties)
    schema = {
        "type": "OBJECT",
        "properties": properties,
        "required": draw(st.lists(st.sampled_from(names), unique=True)),
        "propertyOrdering": draw(st.permutations(names)),
    }
    if draw(st.booleans()):
        schema["nullable"] = True
    return schema


def google_composites(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        google_objects(children),
        st.tuples(children, SMALL).map(lambda t: {"type": "ARRAY", "items": t[0], "minItems": str(t[1])}),
        st.lists(children, min_size=1, max_size=3).map(lambda b: {"anyOf": b}),
    )


google_schemas = st.recursive(google_leaves(), google_composites, max_leaves=10)
