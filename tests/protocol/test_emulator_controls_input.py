"""Bad input to the emulator controls (/_internal/clock): Google's envelope, never a 500, the clock intact.

Found by the HTTP fuzzer (tests/torture/test_fuzz_http.py): a JSON body that is not an object answered 500,
and an advance too large for the calendar would have broken every later request's "now".
"""

from __future__ import annotations

import httpx
import pytest


@pytest.mark.parametrize("body", [b"null", b"[]", b'"49h"', b"7", b"true"])
def test_clock_advance_with_a_body_that_is_not_an_object_is_refused(
    client: httpx.Client, body: bytes
) -> None:
    reply = client.post("/_internal/clock", content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"] == {
        "code": 400,
        "message": "Invalid JSON payload received. Expected an object.",
        "status": "INVALID_ARGUMENT",
    }


@pytest.mark.parametrize(
    "advance", ["99999999999999999999999", "9999999d", 1e300, "999999999d", "NaN", "1e309", "-1s", [], {}]
)
def test_clock_advance_out_of_range_is_refused_and_the_clock_keeps_working(
    client: httpx.Client, advance: object
) -> None:
    before = client.get("/_internal/clock").json()["now"]
    reply = client.post("/_internal/clock", json={"advance": advance})
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert (error["code"], error["status"]) == (400, "FAILED_PRECONDITION")
    assert error["message"].startswith("Cannot advance the clock by ")
    after = client.get("/_internal/clock")
    assert after.status_code == 200
    assert after.json()["now"] >= before
    assert client.get("/v1beta/files", headers={"x-goog-api-key": "clock-intact"}).status_code == 200
