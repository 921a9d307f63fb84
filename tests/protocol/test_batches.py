"""The Batch API over raw HTTP: the errors a bad create, get, cancel or list gets (never a 500), the
generated results file (quota, download, expiry), and a restart in the middle of a batch."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.protocol.uploading import advance_clock, assert_error, key_headers, sweep, upload_file, usage
from tests.support import LiveServer

MODEL = "gemini-2.5-flash"
CREATE = f"/v1beta/models/{MODEL}:batchGenerateContent"


def jsonl(count: int) -> bytes:
    return b"".join(
        json.dumps({"key": f"k{i}", "request": {"contents": [{"parts": [{"text": f"t{i}"}]}]}}).encode()
        + b"\n"
        for i in range(count)
    )


def create(client: httpx.Client, key: str, config: dict[str, Any]) -> httpx.Response:
    return client.post(CREATE, headers=key_headers(key), json={"batch": {"input_config": config}})


def hold(client: httpx.Client, key: str, state: str | None, after_lines: int = 0) -> None:
    reply = client.post(
        "/_internal/batches/hold", headers=key_headers(key), json={"hold": state, "afterLines": after_lines}
    )
    assert reply.status_code == 200, reply.text


def wait(
    client: httpx.Client, key: str, name: str, until: Callable[[dict[str, Any]], bool], timeout: float = 60
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            reply = client.get(f"/v1beta/{name}", headers=key_headers(key))
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        assert reply.status_code == 200, reply.text
        job = reply.json()
        if until(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"{name}: condition not reached: {job}")


def succeeded(job: dict[str, Any]) -> bool:
    return job["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"


# Errors -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "* BatchGenerateContentRequest.batch: batch is required."),
        ({"batch": {}}, "* BatchGenerateContentRequest.batch.input_config: input_config is required."),
        (
            {"batch": {"input_config": {}}},
            "* BatchGenerateContentRequest.batch.input_config: exactly one of file_name and requests is required.",
        ),
        (
            {"batch": {"input_config": {"file_name": "files/a", "requests": {"requests": []}}}},
            "* BatchGenerateContentRequest.batch.input_config: exactly one of file_name and requests is required.",
        ),
        (
            {"batch": {"input_config": {"requests": {"requests": []}}}},
            "* BatchGenerateContentRequest.batch.input_config.requests: requests is empty.",
        ),
        (
            {"batch": {"input_config": {"requests": {"requests": [{"request": "hi"}]}}}},
            "Invalid value at 'batch.input_config.requests.requests[0].request': expected an object.",
        ),
        (
            {"batch": {"input_config": {"requests": {"requests": "hi"}}}},
            "Invalid value at 'batch.input_config.requests.requests': expected a list.",
        ),
        (
            {"batch": {"input_config": {"file_name": 7}}},
            "Invalid value at 'batch.input_config.file_name': expected a string.",
        ),
    ],
)
def test_create_with_a_malformed_body_is_invalid_argument(
    client: httpx.Client, api_key: str, body: dict[str, Any], message: str
) -> None:
    reply = client.post(CREATE, headers=key_headers(api_key), json=body)
    assert_error(reply, 400, "INVALID_ARGUMENT", message)


def test_create_from_a_missing_or_foreign_file_is_permission_denied(
    client: httpx.Client, api_key: str, new_key: Callable[[], str]
) -> None:
    message = "You do not have permission to access the File {} or it may not exist."
    assert_error(
        create(client, api_key, {"file_name": "files/nosuchfile"}),
        403,
        "PERMISSION_DENIED",
        message.format("nosuchfile"),
    )
    theirs = upload_file(client, new_key(), jsonl(1), mime_type="jsonl")
    reply = create(client, api_key, {"file_name": theirs["name"]})
    assert_error(reply, 403, "PERMISSION_DENIED", message.format(theirs["name"].removeprefix("files/")))
    assert_error(create(client, api_key, {"file_name": "files/Not_A_Name"}), 400, "INVALID_ARGUMENT")


def test_create_without_a_key_is_refused_like_every_call(client: httpx.Client) -> None:
    reply = client.post(CREATE, json={"batch": {"input_config": {"file_name": "files/a"}}})
    files_reply = client.get("/v1beta/files")
    assert reply.status_code == files_reply.status_code and reply.json() == files_reply.json()


def test_get_cancel_and_delete_of_unknown_or_foreign_batches_are_not_found(
    client: httpx.Client, api_key: str, new_key: Callable[[], str]
) -> None:
    hold(client, api_key, "pending")
    mine = create(client, api_key, {"requests": {"requests": [{"request": {"contents": []}}]}}).json()["name"]
    other = new_key()
    for method, path in (("GET", ""), ("POST", ":cancel"), ("DELETE", "")):
        for key, name in ((other, mine), (api_key, "batches/nosuchbatch"), (api_key, "batches/no_such!")):
            reply = client.request(method, f"/v1beta/{name}{path}", headers=key_headers(key))
            assert_error(reply, 404, "NOT_FOUND")
    assert_error(client.post(f"/v1beta/{mine}:pause", headers=key_headers(api_key)), 404, "NOT_FOUND")
    hold(client, api_key, None)


def test_cancel_of_a_finished_batch_is_failed_precondition(client: httpx.Client, api_key: str) -> None:
    name = create(client, api_key, {"requests": {"requests": [{"request": {"contents": "x"}}]}}).json()[
        "name"
    ]
    done = wait(client, api_key, name, succeeded)
    reply = client.post(f"/v1beta/{name}:cancel", headers=key_headers(api_key))
    assert_error(
        reply,
        400,
        "FAILED_PRECONDITION",
        f"Batch {name} is already BATCH_STATE_SUCCEEDED and cannot be cancelled.",
    )
    # The bad request ("contents" is a string) is an error in its answer, not a failed job.
    answer = done["response"]["inlinedResponses"]["inlinedResponses"][0]
    assert answer["error"]["code"] == 400 and "response" not in answer
    assert done["metadata"]["batchStats"] == {"requestCount": "1", "failedRequestCount": "1"}


@pytest.mark.parametrize(("params", "status"), [({"pageToken": "garbage"}, 400), ({"pageSize": "-1"}, 400)])
def test_list_with_bad_paging_is_invalid_argument(
    client: httpx.Client, api_key: str, params: dict[str, str], status: int
) -> None:
    reply = client.get("/v1beta/batches", headers=key_headers(api_key), params=params)
    assert_error(reply, status, "INVALID_ARGUMENT")


def test_hold_control_refuses_an_unknown_state(client: httpx.Client, api_key: str) -> None:
    reply = client.post("/_internal/batches/hold", headers=key_headers(api_key), json={"hold": "paused"})
    assert_error(reply, 400, "INVALID_ARGUMENT")


def test_hold_control_is_off_without_emulator_controls(server_factory: Callable[..., LiveServer]) -> None:
    server = server_factory()
    reply = httpx.post(f"{server.url}/_internal/batches/hold", headers={"x-goog-api-key": "k"}, json={})
    assert_error(reply, 404, "NOT_FOUND")


# The results file ---------------------------------------------------------------------------------------


def test_results_file_counts_in_quota_downloads_and_expires_like_other_files(
    server_factory: Callable[..., LiveServer], api_key: str
) -> None:
    server = server_factory(GEMFILES_EMULATOR_CONTROLS="true")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        source = upload_file(client, api_key, jsonl(20), mime_type="application/jsonl")
        name = create(client, api_key, {"file_name": source["name"]}).json()["name"]
        done = wait(client, api_key, name, succeeded)
        output = done["response"]["responsesFile"]
        file = client.get(f"/v1beta/{output}", headers=key_headers(api_key)).json()
        assert file["source"] == "GENERATED" and file["mimeType"] == "application/jsonl"
        assert file["downloadUri"].endswith(f"/v1beta/{output}:download?alt=media")
        used, _ = usage(client, api_key)
        assert used == int(source["sizeBytes"]) + int(file["sizeBytes"])

        data = client.get(f"/v1beta/{output}:download", params={"alt": "media"}, headers=key_headers(api_key))
        assert data.status_code == 200 and len(data.content) == int(file["sizeBytes"])
        # Uploaded files stay refused (GEMFILES_ALLOW_DOWNLOAD is off).
        refused = client.get(
            f"/v1beta/{source['name']}:download", params={"alt": "media"}, headers=key_headers(api_key)
        )
        assert_error(refused, 400, "FAILED_PRECONDITION")

        advance_clock(client, "49h")
        assert client.get(f"/v1beta/{output}", headers=key_headers(api_key)).status_code == 403
        sweep(client)
        assert usage(client, api_key) == (0, 0)
        # The job itself still answers, naming the expired file.
        assert (
            client.get(f"/v1beta/{name}", headers=key_headers(api_key)).json()["response"]["responsesFile"]
            == output
        )


# Restarts -----------------------------------------------------------------------------------------------


def assert_every_key_once(client: httpx.Client, key: str, job: dict[str, Any], count: int) -> None:
    output = job["response"]["responsesFile"]
    data = client.get(f"/v1beta/{output}:download", params={"alt": "media"}, headers=key_headers(key))
    keys = [json.loads(line)["key"] for line in data.text.splitlines()]
    assert keys == [f"k{i}" for i in range(count)]  # in input order, each once
    assert job["metadata"]["batchStats"] == {"requestCount": str(count), "successfulRequestCount": str(count)}


def test_a_batch_resumes_after_a_restart_in_the_middle_and_answers_each_key_once(
    server_factory: Callable[..., LiveServer], api_key: str
) -> None:
    server = server_factory(GEMFILES_EMULATOR_CONTROLS="true")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        source = upload_file(client, api_key, jsonl(700), mime_type="jsonl")
        hold(client, api_key, "running", after_lines=333)
        name = create(client, api_key, {"file_name": source["name"]}).json()["name"]
        held = wait(
            client,
            api_key,
            name,
            lambda j: j["metadata"]["batchStats"].get("successfulRequestCount") == "333",
        )
        assert held["metadata"]["state"] == "BATCH_STATE_RUNNING" and "done" not in held
    server.restart()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        running = client.get(f"/v1beta/{name}", headers=key_headers(api_key)).json()
        assert running["metadata"]["state"] == "BATCH_STATE_RUNNING"
        hold(client, api_key, None)
        assert_every_key_once(client, api_key, wait(client, api_key, name, succeeded), 700)


def test_a_batch_survives_kill_9_while_lines_are_being_answered(
    server_factory: Callable[..., LiveServer], api_key: str
) -> None:
    server = server_factory(GEMFILES_EMULATOR_CONTROLS="true", GEMFILES_BATCH_CONCURRENCY="2")
    count = 3000
    with httpx.Client(base_url=server.url, timeout=30) as client:
        source = upload_file(client, api_key, jsonl(count), mime_type="jsonl")
        hold(client, api_key, "running", after_lines=100)
        name = create(client, api_key, {"file_name": source["name"]}).json()["name"]
        wait(
            client,
            api_key,
            name,
            lambda j: j["metadata"]["batchStats"].get("successfulRequestCount") == "100",
        )
        hold(client, api_key, None)
        wait(
            client,
            api_key,
            name,
            lambda j: int(j["metadata"]["batchStats"].get("successfulRequestCount", 0)) > 200,
        )
    server.kill()
    server.start()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        # Killed mid-run: still RUNNING, partly answered, until the dead runner's lease runs out.
        mid = client.get(f"/v1beta/{name}", headers=key_headers(api_key)).json()
        assert mid["metadata"]["state"] == "BATCH_STATE_RUNNING"
        assert int(mid["metadata"]["batchStats"]["successfulRequestCount"]) < count
        job = wait(client, api_key, name, succeeded, timeout=90)
        assert_every_key_once(client, api_key, job, count)


def test_bad_lines_each_get_an_error_line_and_the_rest_are_answered(
    server_factory: Callable[..., LiveServer], api_key: str
) -> None:
    server = server_factory(GEMFILES_MAX_REQUEST_BYTES="2048")
    huge = json.dumps({"key": "huge", "request": {"contents": [{"parts": [{"text": "x" * 3000}]}]}}).encode()
    data = b"\n".join(
        [
            b'{"key": "k0", "request": {"contents": [{"parts": [{"text": "t0"}]}]}}',
            b"",
            b"{not json",
            b"[1, 2]",
            b'{"key": "no-request"}',
            huge,
            b'{"key": 7, "request": {"contents": []}}',
            b'{"key": "k1", "request": {"contents": [{"parts": [{"text": "t1"}]}]}}',
        ]
    )
    with httpx.Client(base_url=server.url, timeout=30) as client:
        source = upload_file(client, api_key, data, mime_type="jsonl")
        name = create(client, api_key, {"file_name": source["name"]}).json()["name"]
        job = wait(client, api_key, name, succeeded)
        output = job["response"]["responsesFile"]
        reply = client.get(
            f"/v1beta/{output}:download", params={"alt": "media"}, headers=key_headers(api_key)
        )
    lines = [json.loads(line) for line in reply.text.splitlines()]
    assert [line.get("key") for line in lines] == ["k0", None, None, "no-request", None, "7", "k1"]
    assert [("response" in line, line.get("error", {}).get("status")) for line in lines] == [
        (True, None),
        (False, "INVALID_ARGUMENT"),
        (False, "INVALID_ARGUMENT"),
        (False, "INVALID_ARGUMENT"),
        (False, "INVALID_ARGUMENT"),
        (False, "INVALID_ARGUMENT"),  # no contents: generateContent's own 400
        (True, None),
    ]
    assert lines[1]["error"]["message"].startswith("Invalid JSON in input line 2")
    assert lines[4]["error"]["message"] == "The request line exceeds 2048 bytes."
    stats = job["metadata"]["batchStats"]
    assert stats == {"requestCount": "7", "successfulRequestCount": "2", "failedRequestCount": "5"}
