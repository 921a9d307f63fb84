"""The async Python client (``client.aio``), unmodified, against a live server."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from google import genai
from google.genai import errors, types

from tests.conformance.conftest import TWENTY_MB
from tests.conformance.expect import (
    NON_ASCII_NAME,
    UNSUPPORTED_MIME,
    decoded_sha256,
    permission_denied_message,
    sha256_hash_field,
    tiny_png,
)
from tests.support import LiveServer

AsyncClient = genai.client.AsyncClient

# google-genai subclasses aiohttp.ClientSession, which aiohttp warns about; nothing for us to act on.
pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")


def assert_uploaded(file: types.File, data: bytes, mime_type: str) -> None:
    assert file.name is not None and file.name.startswith("files/")
    assert file.mime_type == mime_type
    assert file.size_bytes == len(data)
    assert decoded_sha256(file.sha256_hash) == hashlib.sha256(data).hexdigest()
    assert file.state == types.FileState.ACTIVE
    assert file.source == types.FileSource.UPLOADED
    assert file.uri and file.uri.endswith("/" + file.name)


async def names_of(aclient: AsyncClient, page_size: int | None = None) -> list[str | None]:
    config = {"page_size": page_size} if page_size else None
    return [f.name async for f in await aclient.files.list(config=config)]


async def test_upload_small_file_returns_active_file(aclient: AsyncClient) -> None:
    data = b"The quick brown fox jumps over the lazy dog.\n"
    uploaded = await aclient.files.upload(
        file=io.BytesIO(data), config={"mime_type": "text/plain", "display_name": "fox.txt"}
    )
    assert_uploaded(uploaded, data, "text/plain")
    assert uploaded.display_name == "fox.txt"


async def test_upload_empty_file_returns_zero_size_file(aclient: AsyncClient) -> None:
    uploaded = await aclient.files.upload(file=io.BytesIO(b""), config={"mime_type": "text/plain"})
    assert_uploaded(uploaded, b"", "text/plain")
    assert (await aclient.files.get(name=uploaded.name)).size_bytes == 0


async def test_upload_20mb_file_keeps_size_and_hash(aclient: AsyncClient, twenty_mb: bytes) -> None:
    uploaded = await aclient.files.upload(file=io.BytesIO(twenty_mb), config={"mime_type": "application/pdf"})
    assert_uploaded(uploaded, twenty_mb, "application/pdf")
    fetched = await aclient.files.get(name=uploaded.name)
    assert fetched.size_bytes == TWENTY_MB
    assert fetched.sha256_hash == sha256_hash_field(twenty_mb)


async def test_upload_bytesio_keeps_binary_bytes(aclient: AsyncClient) -> None:
    data = tiny_png()
    uploaded = await aclient.files.upload(file=io.BytesIO(data), config={"mime_type": "image/png"})
    assert_uploaded(uploaded, data, "image/png")


async def test_upload_file_from_path_guesses_mime_type(aclient: AsyncClient, tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    data = b"a,b\n1,2\n"
    path.write_bytes(data)
    uploaded = await aclient.files.upload(file=path)
    assert_uploaded(uploaded, data, "text/csv")


async def test_upload_non_ascii_display_name_round_trips_exactly(aclient: AsyncClient) -> None:
    uploaded = await aclient.files.upload(
        file=io.BytesIO(b"unicode"), config={"mime_type": "text/plain", "display_name": NON_ASCII_NAME}
    )
    assert uploaded.display_name == NON_ASCII_NAME
    assert (await aclient.files.get(name=uploaded.name)).display_name == NON_ASCII_NAME
    assert [f.display_name async for f in await aclient.files.list()] == [NON_ASCII_NAME]


async def test_upload_custom_name_is_kept(aclient: AsyncClient) -> None:
    uploaded = await aclient.files.upload(
        file=io.BytesIO(b"custom"), config={"mime_type": "text/plain", "name": "files/my-custom-1"}
    )
    assert uploaded.name == "files/my-custom-1"
    fetched = await aclient.files.get(name="files/my-custom-1")
    assert fetched.sha256_hash == sha256_hash_field(b"custom")


async def test_upload_duplicate_custom_name_is_conflict(aclient: AsyncClient) -> None:
    await aclient.files.upload(
        file=io.BytesIO(b"first"), config={"mime_type": "text/plain", "name": "dup-name"}
    )
    with pytest.raises(errors.ClientError) as caught:
        await aclient.files.upload(
            file=io.BytesIO(b"second"), config={"mime_type": "text/plain", "name": "dup-name"}
        )
    assert caught.value.code == 409
    assert caught.value.status == "ALREADY_EXISTS"
    assert (await aclient.files.get(name="files/dup-name")).sha256_hash == sha256_hash_field(b"first")


async def test_get_returns_the_uploaded_file(aclient: AsyncClient) -> None:
    uploaded = await aclient.files.upload(
        file=io.BytesIO(b"get me"), config={"mime_type": "text/csv", "display_name": "get"}
    )
    assert await aclient.files.get(name=uploaded.name) == uploaded


async def test_list_page_size_2_yields_each_file_once_newest_first(aclient: AsyncClient) -> None:
    names = []
    for i in range(5):
        uploaded = await aclient.files.upload(
            file=io.BytesIO(f"file {i}".encode()), config={"mime_type": "text/plain"}
        )
        names.append(uploaded.name)
    newest_first = names[::-1]

    assert await names_of(aclient, page_size=2) == newest_first

    pager = await aclient.files.list(config={"page_size": 2})
    pages = [[f.name for f in pager.page]]
    while True:
        try:
            pages.append([f.name for f in await pager.next_page()])
        except IndexError:  # the SDK's end-of-list signal
            break
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:]]


async def test_delete_then_get_is_permission_denied(aclient: AsyncClient) -> None:
    uploaded = await aclient.files.upload(file=io.BytesIO(b"short-lived"), config={"mime_type": "text/plain"})
    await aclient.files.delete(name=uploaded.name)
    with pytest.raises(errors.ClientError) as caught:
        await aclient.files.get(name=uploaded.name)
    assert caught.value.code == 403
    assert caught.value.status == "PERMISSION_DENIED"
    assert caught.value.message == permission_denied_message(uploaded.name)
    assert await names_of(aclient) == []


async def test_upload_unsupported_mime_type_raises_400(aclient: AsyncClient) -> None:
    with pytest.raises(errors.ClientError) as caught:
        await aclient.files.upload(file=io.BytesIO(b"mystery"), config={"mime_type": UNSUPPORTED_MIME})
    assert caught.value.code == 400
    assert caught.value.status == "INVALID_ARGUMENT"
    assert caught.value.message == f"Unsupported MIME type: {UNSUPPORTED_MIME}"
    assert await names_of(aclient) == []


async def test_second_key_cannot_get_list_or_delete_files(
    aclient: AsyncClient, live_server: LiveServer, other_api_key: str
) -> None:
    mine = await aclient.files.upload(file=io.BytesIO(b"private"), config={"mime_type": "text/plain"})
    async with genai.Client(api_key=other_api_key, http_options={"base_url": live_server.url}).aio as other:
        with pytest.raises(errors.ClientError) as on_get:
            await other.files.get(name=mine.name)
        assert on_get.value.code == 403
        assert on_get.value.message == permission_denied_message(mine.name)
        assert await names_of(other) == []
        with pytest.raises(errors.ClientError) as on_delete:
            await other.files.delete(name=mine.name)
        assert on_delete.value.code == 403
    assert (await aclient.files.get(name=mine.name)).sha256_hash == sha256_hash_field(b"private")
