"""The Batch API: ``/{v}/models/{model}:batchGenerateContent`` and ``/{v}/batches[/{id}[:cancel]]``.

Answers are long-running-operation shaped, as the SDKs read them (``_BatchJob_from_mldev`` in
google-genai, ``batchJobFromMldev`` in @google/genai): ``name`` is ``batches/{id}`` and everything else is
under ``metadata`` (``state`` as ``BATCH_STATE_*``, which the SDKs map to ``JOB_STATE_*``; ``output``
with ``responsesFile`` or ``inlinedResponses.inlinedResponses``); a finished job has ``done`` and its
``response`` (or ``error``). The list is ``{"operations": [...], "nextPageToken"}``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gemfiles.domain.batch_service import BatchService
from gemfiles.domain.batches import BatchHold, BatchJob, BatchState, Hold
from gemfiles.errors import InvalidArgument, NotFound
from gemfiles.protocol.body import read_json_object
from gemfiles.protocol.contents import get, read_json
from gemfiles.protocol.http import json_response
from gemfiles.protocol.internal import controls
from gemfiles.protocol.services import Services, services_of
from gemfiles.protocol.wire import rfc3339

BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"


def routes() -> list[tuple[str, Any, list[str]]]:
    """``:batchGenerateContent`` is a method of ``/models/{name}`` (``protocol/models.py``)."""
    return [
        ("/batches", list_batches, ["GET"]),
        ("/batches/{name}", batch_item, ["GET", "POST", "DELETE"]),
    ]


def service_of(request: Request) -> tuple[Services, BatchService]:
    services = services_of(request)
    if services.batches is None:
        raise NotFound("Batches need a SQL metadata store.")
    return services, services.batches


def _stats(job: BatchJob) -> dict[str, str]:
    """int64 as strings; zero counts omitted (proto3 JSON)."""
    counts = {
        "requestCount": job.request_count,
        "successfulRequestCount": job.succeeded,
        "failedRequestCount": job.failed,
        "pendingRequestCount": job.pending_count if not job.state.done else 0,
    }
    return {name: str(value) for name, value in counts.items() if value}


async def _output(batches: BatchService, job: BatchJob) -> dict[str, Any] | None:
    if job.state != BatchState.SUCCEEDED:
        return None
    if not job.inline:
        return {"responsesFile": job.output_file} if job.output_file else None
    responses = [result.body async for result in batches.results(job)]
    return {"inlinedResponses": {"inlinedResponses": responses}}


async def batch_json(batches: BatchService, job: BatchJob) -> dict[str, Any]:
    metadata: dict[str, Any] = {"@type": BATCH_TYPE, "model": job.model}
    if job.display_name:
        metadata["displayName"] = job.display_name
    if job.input_file:
        metadata["inputConfig"] = {"fileName": job.input_file}
    output = await _output(batches, job)
    if output is not None:
        metadata["output"] = output
    metadata["createTime"] = rfc3339(job.create_time)
    if job.end_time is not None:
        metadata["endTime"] = rfc3339(job.end_time)
    metadata["updateTime"] = rfc3339(job.update_time)
    metadata["batchStats"] = _stats(job)
    metadata["state"] = job.state.value
    metadata["name"] = job.name
    out: dict[str, Any] = {"name": job.name, "metadata": metadata}
    if job.state.done:
        out["done"] = True
        if job.error:
            out["error"] = job.error
        elif output is not None:
            out["response"] = {"@type": OUTPUT_TYPE, **output}
    return out


async def create_batch(request: Request, services: Services, project: str, model: str) -> Response:
    """``POST /{v}/models/{model}:batchGenerateContent`` (the model is routed, and its 404 given, by
    ``models._model_call``)."""
    _, batches = service_of(request)
    body = await read_json(request, services.settings)
    batch = get(body, "batch")
    if not isinstance(batch, dict):
        raise InvalidArgument("* BatchGenerateContentRequest.batch: batch is required.")
    config = get(batch, "input_config")
    if not isinstance(config, dict):
        raise InvalidArgument("* BatchGenerateContentRequest.batch.input_config: input_config is required.")
    display_name = get(batch, "display_name")
    display_name = display_name if isinstance(display_name, str) and display_name else None
    file_name = get(config, "file_name")
    requests = get(config, "requests")
    if (file_name is None) == (requests is None):
        raise InvalidArgument(
            "* BatchGenerateContentRequest.batch.input_config: exactly one of file_name and requests is required."
        )
    if file_name is not None:
        if not isinstance(file_name, str):
            raise InvalidArgument("Invalid value at 'batch.input_config.file_name': expected a string.")
        job = await batches.create_from_file(project, model, file_name, display_name)
    else:
        items = get(requests, "requests")
        if not isinstance(items, list):
            raise InvalidArgument("Invalid value at 'batch.input_config.requests.requests': expected a list.")
        job = await batches.create_inline(project, model, items, display_name)
    return json_response(await batch_json(batches, job))


async def list_batches(request: Request) -> Response:
    services, batches = service_of(request)
    project = await services.auth.project(request)
    params = request.query_params
    raw_size = (params.get("pageSize") or params.get("page_size") or "").strip()
    if raw_size and not raw_size.isdigit():
        raise InvalidArgument(f"Invalid pageSize {raw_size!r}: expected a non-negative integer.")
    token = params.get("pageToken") or params.get("page_token") or None
    page = await batches.list(project, int(raw_size[:12]) if raw_size else None, token)
    body: dict[str, Any] = {}
    if page.jobs:
        body["operations"] = [await batch_json(batches, job) for job in page.jobs]
    if page.next_token:
        body["nextPageToken"] = page.next_token
    return json_response(body)


async def batch_item(request: Request) -> Response:
    """``GET`` and ``DELETE /{v}/batches/{id}``, ``POST /{v}/batches/{id}:cancel``."""
    services, batches = service_of(request)
    project = await services.auth.project(request)
    name, _, verb = request.path_params["name"].partition(":")
    if verb == "cancel" and request.method == "POST":
        await batches.cancel(project, name)
        return json_response({})
    if verb or request.method == "POST":
        raise NotFound(f"Method {request.method} :{verb or '(none)'} is not found on batches/{name}.")
    if request.method == "DELETE":
        await batches.delete(project, name)
        return json_response({})
    return json_response(await batch_json(batches, await batches.get(project, name)))


async def hold_control(request: Request) -> Response:
    """``POST /_internal/batches/hold {"hold": "pending"|"running"|null, "afterLines": n}``: the caller's
    project's jobs stay PENDING, or RUNNING once ``afterLines`` lines are answered; null moves them on."""
    services = controls(request)
    _, batches = service_of(request)
    project = await services.auth.project(request)
    body = await read_json_object(request, services.settings.max_request_json_bytes)
    raw = body.get("hold")
    after = body.get("afterLines", body.get("after_lines", 0))
    if raw not in (None, "pending", "running") or not isinstance(after, int) or after < 0:
        raise InvalidArgument('Expected {"hold": "pending" | "running" | null, "afterLines": n >= 0}.')
    hold = Hold(BatchHold(raw), after) if raw else None
    await batches.set_hold(project, hold)
    return json_response({"hold": raw, "afterLines": after})
