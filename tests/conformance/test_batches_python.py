"""The Python SDK, unmodified, on the Batch API as Google's Batch API page uses it (sync and async).

Batches from an uploaded JSONL file (``mime_type="jsonl"``, as the page uploads it) and from inline
requests, polled to the end, the results file downloaded and matched by key; cancel, delete and list.
The emulator control ``/_internal/batches/hold`` keeps a project's jobs PENDING or RUNNING so every
state can be seen.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.support import LiveServer

MODEL = "gemini-2.5-flash"
DONE = {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"}


def batch_jsonl(count: int, *, with_file: str | None = None) -> bytes:
    lines = []
    for i in range(count):
        parts: list[dict[str, Any]] = [{"text": f"Question {i}"}]
        if with_file and i == 0:
            parts.append({"file_data": {"file_uri": with_file, "mime_type": "text/plain"}})
        lines.append(json.dumps({"key": f"request-{i}", "request": {"contents": [{"parts": parts}]}}))
    return ("\n".join(lines) + "\n").encode()


def hold(server: LiveServer, api_key: str, state: str | None, after_lines: int = 0) -> None:
    reply = httpx.post(
        f"{server.url}/_internal/batches/hold",
        headers={"x-goog-api-key": api_key},
        json={"hold": state, "afterLines": after_lines},
    )
    assert reply.status_code == 200, reply.text


def wait_done(client: genai.Client, name: str, timeout: float = 60) -> types.BatchJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.batches.get(name=name)
        assert job.state is not None
        if job.state.name in DONE:
            return job
        time.sleep(0.2)
    raise AssertionError(f"{name} did not finish")


def results_by_key(data: bytes) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for line in data.decode().splitlines():
        item = json.loads(line)
        assert item["key"] not in out, f"{item['key']} answered twice"
        out[item["key"]] = item
    return out


def test_batch_from_an_uploaded_jsonl_file_runs_and_its_results_download_by_key(client: genai.Client) -> None:
    context = client.files.upload(file=io.BytesIO(b"The sky is blue.\n"), config={"mime_type": "text/plain"})
    assert context.uri is not None
    uploaded = client.files.upload(
        file=io.BytesIO(batch_jsonl(12, with_file=context.uri)),
        config=types.UploadFileConfig(display_name="my-batch-requests", mime_type="jsonl"),
    )
    assert uploaded.name is not None and uploaded.state is not None and uploaded.state.name == "ACTIVE"

    job = client.batches.create(model=MODEL, src=uploaded.name, config={"display_name": "file-batch-job-1"})
    assert job.name is not None and job.name.startswith("batches/")
    assert job.state is not None and job.state.name in ("JOB_STATE_PENDING", "JOB_STATE_RUNNING")
    assert job.display_name == "file-batch-job-1"
    assert job.model == f"models/{MODEL}"

    done = wait_done(client, job.name)
    assert done.state is not None and done.state.name == "JOB_STATE_SUCCEEDED"
    assert done.create_time is not None and done.end_time is not None and done.end_time >= done.create_time
    assert done.dest is not None and done.dest.file_name is not None

    result_file = client.files.get(name=done.dest.file_name)
    assert result_file.source is not None and result_file.source.name == "GENERATED"
    assert result_file.download_uri is not None
    content = client.files.download(file=result_file)  # by File: allowed because it is GENERATED
    assert result_file.size_bytes == len(content)
    results = results_by_key(content)
    assert sorted(results) == sorted(f"request-{i}" for i in range(12))
    answer = types.GenerateContentResponse.model_validate(results["request-0"]["response"])
    assert answer.text is not None and "Question 0" in answer.text and context.name in answer.text
    assert "Question 7" in (
        types.GenerateContentResponse.model_validate(results["request-7"]["response"]).text or ""
    )


def test_batch_of_inline_requests_answers_inline_in_order(client: genai.Client) -> None:
    inline_requests = [
        {"contents": [{"parts": [{"text": "Tell me a one-sentence joke."}], "role": "user"}]},
        {"contents": [{"parts": [{"text": "Why is the sky blue?"}], "role": "user"}]},
    ]
    job = client.batches.create(
        model=f"models/{MODEL}", src=inline_requests, config={"display_name": "inline"}
    )
    assert job.name is not None
    done = wait_done(client, job.name)
    assert done.state is not None and done.state.name == "JOB_STATE_SUCCEEDED"
    assert done.dest is not None and done.dest.inlined_responses is not None
    texts = [r.response.text for r in done.dest.inlined_responses if r.response is not None]
    assert len(texts) == 2
    assert "one-sentence joke" in (texts[0] or "") and "sky blue" in (texts[1] or "")


def test_a_failing_line_carries_its_error_and_the_job_still_succeeds(client: genai.Client) -> None:
    data = (
        batch_jsonl(2) + b'{"key": "missing-file", "request": {"contents": [{"parts": [{"file_data": '
        b'{"file_uri": "files/doesnotexist"}}]}]}}\n{"key": "broken", "request": "not an object"}\nnot json\n'
    )
    uploaded = client.files.upload(file=io.BytesIO(data), config={"mime_type": "application/x-ndjson"})
    assert uploaded.name is not None
    job = client.batches.create(model=MODEL, src=uploaded.name)
    assert job.name is not None
    done = wait_done(client, job.name)
    assert done.state is not None and done.state.name == "JOB_STATE_SUCCEEDED"
    assert done.dest is not None and done.dest.file_name is not None
    lines = [
        json.loads(line) for line in client.files.download(file=done.dest.file_name).decode().splitlines()
    ]
    assert [line.get("key") for line in lines] == ["request-0", "request-1", "missing-file", "broken", None]
    assert "response" in lines[0] and "response" in lines[1]
    assert lines[2]["error"]["code"] == 403 and lines[2]["error"]["status"] == "PERMISSION_DENIED"
    assert lines[3]["error"]["status"] == lines[4]["error"]["status"] == "INVALID_ARGUMENT"


def test_cancel_a_pending_batch_then_delete_it(
    client: genai.Client, live_server: LiveServer, api_key: str
) -> None:
    hold(live_server, api_key, "pending")
    job = client.batches.create(model=MODEL, src=[{"contents": [{"parts": [{"text": "hi"}]}]}])
    assert job.name is not None
    time.sleep(0.5)
    pending = client.batches.get(name=job.name)
    assert pending.state is not None and pending.state.name == "JOB_STATE_PENDING"
    client.batches.cancel(name=job.name)
    cancelled = client.batches.get(name=job.name)
    assert cancelled.state is not None and cancelled.state.name == "JOB_STATE_CANCELLED"
    with pytest.raises(errors.ClientError) as again:
        client.batches.cancel(name=job.name)
    assert again.value.code == 400

    client.batches.delete(name=job.name)
    with pytest.raises(errors.ClientError) as gone:
        client.batches.get(name=job.name)
    assert gone.value.code == 404
    hold(live_server, api_key, None)


def test_a_batch_held_running_shows_running_then_finishes_when_released(
    client: genai.Client, live_server: LiveServer, api_key: str
) -> None:
    hold(live_server, api_key, "running", after_lines=1)
    uploaded = client.files.upload(file=io.BytesIO(batch_jsonl(3)), config={"mime_type": "application/jsonl"})
    assert uploaded.name is not None
    job = client.batches.create(model=MODEL, src=uploaded.name)
    assert job.name is not None
    deadline = time.monotonic() + 20
    state = None
    while time.monotonic() < deadline:
        state = client.batches.get(name=job.name).state
        if state is not None and state.name == "JOB_STATE_RUNNING":
            break
        time.sleep(0.1)
    assert state is not None and state.name == "JOB_STATE_RUNNING"
    time.sleep(0.8)
    assert client.batches.get(name=job.name).state.name == "JOB_STATE_RUNNING"  # type: ignore[union-attr]
    hold(live_server, api_key, None)
    done = wait_done(client, job.name)
    assert done.state is not None and done.state.name == "JOB_STATE_SUCCEEDED"


def test_list_batches_pages_through_every_job(
    client: genai.Client, live_server: LiveServer, api_key: str
) -> None:
    hold(live_server, api_key, "pending")
    names = []
    for i in range(3):
        job = client.batches.create(
            model=MODEL, src=[{"contents": [{"parts": [{"text": str(i)}]}]}], config={"display_name": f"j{i}"}
        )
        names.append(job.name)
    listed = [job.name for job in client.batches.list(config={"page_size": 2})]
    assert sorted(listed) == sorted(names)
    for name in names:
        assert name is not None
        client.batches.delete(name=name)
    assert list(client.batches.list()) == []
    hold(live_server, api_key, None)


def test_another_projects_batch_is_not_found(
    client: genai.Client, live_server: LiveServer, other_api_key: str
) -> None:
    job = client.batches.create(model=MODEL, src=[{"contents": [{"parts": [{"text": "mine"}]}]}])
    assert job.name is not None
    with genai.Client(api_key=other_api_key, http_options={"base_url": live_server.url}) as other:
        with pytest.raises(errors.ClientError) as caught:
            other.batches.get(name=job.name)
        assert caught.value.code == 404
        with pytest.raises(errors.ClientError):
            other.batches.delete(name=job.name)
    assert client.batches.get(name=job.name).name == job.name


async def test_async_client_runs_a_file_batch_to_the_end(aclient: genai.client.AsyncClient) -> None:
    uploaded = await aclient.files.upload(file=io.BytesIO(batch_jsonl(5)), config={"mime_type": "jsonl"})
    assert uploaded.name is not None
    job = await aclient.batches.create(model=MODEL, src=uploaded.name)
    assert job.name is not None
    for _ in range(300):
        job = await aclient.batches.get(name=job.name)
        assert job.state is not None and job.name is not None
        if job.state.name in DONE:
            break
        await asyncio.sleep(0.2)
    assert job.state is not None and job.state.name == "JOB_STATE_SUCCEEDED"
    assert job.dest is not None and job.dest.file_name is not None
    results = results_by_key(await aclient.files.download(file=job.dest.file_name))
    assert sorted(results) == [f"request-{i}" for i in range(5)]
    names = [listed.name async for listed in await aclient.batches.list()]
    assert job.name in names
    await aclient.batches.delete(name=job.name)


async def test_async_client_creates_and_cancels_an_inline_batch(
    aclient: genai.client.AsyncClient, live_server: LiveServer, api_key: str
) -> None:
    hold(live_server, api_key, "pending")
    job = await aclient.batches.create(model=MODEL, src=[{"contents": [{"parts": [{"text": "x"}]}]}])
    assert job.name is not None
    await aclient.batches.cancel(name=job.name)
    cancelled = await aclient.batches.get(name=job.name)
    assert cancelled.state is not None and cancelled.state.name == "JOB_STATE_CANCELLED"
    hold(live_server, api_key, None)
