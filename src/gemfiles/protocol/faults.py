"""``/_internal/faults``: the caller's project's planned upload and processing faults (issue 9, section 3).

On only with ``GEMFILES_EMULATOR_CONTROLS=true``; the project is the caller's API key's, as on Google's
paths. ``GET`` lists the plan and how often each fault fired; ``PUT`` replaces it; ``POST`` appends to it;
``DELETE`` clears it. A body is a list of faults or ``{"faults": [...]}`` (docs/scripting.md section 3); a
bad one is a 400 that names the fault and the field, and changes nothing.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gemfiles.domain.faults import FaultPlan, parse_faults
from gemfiles.protocol.body import read_json
from gemfiles.protocol.http import json_response
from gemfiles.protocol.internal import controls


def plan_of(request: Request) -> FaultPlan:
    # The one plan of the process: the upload service's, shared with the media worker by app.build_services.
    return controls(request).uploads.faults


async def faults(request: Request) -> Response:
    services = controls(request)
    project = await services.auth.project(request)
    plan = plan_of(request)
    if request.method in ("PUT", "POST"):
        body = await read_json(request, services.settings.max_request_json_bytes, what="Faults")
        parsed = parse_faults(body)
        if request.method == "PUT":
            plan.set_faults(project, parsed)
        else:
            plan.add_faults(project, parsed)
    elif request.method == "DELETE":
        plan.set_faults(project, [])
    listed = [fault.model_dump(exclude_none=True) for fault in plan.faults(project)]
    return json_response({"faults": listed, "fired": plan.fired(project)})
