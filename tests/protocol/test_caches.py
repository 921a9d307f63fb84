"""Context caching over raw HTTP: Google's errors for bad caches and bad uses of them, expiry, countTokens
and batch lines with ``cachedContent``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.protocol.uploading import advance_clock, assert_error, key_headers, upload_file
from tests.support import LiveServer

MODEL = "gemini-2.5-flash"
NOT_FOUND = "CachedContent not found (or permission denied)"


def create(client: httpx.Client, key: str, **body: Any) -> httpx.Response:
    return client.post(
        "/v1beta/cachedContents", headers=key_headers(key), json={"model": f"models/{MODEL}", **body}
    )


def text_cache(client: httpx.Client, key: str, **body: Any) -> dict[str, Any]:
    reply = create(client, key, contents=[{"role": "user", "parts": [{"text": "Cached words."}]}], **body)
    assert reply.status_code == 200, reply.text
    return reply.json()


def generate(
    client: httpx.Client, key: str, body: dict[str, Any], method: str = "generateContent"
) -> httpx.Response:
    return client.post(f"/v1beta/models/{MODEL}:{method}", headers=key_headers(key), json=body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"ttl": "300"}, "Invalid value at 'cached_content.ttl'"),
        ({"ttl": "abcs"}, "Invalid value at 'cached_content.ttl'"),
        ({"ttl": 300}, "Invalid value at 'cached_content.ttl'"),
        ({"ttl": "0s"}, "ttl must be positive."),
        ({"expireTime": "yesterday"}, "Invalid value at 'cached_content.expire_time'"),
        ({"expireTime": "2001-01-01T00:00:00Z"}, "expire_time must be in the future."),
        ({"ttl": "60s", "expireTime": "2999-01-01T00:00:00Z"}, "Only one of ttl and expire_time may be set."),
    ],
)
def test_create_with_a_bad_lifetime_is_invalid_argument(
    client: httpx.Client, api_key: str, body: dict[str, Any], message: str
) -> None:
    reply = create(client, api_key, contents=[{"parts": [{"text": "x"}]}], **body)
    error = assert_error(reply, 400, "INVALID_ARGUMENT")
    assert error["message"].startswith(message), error


def test_create_without_model_or_contents_is_invalid_argument(client: httpx.Client, api_key: str) -> None:
    reply = client.post("/v1beta/cachedContents", headers=key_headers(api_key), json={"contents": "x"})
    assert_error(
        reply,
        400,
        "INVALID_ARGUMENT",
        "* CreateCachedContentRequest.cached_content.model: model is required.",
    )
    assert_error(
        create(client, api_key),
        400,
        "INVALID_ARGUMENT",
        "* CreateCachedContentRequest.cached_content: contents is not specified",
    )


def test_create_with_a_missing_file_is_permission_denied_and_a_failed_one_failed_precondition(
    client: httpx.Client, api_key: str
) -> None:
    missing = create(client, api_key, contents=[{"parts": [{"fileData": {"fileUri": "files/nosuchfile"}}]}])
    assert_error(
        missing,
        403,
        "PERMISSION_DENIED",
        "You do not have permission to access the File nosuchfile or it may not exist.",
    )
    broken = upload_file(client, api_key, b"not a video at all" * 100, mime_type="video/mp4")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = client.get(f"/v1beta/{broken['name']}", headers=key_headers(api_key)).json()["state"]
        if state == "FAILED":
            break
        time.sleep(0.1)
    reply = create(client, api_key, contents=[{"parts": [{"fileData": {"fileUri": broken["uri"]}}]}])
    file_id = broken["name"].removeprefix("files/")
    assert_error(
        reply,
        400,
        "FAILED_PRECONDITION",
        f"The File {file_id} is not in an ACTIVE state and usage is not allowed.",
    )


def test_a_call_with_a_cache_may_not_set_its_own_system_instruction_or_another_model(
    client: httpx.Client, api_key: str
) -> None:
    cache = text_cache(client, api_key, systemInstruction={"parts": [{"text": "Be terse."}]})
    contents = [{"parts": [{"text": "Q"}]}]
    reply = generate(
        client,
        api_key,
        {
            "contents": contents,
            "cachedContent": cache["name"],
            "systemInstruction": {"parts": [{"text": "Other"}]},
        },
    )
    assert_error(
        reply,
        400,
        "INVALID_ARGUMENT",
        "CachedContent can not be used with GenerateContent request setting system_instruction, tools or "
        "tool_config.\n\nProposed fix: move those values to CachedContent from GenerateContent request.",
    )
    other = client.post(
        "/v1beta/models/gemini-2.0-flash:generateContent",
        headers=key_headers(api_key),
        json={"contents": contents, "cachedContent": cache["name"]},
    )
    assert_error(
        other,
        400,
        "INVALID_ARGUMENT",
        f"Model used by GenerateContent request (models/gemini-2.0-flash) and CachedContent "
        f"(models/{MODEL}) has to be the same.",
    )
    unknown = generate(client, api_key, {"contents": contents, "cachedContent": "cachedContents/nosuchcache"})
    assert_error(unknown, 403, "PERMISSION_DENIED", NOT_FOUND)


def test_count_tokens_with_a_cache_counts_it_and_reports_it(client: httpx.Client, api_key: str) -> None:
    cache = text_cache(client, api_key)  # "Cached words." = 4 tokens
    assert cache["usageMetadata"] == {"totalTokenCount": 4}
    inner = {
        "model": f"models/{MODEL}",
        "contents": [{"parts": [{"text": "12345678"}]}],
        "cachedContent": cache["name"],
    }
    reply = generate(client, api_key, {"generateContentRequest": inner}, "countTokens")
    assert reply.status_code == 200, reply.text
    assert reply.json()["totalTokens"] == 6 and reply.json()["cachedContentTokenCount"] == 4
    plain = generate(client, api_key, {"contents": inner["contents"]}, "countTokens").json()
    assert plain == {"totalTokens": 2, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 2}]}


def test_patch_changes_only_the_lifetime(client: httpx.Client, api_key: str) -> None:
    name = text_cache(client, api_key)["name"]
    url = f"/v1beta/{name}"
    assert_error(
        client.patch(url, headers=key_headers(api_key), json={"contents": []}), 400, "INVALID_ARGUMENT"
    )
    assert_error(
        client.patch(url, params={"updateMask": "contents"}, headers=key_headers(api_key), json={}),
        400,
        "INVALID_ARGUMENT",
    )
    assert_error(
        client.patch(url, headers=key_headers(api_key), json={}),
        400,
        "INVALID_ARGUMENT",
        "One of ttl and expire_time is required to update a cached content.",
    )
    assert_error(
        client.patch(url, headers=key_headers(api_key), json={"ttl": "soon"}), 400, "INVALID_ARGUMENT"
    )
    reply = client.patch(url, params={"updateMask": "ttl"}, headers=key_headers(api_key), json={"ttl": "90s"})
    assert reply.status_code == 200, reply.text


def test_an_expired_cache_disappears_at_once(server_factory: Callable[..., LiveServer], api_key: str) -> None:
    server = server_factory(GEMFILES_EMULATOR_CONTROLS="true")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        short = text_cache(client, api_key, ttl="60s")
        long = text_cache(client, api_key, ttl="7200s")
        advance_clock(client, "61s")
        assert_error(
            client.get(f"/v1beta/{short['name']}", headers=key_headers(api_key)),
            403,
            "PERMISSION_DENIED",
            NOT_FOUND,
        )
        use = generate(
            client, api_key, {"contents": [{"parts": [{"text": "x"}]}], "cachedContent": short["name"]}
        )
        assert_error(use, 403, "PERMISSION_DENIED", NOT_FOUND)
        listed = client.get("/v1beta/cachedContents", headers=key_headers(api_key)).json()
        assert [c["name"] for c in listed["cachedContents"]] == [long["name"]]


def test_a_batch_line_may_use_a_cache(client: httpx.Client, api_key: str) -> None:
    cache = text_cache(client, api_key)
    request = {"contents": [{"parts": [{"text": "Use it"}]}], "cachedContent": cache["name"]}
    reply = client.post(
        f"/v1beta/models/{MODEL}:batchGenerateContent",
        headers=key_headers(api_key),
        json={"batch": {"input_config": {"requests": {"requests": [{"request": request}]}}}},
    )
    assert reply.status_code == 200, reply.text
    name = reply.json()["name"]
    for _ in range(300):
        job = client.get(f"/v1beta/{name}", headers=key_headers(api_key)).json()
        if job.get("done"):
            break
        time.sleep(0.1)
    answer = job["response"]["inlinedResponses"]["inlinedResponses"][0]["response"]
    assert answer["usageMetadata"]["cachedContentTokenCount"] == 4
    assert "Cached words." in answer["candidates"][0]["content"]["parts"][0]["text"]
