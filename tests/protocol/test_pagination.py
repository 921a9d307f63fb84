"""files.list: keyset pages, newest first, stable while files come and go between page fetches."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests.protocol.uploading import START_PATH, key_headers
from tests.support import LiveServer


def multipart_request(key: str, label: str) -> dict[str, Any]:
    """A one-request multipart upload (cheap) of a small text file."""
    boundary = "b0undary"
    body = (
        f"--{boundary}\r\nContent-Type: application/json\r\n\r\n"
        + json.dumps({"file": {"displayName": label}})
        + f"\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\n{label}\r\n--{boundary}--"
    ).encode()
    headers = {
        **key_headers(key),
        "X-Goog-Upload-Protocol": "multipart",
        "Content-Type": f"multipart/related; boundary={boundary}",
    }
    return {"content": body, "headers": headers}


def quick_upload(client: httpx.Client, key: str, label: str) -> str:
    reply = client.post(START_PATH, **multipart_request(key, label))
    assert reply.status_code == 200, reply.text
    return reply.json()["file"]["name"]


def page(client: httpx.Client, key: str, **params: Any) -> tuple[list[str], str | None]:
    reply = client.get("/v1beta/files", params=params, headers=key_headers(key))
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert set(body) <= {"files", "nextPageToken"}
    return [f["name"] for f in body.get("files", [])], body.get("nextPageToken")


def delete(client: httpx.Client, key: str, name: str) -> None:
    reply = client.delete(f"/v1beta/{name}", headers=key_headers(key))
    assert reply.status_code == 200 and reply.json() == {}


def test_list_files_empty_project_returns_empty_object(client: httpx.Client, api_key: str) -> None:
    reply = client.get("/v1beta/files", headers=key_headers(api_key))
    assert reply.status_code == 200
    assert reply.json() == {}


def test_list_files_pages_newest_first_until_no_token(client: httpx.Client, api_key: str) -> None:
    created = [quick_upload(client, api_key, f"f{i}") for i in range(5)]
    seen: list[str] = []
    names, token = page(client, api_key, pageSize=2)
    pages = [names]
    while token:
        names, token = page(client, api_key, pageSize=2, pageToken=token)
        pages.append(names)
    assert [len(p) for p in pages] == [2, 2, 1]
    for names in pages:
        seen.extend(names)
    assert seen == created[::-1]


def test_list_files_page_size_exact_multiple_ends_without_token(client: httpx.Client, api_key: str) -> None:
    created = [quick_upload(client, api_key, f"f{i}") for i in range(4)]
    first, token = page(client, api_key, pageSize=2)
    second, token2 = page(client, api_key, pageSize=2, pageToken=token)
    assert first + second == created[::-1]
    # Either the last full page has no token, or the next one is empty and has none.
    if token2:
        assert page(client, api_key, pageSize=2, pageToken=token2) == ([], None)


def test_list_files_snake_case_params_are_accepted(client: httpx.Client, api_key: str) -> None:
    created = [quick_upload(client, api_key, f"f{i}") for i in range(3)]
    names, token = page(client, api_key, page_size=2)
    assert names == created[:0:-1]
    assert page(client, api_key, page_size=2, page_token=token) == ([created[0]], None)


async def test_list_files_page_size_over_max_is_clamped_to_100(live_server: LiveServer, api_key: str) -> None:
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60) as http:
        gate = asyncio.Semaphore(8)

        async def one(i: int) -> str:
            async with gate:
                reply = await http.post(START_PATH, **multipart_request(api_key, f"f{i}"))
                assert reply.status_code == 200, reply.text
                return reply.json()["file"]["name"]

        created = set(await asyncio.gather(*(one(i) for i in range(103))))

        async def listing(**params: Any) -> tuple[list[dict], str | None]:
            reply = await http.get("/v1beta/files", params=params, headers=key_headers(api_key))
            assert reply.status_code == 200, reply.text
            return reply.json().get("files", []), reply.json().get("nextPageToken")

        for size in (101, 1000, 2**31):
            first, token = await listing(pageSize=size)
            assert len(first) == 100 and token
            rest, end = await listing(pageSize=size, pageToken=token)
            assert len(rest) == 3 and end is None
            files = first + rest
            assert {f["name"] for f in files} == created
            keys = [(f["createTime"], f["name"]) for f in files]
            assert keys == sorted(keys, reverse=True)  # newest first
        default, token = await listing()
        assert [f["name"] for f in default] == [f["name"] for f in files[:10]]


def test_list_files_stable_under_concurrent_inserts_and_deletes(client: httpx.Client, api_key: str) -> None:
    created = [quick_upload(client, api_key, f"f{i}") for i in range(12)]
    newest_first = created[::-1]
    seen: list[str] = []

    first, token = page(client, api_key, pageSize=4)
    seen += first
    assert first == newest_first[:4]
    # Between fetches: new files arrive, a seen file and two files of later pages go away.
    inserted = [quick_upload(client, api_key, "new-a"), quick_upload(client, api_key, "new-b")]
    delete(client, api_key, first[0])
    delete(client, api_key, newest_first[5])
    delete(client, api_key, newest_first[9])

    second, token = page(client, api_key, pageSize=4, pageToken=token)
    seen += second
    inserted.append(quick_upload(client, api_key, "new-c"))
    delete(client, api_key, second[-1])  # the cursor's own file: the next page still starts right after it

    while token:
        more, token = page(client, api_key, pageSize=4, pageToken=token)
        seen += more

    deleted_later = {newest_first[5], newest_first[9]}
    survivors = [name for name in newest_first if name not in deleted_later]
    assert seen == survivors  # every file that existed throughout, once, in order
    assert len(seen) == len(set(seen))
    assert not set(inserted) & set(seen)  # newer than the cursor: they belong to a fresh listing
    everything, _ = page(client, api_key, pageSize=100)
    assert everything[:3] == inserted[::-1]
