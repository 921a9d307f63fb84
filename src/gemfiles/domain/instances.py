"""A deterministic instance of a JSON Schema: what the built-in model answers when a schema is asked for.

The same schema, seed and text give the same instance, in any process (the random source is seeded from a
SHA-256, never from Python's salted ``hash``). The first free-form string the instance needs carries the
given text (the name of the attached file, say, or the last user text) when its length bounds allow; other
strings are drawn from a small vocabulary. Supported: ``type`` (one or several), ``const``, ``enum``,
``anyOf``/``oneOf``/``allOf``, ``$ref``/``$defs``, objects (``properties``, ``required``,
``additionalProperties``, ``min/maxProperties``), arrays (``items``, ``prefixItems``, ``min/maxItems``,
``uniqueItems``), strings (``min/maxLength``; formats date, date-time, time, email, uri, uuid, hostname,
ipv4, ipv6), numbers (``minimum``/``maximum``, exclusive bounds, ``multipleOf``). Not honoured: ``pattern``
(the text is used when it matches; otherwise the string may not), ``not``, ``if``/``then``/``else``,
``contains``, ``patternProperties``, ``dependent*``.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

from gemfiles.domain.schemas import JsonSchema, SchemaError, check_schema, conforms, resolve, type_matches

MAX_DEPTH = 8  # below this depth only what the schema requires is generated, so recursion ends
HARD_DEPTH = 48  # a schema that requires nesting deeper than this has no instance we generate
MAX_STRING = 1 << 20  # characters in one generated string at most
BUDGET = 20_000  # values generated for one instance at most (oneOf tries, required recursion)
_WORDS = ("alpha", "bravo", "cedar", "delta", "ember", "fjord", "gamma", "harbor", "indigo", "juniper")
_ORDER = ("object", "array", "string", "integer", "number", "boolean", "null")


def seed_of(*parts: Any) -> int:
    """A stable seed from anything with a stable ``repr`` (texts, hashes, sorted config)."""
    digest = hashlib.sha256("\x1f".join(map(repr, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def instance(schema: JsonSchema, *, seed: int, text: str | None = None) -> Any:
    """An instance valid against ``schema`` (within the keywords above); raises SchemaError if none exists
    or the schema is malformed."""
    check_schema(schema)
    try:
        return _Generator(schema, seed, text).value(schema, 0)
    except RecursionError:
        raise SchemaError("The schema nests too deeply.") from None
    except OverflowError:
        raise SchemaError("The schema's numbers are too large to generate a value within them.") from None


def enum_value(schema: JsonSchema, *, seed: int, text: str | None = None) -> str:
    """A ``text/x.enum`` answer: the value equal to the text if there is one, else one chosen by the seed."""
    values = schema.get("enum") if isinstance(schema, dict) else None
    if not values:
        raise SchemaError("A text/x.enum answer needs a schema with an 'enum' of strings.")
    strings = [str(v) for v in values if v is not None]
    if text is not None and text.strip() in strings:
        return text.strip()
    return random.Random(seed).choice(strings)


class _Generator:
    def __init__(self, root: JsonSchema, seed: int, text: str | None) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.text = text if text else None
        self.spent = 0

    def value(self, schema: JsonSchema, depth: int) -> Any:
        self.spent += 1
        if self.spent > BUDGET or depth > HARD_DEPTH:
            raise SchemaError("The schema requires an instance too large or too deep to generate.")
        if schema is True:
            return self.string({}, depth)
        if schema is False:
            raise SchemaError("The schema 'false' has no instance.")
        schema = self.flatten(schema, depth)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self.enum(schema)
        if "oneOf" in schema:
            return self.one_of(schema, depth)
        if "anyOf" in schema:
            branches = self.ordered(schema["anyOf"], depth)
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            first = branches[0]
            return self.value(_merge(rest, first) if isinstance(first, dict) else rest, depth)
        return self.typed(schema, self.kind(schema, depth), depth)

    def flatten(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        """``$ref`` and ``allOf`` folded into one schema."""
        for _ in range(64):
            if "$ref" in schema:
                rest = {k: v for k, v in schema.items() if k != "$ref"}
                target = resolve(schema["$ref"], self.root)
                if target is False:
                    raise SchemaError(f"The reference {schema['$ref']!r} has no instance.")
                schema = _merge(rest, target if isinstance(target, dict) else {})
            elif "allOf" in schema:
                merged = {k: v for k, v in schema.items() if k != "allOf"}
                for part in schema["allOf"]:
                    if part is False:
                        raise SchemaError("An allOf holds 'false': no instance.")
                    merged = _merge(merged, part if isinstance(part, dict) else {})
                schema = merged
            else:
                return schema
        raise SchemaError("The schema's references never end.")

    def ordered(self, branches: list[JsonSchema], depth: int) -> list[JsonSchema]:
        usable = [b for b in branches if b is not False]
        if not usable:
            raise SchemaError("No branch of anyOf/oneOf has an instance.")
        if depth < MAX_DEPTH:  # prefer a branch that says something over a null
            return sorted(usable, key=lambda b: isinstance(b, dict) and b.get("type") == "null")
        return sorted(usable, key=lambda b: not (isinstance(b, dict) and b.get("type") == "null"))

    def enum(self, schema: dict[str, Any]) -> Any:
        kinds = _kinds(schema)
        values = [v for v in schema["enum"] if kinds is None or any(type_matches(v, k) for k in kinds)]
        if not values:
            raise SchemaError("No enum value has the schema's type.")
        return self.rng.choice(values)

    def one_of(self, schema: dict[str, Any], depth: int) -> Any:
        rest = {k: v for k, v in schema.items() if k != "oneOf"}
        branches = schema["oneOf"]
        for branch in self.ordered(branches, depth):
            candidate = self.value(_merge(rest, branch) if isinstance(branch, dict) else rest, depth)
            if sum(conforms(candidate, b, self.root) for b in branches) == 1:
                return candidate
        raise SchemaError("No instance matches exactly one branch of oneOf.")

    def kind(self, schema: dict[str, Any], depth: int) -> str:
        kinds = _kinds(schema)
        if kinds is None:
            return _inferred(schema)
        if not kinds:
            raise SchemaError("A schema with an empty list of types has no instance.")
        ranked = sorted(kinds, key=lambda k: _ORDER.index(k) if k in _ORDER else len(_ORDER))
        if "null" in kinds and depth >= MAX_DEPTH:
            return "null"
        return ranked[0]

    def typed(self, schema: dict[str, Any], kind: str, depth: int) -> Any:
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, depth)
        if kind == "string":
            return self.string(schema, depth)
        if kind == "integer":
            return self.integer(schema)
        if kind == "number":
            return self.number(schema)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        raise SchemaError(f"Unknown type {kind!r}.")

    def object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties: Mapping[str, JsonSchema] = schema.get("properties", {})
        required = list(dict.fromkeys(schema.get("required", [])))
        extra: JsonSchema = schema.get("additionalProperties", True)
        limit = schema.get("maxProperties", math.inf)
        if len(required) > limit:
            raise SchemaError("The object requires more properties than maxProperties allows.")
        names = required + [n for n in properties if n not in required and depth < MAX_DEPTH]
        names = names[: int(min(len(names), limit))]
        # Properties in declaration order (required ones never dropped), as Gemini writes them.
        order = [n for n in properties if n in names] + [n for n in names if n not in properties]
        out = {name: self.value(properties.get(name, extra), depth + 1) for name in order}
        number = 1
        while len(out) < schema.get("minProperties", 0):
            if extra is False:
                raise SchemaError("The object needs more properties than it may have.")
            name = f"extra{number}"
            if name not in out and name not in properties:
                out[name] = self.value(extra, depth + 1)
            number += 1
        return out

    def array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        prefix: list[JsonSchema] = schema.get("prefixItems", [])
        items: JsonSchema = schema.get("items", True)
        low, high = schema.get("minItems", 0), schema.get("maxItems", math.inf)
        if items is False:
            high = min(high, len(prefix))
        # Unconstrained items usually mean a schema lost its shape (the SDK drops recursive models'
        # references): an empty array then parses wherever the original schema is used.
        minimal = depth >= MAX_DEPTH or (not prefix and items in ({}, True))
        wanted = low if minimal else max(low, min(high, 1 if not prefix else len(prefix)))
        if wanted > high:
            raise SchemaError("The array's minItems exceeds what maxItems or its items allow.")
        out: list[Any] = []
        for index in range(int(wanted)):
            item = prefix[index] if index < len(prefix) else items
            value = self.value(item, depth + 1)
            for _ in range(20):  # uniqueItems: draw again until the value is new
                if not schema.get("uniqueItems") or value not in out:
                    break
                value = self.value(item, depth + 1)
            out.append(value)
        return out

    def string(self, schema: Mapping[str, Any], depth: int) -> str:
        form = schema.get("format")
        if isinstance(form, str) and form in _FORMATS:
            return _FORMATS[form](self.rng)
        low, high = schema.get("minLength", 0), schema.get("maxLength", math.inf)
        if low > high:
            raise SchemaError("The string's minLength exceeds its maxLength.")
        pattern = schema.get("pattern")
        if self.text is not None and low <= len(self.text):
            text, self.text = self.text, None
            if not isinstance(pattern, str) or _search(pattern, text[: int(min(high, len(text)))]):
                return text[: int(min(high, len(text)))]
        if low > MAX_STRING:
            raise SchemaError("The string's minLength is too large to generate.")
        word = f"{self.rng.choice(_WORDS)} {self.rng.randrange(1000)}"
        if len(word) < low:
            filler = " " + " ".join(self.rng.choice(_WORDS) for _ in range(4))
            word = (word + filler * (int(low) // len(filler) + 1))[: int(low)]
        return word[: int(max(low, min(high, len(word))))]

    def integer(self, schema: Mapping[str, Any]) -> int:
        low, high = _window(*_int_bounds(schema))
        step = schema.get("multipleOf")
        if _is_number(step) and step > 0:
            return int(self.multiple(low, high, step, schema, whole=True))
        if low > high:
            raise SchemaError("No integer lies within the schema's bounds.")
        return self.rng.randint(low, high)

    def number(self, schema: Mapping[str, Any]) -> int | float:
        step = schema.get("multipleOf")
        if _is_number(step) and step > 0:
            low, high = _bounds(schema)
            low = low if low is not None else (high - 100 * step if high is not None else 0)
            high = high if high is not None else low + 100 * step
            return self.multiple(low, high, step, schema, whole=False)
        try:
            return self.integer(schema)  # a whole number is a number
        except SchemaError:
            pass
        low, high = _bounds(schema)
        if low is None or high is None or low > high:
            raise SchemaError("No number lies within the schema's bounds.")
        value = (low + high) / 2
        if not _within(value, schema):
            raise SchemaError("No number lies within the schema's bounds.")
        return value

    def multiple(
        self, low: float, high: float, step: float, schema: Mapping[str, Any], *, whole: bool
    ) -> int | float:
        first, last = math.ceil(low / step), math.floor(high / step)
        if first > last:
            raise SchemaError("No value within the bounds is a multiple of multipleOf.")
        picks = [self.rng.randint(first, last), first, last, *range(first, min(last, first + 50) + 1)]
        for k in picks:
            value = k * step
            if not math.isfinite(value):
                continue
            value = int(value) if float(value).is_integer() else value
            exact = value / step == int(value / step)  # the validator's own test for multipleOf
            if _within(value, schema) and exact and (isinstance(value, int) or not whole):
                return value
        raise SchemaError("No value within the bounds is a multiple of multipleOf.")


def _kinds(schema: Mapping[str, Any]) -> list[str] | None:
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [k for k in kind if isinstance(k, str)]
    return None


def _inferred(schema: Mapping[str, Any]) -> str:
    if any(k in schema for k in ("properties", "required", "additionalProperties", "minProperties")):
        return "object"
    if any(k in schema for k in ("items", "prefixItems", "minItems", "maxItems")):
        return "array"
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")):
        return "number"
    return "string"


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bounds(schema: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """The tightest lower and upper bounds, inclusive or exclusive."""
    lows = [v for k in ("minimum", "exclusiveMinimum") if _is_number(v := schema.get(k))]
    highs = [v for k in ("maximum", "exclusiveMaximum") if _is_number(v := schema.get(k))]
    return (max(lows) if lows else None), (min(highs) if highs else None)


def _int_bounds(schema: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """Integer bounds; draft 4's boolean ``exclusiveMinimum``/``exclusiveMaximum`` apply to min/max."""
    low, high, ex_low, ex_high = (
        schema.get(k) for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
    )
    lows, highs = [], []
    if _is_number(low):
        lows.append(math.floor(low) + 1 if ex_low is True else math.ceil(low))
    if _is_number(ex_low):
        lows.append(math.floor(ex_low) + 1)
    if _is_number(high):
        highs.append(math.ceil(high) - 1 if ex_high is True else math.floor(high))
    if _is_number(ex_high):
        highs.append(math.ceil(ex_high) - 1)
    return (max(lows) if lows else None), (min(highs) if highs else None)


