"""Schemas as the Python SDK sends them for pydantic models: the generated answer parses back into the model
(what ``response.parsed`` does), through Google's OpenAPI subset and through JSON Schema alike."""

from __future__ import annotations

import datetime as dt
import enum
import json
import uuid
from typing import Annotated, Any, Literal

import pytest
from google import genai
from google.genai import _transformers as transformers
from pydantic import BaseModel, Field

from gemfiles.domain.calls import FunctionDeclaration, ResponseFormat
from gemfiles.domain.replies import structured_reply

from .requests import pdf_part, request, text


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Line(BaseModel):
    description: str
    quantity: Annotated[int, Field(ge=1, le=99)]
    price: Annotated[float, Field(ge=0.01)]  # the SDK cannot send exclusive bounds


class Invoice(BaseModel):
    document: str
    lines: Annotated[list[Line], Field(min_length=1)]
    colour: Colour
    note: str | None = None
    kind: Literal["paid", "open"]
    tags: list[str] = []


class Cat(BaseModel):
    pet: Literal["cat"]
    lives: int


class Dog(BaseModel):
    pet: Literal["dog"]
    good: bool


class Tree(BaseModel):
    label: str
    children: list[Tree] = []


class Audit(BaseModel):
    id: uuid.UUID
    at: dt.datetime
    day: dt.date
    owner: Annotated[Cat | Dog, Field(discriminator="pet")]
    tree: Tree
    scores: dict[str, int]


def google_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The ``responseSchema`` the SDK puts on the wire for a pydantic model."""
    client = genai.Client(api_key="unused")
    schema = transformers.t_schema(client._api_client, model)
    assert schema is not None
    return schema.model_dump(mode="json", exclude_none=True, by_alias=True)


@pytest.mark.parametrize("model", [Invoice, Line, Tree, Cat])
def test_answer_parses_into_the_model_through_google_schema(model: type[BaseModel]) -> None:
    fmt = ResponseFormat("application/json", schema=google_schema(model))
    reply = structured_reply(request(text("Read it"), pdf_part("invoice-9.pdf"), response=fmt))
    assert reply is not None
    parsed = model.model_validate_json(reply.text)
    if isinstance(parsed, Invoice):
        assert parsed.document == "invoice-9.pdf"
        assert list(json.loads(reply.text)) == list(Invoice.model_fields)  # propertyOrdering kept


@pytest.mark.parametrize("model", [Invoice, Audit, Tree])
def test_answer_parses_into_the_model_through_json_schema(model: type[BaseModel]) -> None:
    fmt = ResponseFormat("application/json", json_schema=model.model_json_schema())
    for n in range(10):
        reply = structured_reply(request(text(f"question {n}"), response=fmt))
        assert reply is not None
        model.model_validate_json(reply.text)


def test_function_args_parse_into_the_parameters_model() -> None:
    declaration = FunctionDeclaration("audit", parameters_json_schema=Audit.model_json_schema())
    reply = structured_reply(request(text("audit it"), tools=(declaration,), mode="ANY"))
    assert reply is not None
    Audit.model_validate(reply.calls[0].args)
