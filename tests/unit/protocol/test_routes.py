"""The route table: each Google path declared once, the API version a validated segment, one renderer."""

from __future__ import annotations

import logging

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.testclient import TestClient

from gemfiles.errors import FailedPrecondition
from gemfiles.protocol.frame import Frame
from gemfiles.protocol.routes import google_routes, versioned
from gemfiles.protocol.services import api_version


async def echo(request: Request) -> Response:
    return JSONResponse({"version": request.path_params["version"], "name": request.path_params.get("name")})


async def refuse(request: Request) -> Response:
    raise FailedPrecondition("not now")


async def crash(request: Request) -> Response:
    raise RuntimeError("secret detail /etc/passwd")


async def version(request: Request) -> Response:
    return JSONResponse({"version": api_version(request)})


@pytest.fixture
def client() -> TestClient:
    app = Frame(
        routes=versioned(
            [
                ("/things/{name}", echo, ["GET"]),
                ("/refuse", refuse, ["GET"]),
                ("/crash", crash, ["GET"]),
                ("/version", version, ["GET"]),
            ]
        ),
    )
    return TestClient(app)


@pytest.mark.parametrize(
    ("prefix", "version"), [("/v1", "v1"), ("/v1beta", "v1beta"), ("/v1alpha", "v1alpha"), ("", "")]
)
def test_route_answers_under_every_api_version_with_the_version_as_parameter(
    client: TestClient, prefix: str, version: str
) -> None:
    reply = client.get(f"{prefix}/things/abc")
    assert reply.status_code == 200
    assert reply.json() == {"version": version, "name": "abc"}


@pytest.mark.parametrize(
    ("prefix", "version"), [("/v1", "v1"), ("/v1beta", "v1beta"), ("/v1alpha", "v1alpha"), ("", "v1beta")]
)
def test_api_version_reads_the_route_segment_and_defaults_to_v1beta(
    client: TestClient, prefix: str, version: str
) -> None:
    assert client.get(f"{prefix}/version").json() == {"version": version}


def test_each_google_path_is_declared_once() -> None:
    paths = [route.path for route in google_routes()]  # type: ignore[attr-defined]
    assert len(paths) == len(set(paths))
    assert "/{version:api_version}files" in paths and "/upload/{version:api_version}files" in paths


@pytest.mark.parametrize(
    "path", ["/v2/things/abc", "/v1beta2/things/abc", "/V1/things/abc", "/v1betathings/abc"]
)
def test_unknown_api_version_gets_googles_404_envelope(client: TestClient, path: str) -> None:
    reply = client.get(path)
    assert reply.status_code == 404
    assert reply.json()["error"] == {
        "code": 404,
        "message": f"The requested URL {path} was not found on this server.",
        "status": "NOT_FOUND",
    }


def test_api_error_is_rendered_in_googles_envelope(client: TestClient) -> None:
    reply = client.get("/v1beta/refuse")
    assert reply.status_code == 400
    assert reply.json() == {"error": {"code": 400, "message": "not now", "status": "FAILED_PRECONDITION"}}


def test_unexpected_exception_is_a_logged_500_without_a_trace(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="gemfiles.protocol"):
        reply = client.get("/v1/crash")
    assert reply.status_code == 500
    assert reply.json() == {
        "error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}
    }
    assert "secret" not in reply.text
    assert any(r.exc_info for r in caplog.records)


def test_wrong_method_is_refused_in_the_envelope(client: TestClient) -> None:
    reply = client.delete("/v1beta/things/abc")
    assert reply.status_code == 405
    assert reply.json()["error"]["status"] == "INVALID_ARGUMENT"