def _within(value: float, schema: Mapping[str, Any]) -> bool:
    low, high, ex_low, ex_high = (
        schema.get(k) for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
    )
    if _is_number(low) and (value < low or (ex_low is True and value == low)):
        return False
    if _is_number(high) and (value > high or (ex_high is True and value == high)):
        return False
    if _is_number(ex_low) and value <= ex_low:
        return False
    return not (_is_number(ex_high) and value >= ex_high)


def _window(low: int | None, high: int | None) -> tuple[int, int]:
    if low is None and high is None:
        return 0, 100
    if low is None:
        assert high is not None
        return min(0, high - 100), high
    if high is None:
        return low, low + 100
    return low, high


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Both schemas' constraints at once (for allOf and a $ref's siblings); the tighter bound wins."""
    out = dict(base)
    for key, value in extra.items():
        if key not in out:
            out[key] = value
        elif key == "properties":
            merged = dict(out[key])
            for name, sub in value.items():
                merged[name] = {"allOf": [merged[name], sub]} if name in merged else sub
            out[key] = merged
        elif key == "required":
            out[key] = list(dict.fromkeys([*out[key], *value]))
        elif key in ("minimum", "minLength", "minItems", "minProperties", "exclusiveMinimum"):
            out[key] = max(out[key], value)
        elif key in ("maximum", "maxLength", "maxItems", "maxProperties", "exclusiveMaximum"):
            out[key] = min(out[key], value)
        elif key == "type":
            mine, theirs = _kinds(out) or [], _kinds(extra) or []
            both = [k for k in mine if k in theirs or (k == "integer" and "number" in theirs)]
            both += [k for k in theirs if k == "integer" and "number" in mine and k not in both]
            out[key] = both
        elif key == "enum":
            out[key] = [v for v in out[key] if v in value]
        elif key in ("allOf", "anyOf", "oneOf"):
            out["allOf"] = [*out.get("allOf", []), {key: value}]
    return out


def _search(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def _date(rng: random.Random) -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(365 * 86400))


_FORMATS = {
    "date": lambda rng: _date(rng).date().isoformat(),
    "date-time": lambda rng: _date(rng).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "time": lambda rng: _date(rng).strftime("%H:%M:%SZ"),
    "email": lambda rng: f"{rng.choice(_WORDS)}{rng.randrange(100)}@example.com",
    "uri": lambda rng: f"https://example.com/{rng.choice(_WORDS)}/{rng.randrange(1000)}",
    "url": lambda rng: f"https://example.com/{rng.choice(_WORDS)}/{rng.randrange(1000)}",
    "uri-reference": lambda rng: f"/{rng.choice(_WORDS)}/{rng.randrange(1000)}",
    "uuid": lambda rng: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    "hostname": lambda rng: f"{rng.choice(_WORDS)}.example.com",
    "ipv4": lambda rng: f"192.0.2.{rng.randrange(1, 255)}",
    "ipv6": lambda rng: f"2001:db8::{rng.randrange(1, 0xFFFF):x}",
}
