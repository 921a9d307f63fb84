"""The smallest end-to-end check: the unmodified Python SDK uploads, gets and deletes a file."""

from __future__ import annotations

import io

import pytest
from google import genai
from google.genai import errors

from tests.support import LiveServer


def test_upload_get_delete_text_file(live_server: LiveServer, api_key: str) -> None:
    client = genai.Client(api_key=api_key, http_options={"base_url": live_server.url})
    uploaded = client.files.upload(file=io.BytesIO(b"hello\n"), config={"mime_type": "text/plain"})
    assert uploaded.size_bytes == 6
    assert uploaded.state is not None and uploaded.state.value == "ACTIVE"
    assert client.files.get(name=uploaded.name).name == uploaded.name
    client.files.delete(name=uploaded.name)
    with pytest.raises(errors.ClientError) as caught:
        client.files.get(name=uploaded.name)
    assert caught.value.code == 403
