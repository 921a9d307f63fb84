"""The emulator's control surface, under /_internal/ and only with GEMFILES_EMULATOR_CONTROLS=true. Each
call acts on the caller's project: the API key, as on Google's endpoints.

    GET    /_internal/rules     the project's run-time rules and every rule's call count
    PUT    /_internal/rules     replaces them (a list, or {"rules": [...]}); 400 names the rule and field
    POST   /_internal/rules     appends to them
    GET    /_internal/journal   what the model received and answered, oldest first
    DELETE /_internal/journal   forgets it
    POST   /_internal/reset     forgets the project's rules, counters, faults and journal, deletes its files
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gemfiles.domain.emulator import Emulator
from gemfiles.domain.script import Rule, parse_rules
from gemfiles.errors import NotFound
from gemfiles.protocol.body import read_json
from gemfiles.protocol.http import json_response
from gemfiles.protocol.services import Services, services_of


async def _controlled(request: Request) -> tuple[Services, Emulator, str]:
    services = services_of(request)
    if not services.settings.emulator_controls or services.emulator is None:
        raise NotFound("Emulator controls are off (GEMFILES_EMULATOR_CONTROLS=true turns them on).")
    project = await services.auth.project(request)
    return services, services.emulator, project


def rule_json(rule: Rule) -> dict[str, Any]:
    """A rule as it was given (fields left out stay out; ``json`` and ``schema`` by their own names)."""
    out: dict[str, Any] = rule.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return out


def rules_json(emulator: Emulator, project: str) -> dict[str, Any]:
    rules = emulator.scripts.rules(project)
    return {"rules": [rule_json(r) for r in rules], "counts": emulator.scripts.counts(project)}


async def rules(request: Request) -> Response:
    services, emulator, project = await _controlled(request)
    if request.method in ("PUT", "POST"):
        body = await read_json(request, services.settings.max_request_json_bytes)
        parsed = parse_rules(body, "rules")
        if request.method == "PUT":
            emulator.scripts.set_rules(project, parsed)
        else:
            emulator.scripts.add_rules(project, parsed)
    return json_response(rules_json(emulator, project))


async def journal(request: Request) -> Response:
    _, emulator, project = await _controlled(request)
    if request.method == "DELETE":
        emulator.journal.reset(project)
        return json_response({})
    return json_response({"entries": [entry.to_json() for entry in emulator.journal.entries(project)]})


async def reset(request: Request) -> Response:
    services, emulator, project = await _controlled(request)
    emulator.reset(project)
    deleted = await services.files.delete_all(project)
    return json_response({"deletedFiles": deleted})
