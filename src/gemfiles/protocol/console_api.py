"""The console's JSON under /_internal/admin/ (same Bearer token as the rest of the admin API).

``GET .../projects/{project}/files``: the files with state, size, type, expiry and SHA-256;
``GET .../projects/{project}/files/{id}/preview``: its thumbnail (made by a probe child);
``GET .../projects/{project}/files/{id}/content``: its bytes with Range support, for the audio and video
players: a media element cannot send a header, so this one also takes ``?expires=&signature=``, an HMAC of
the admin token over the file and the expiry, handed out in the file listing (``mediaUrl``);
``GET .../uploads``, ``.../batches``, ``.../requests``, ``.../traffic``: what is going on.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from gemfiles.domain.batches import BatchJob
from gemfiles.domain.inventory import Inventory
from gemfiles.domain.mime import file_kind
from gemfiles.domain.models import FileRecord, UploadSession
from gemfiles.errors import NotFound, Unauthenticated
from gemfiles.protocol.admin import admin_services, bearer_matches
from gemfiles.protocol.files import page_size_param, ranged_response
from gemfiles.protocol.http import json_response
from gemfiles.protocol.services import Services, services_of
from gemfiles.protocol.wire import rfc3339

PREFIX = "/_internal/admin"
MEDIA_URL_SECONDS = 3600
RECENT_LINES = 100


def _inventory(services: Services) -> Inventory:
    if services.inventory is None:
        raise NotFound("The console is not available on this server.")
    return services.inventory


def media_signature(token: str, project: str, file_id: str, expires: int) -> str:
    message = f"{project}/{file_id}/{expires}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def media_url(token: str, record: FileRecord) -> str:
    expires = int(time.time()) + MEDIA_URL_SECONDS
    signature = media_signature(token, record.project, record.id, expires)
    path = f"{PREFIX}/projects/{quote(record.project)}/files/{quote(record.id)}/content"
    return f"{path}?expires={expires}&signature={signature}"


def console_file_json(record: FileRecord, inventory: Inventory, token: str) -> dict[str, Any]:
    kind = file_kind(record.mime_type)
    out: dict[str, Any] = {
        "name": record.name,
        "displayName": record.display_name,
        "mimeType": record.mime_type,
        "kind": kind,
        "sizeBytes": str(record.size_bytes),
        "state": record.state.value,
        "source": record.source.value,
        "createTime": rfc3339(record.create_time),
        "expireTime": rfc3339(record.expire_time),
        "sha256Hex": record.sha256_hex,
        "facts": record.facts or {},
        "preview": inventory.has_preview(record),
    }
    if kind in ("audio", "video"):
        out["mediaUrl"] = media_url(token, record)
    return out


async def project_files(request: Request) -> Response:
    services = admin_services(request)
    inventory = _inventory(services)
    page = await inventory.files(
        request.path_params["project"],
        page_size_param(request.query_params.get("pageSize")),
        request.query_params.get("pageToken"),
    )
    token = services.settings.admin_token or ""
    body: dict[str, Any] = {"files": [console_file_json(r, inventory, token) for r in page.files]}
    if page.next_token:
        body["nextPageToken"] = page.next_token
    return json_response(body)


async def file_preview(request: Request) -> Response:
    services = admin_services(request)
    found = await _inventory(services).preview(request.path_params["project"], request.path_params["file"])
    headers = {"Cache-Control": "private, max-age=3600"}
    if found.note:
        headers["X-Preview-Note"] = found.note
    return Response(found.data, media_type=found.media_type, headers=headers)


async def file_content(request: Request) -> Response:
    """The bytes, for the console's players: Bearer, or a signature from the listing that has not expired."""
    services = services_of(request)
    token = services.settings.admin_token
    if not token:
        raise NotFound("The admin API is off (GEMFILES_ADMIN_TOKEN turns it on).")
    project, file_id = request.path_params["project"], request.path_params["file"]
    if not bearer_matches(request, token) and not _signed(request, token, project, file_id):
        raise Unauthenticated("Send Authorization: Bearer <GEMFILES_ADMIN_TOKEN> or a current signed URL.")
    record = await _inventory(services).file(project, file_id)
    return ranged_response(request, services, record, "inline")


def _signed(request: Request, token: str, project: str, file_id: str) -> bool:
    expires = request.query_params.get("expires", "")
    given = request.query_params.get("signature", "")
    if not expires.isdigit() or int(expires) < time.time():
        return False
    return hmac.compare_digest(given, media_signature(token, project, file_id, int(expires)))


def upload_json(session: UploadSession) -> dict[str, Any]:
    """An upload in progress: never its upload id (the session token), only what it is making."""
    return {
        "project": session.project,
        "name": f"files/{session.file_id}",
        "displayName": session.display_name,
        "mimeType": session.mime_type,
        "receivedBytes": str(session.received),
        "declaredBytes": None if session.declared_size is None else str(session.declared_size),
        "createTime": rfc3339(session.create_time),
        "expireTime": rfc3339(session.expire_time),
    }


def batch_summary(job: BatchJob) -> dict[str, Any]:
    return {
        "project": job.project,
        "name": job.name,
        "displayName": job.display_name,
        "model": job.model,
        "state": job.state.value,
        "createTime": rfc3339(job.create_time),
        "updateTime": rfc3339(job.update_time),
        "endTime": rfc3339(job.end_time) if job.end_time else None,
        "requestCount": job.request_count,
        "succeeded": job.succeeded,
        "failed": job.failed,
        "pending": job.pending_count,
        "inputFile": job.input_file,
        "outputFile": job.output_file,
    }


async def uploads(request: Request) -> Response:
    sessions = await _inventory(admin_services(request)).uploads()
    return json_response({"uploads": [upload_json(s) for s in sessions]})


async def batches(request: Request) -> Response:
    jobs = await _inventory(admin_services(request)).batches()
    return json_response({"batches": [batch_summary(job) for job in jobs]})


async def requests(request: Request) -> Response:
    services = admin_services(request)
    lines = services.history.lines(RECENT_LINES) if services.history is not None else []
    return json_response({"requests": lines})


async def traffic(request: Request) -> Response:
    services = admin_services(request)
    if services.history is None:
        raise NotFound("Request history is off on this server.")
    return json_response(services.history.series())
