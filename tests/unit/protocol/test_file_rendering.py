"""The File resource on the wire: its origin, its timestamps, and the bytes kept beside a record."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from starlette.requests import Request

from gemfiles.domain.models import FileRecord, FileState
from gemfiles.protocol.http import origin_of
from gemfiles.protocol.wire import RenderedFiles, file_json, rfc3339
from gemfiles.settings import Settings

MOMENT = datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=UTC)


def record(**changes: object) -> FileRecord:
    base = FileRecord(
        project="p",
        id="abc123",
        mime_type="text/plain",
        size_bytes=5,
        sha256_hex="00" * 32,
        create_time=MOMENT,
        update_time=MOMENT,
        expire_time=MOMENT + timedelta(days=2),
        blob_key="k",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def request(headers: list[tuple[bytes, bytes]], scheme: str = "http") -> Request:
    scope = {"type": "http", "headers": headers, "scheme": scheme, "server": ("10.0.0.5", 8080)}
    return Request(scope)


@pytest.mark.parametrize(
    ("headers", "scheme", "origin"),
    [
        ([(b"host", b"files.example:8000")], "http", "http://files.example:8000"),
        ([(b"host", b"files.example")], "https", "https://files.example"),
        (
            [
                (b"host", b"inner:8080"),
                (b"x-forwarded-proto", b"https, http"),
                (b"x-forwarded-host", b"a.b, c"),
            ],
            "http",
            "https://a.b",
        ),
        ([(b"host", b"first"), (b"host", b"second")], "http", "http://first"),
        ([], "http", "http://10.0.0.5:8080"),
        ([(b"host", b"")], "http", "http://10.0.0.5:8080"),
    ],
)
def test_origin_of_request_follows_forwarded_then_host_then_server(
    headers: list[tuple[bytes, bytes]], scheme: str, origin: str
) -> None:
    assert origin_of(request(headers, scheme), Settings()) == origin


def test_origin_of_request_is_the_public_url_when_set() -> None:
    settings = Settings(public_url="https://gem.example/")
    assert origin_of(request([(b"host", b"inner")]), settings) == "https://gem.example"


def test_rfc3339_renders_six_or_nine_fraction_digits_with_z() -> None:
    assert rfc3339(MOMENT) == "2026-03-04T05:06:07.000089Z"
    assert rfc3339(MOMENT, 9) == "2026-03-04T05:06:07.000089000Z"
    assert rfc3339(MOMENT.replace(microsecond=0)) == "2026-03-04T05:06:07.000000Z"
    naive = datetime(2026, 1, 2, 3, 4, 5)
    assert rfc3339(naive) == "2026-01-02T03:04:05.000000Z"
    # The fields as they are (the stores hand out UTC): no conversion, no offset in the text.
    assert rfc3339(MOMENT.astimezone(timezone(timedelta(hours=2)))) == "2026-03-04T07:06:07.000089Z"


def test_rendered_files_answers_the_same_bytes_for_the_same_record() -> None:
    rendered = RenderedFiles()
    file = record()
    first = rendered(file, "http://h", False)
    assert orjson.loads(first) == file_json(file, "http://h")
    assert rendered(file, "http://h", False) is first


def test_rendered_files_renders_a_changed_record_again() -> None:
    rendered = RenderedFiles()
    before = record()
    rendered(before, "http://h", False)
    failed = replace(before, state=FileState.FAILED, error={"code": 3, "message": "bad"})
    body = orjson.loads(rendered(failed, "http://h", False))
    assert body["state"] == "FAILED" and body["error"] == {"code": 3, "message": "bad"}


def test_rendered_files_keeps_origin_and_download_apart() -> None:
    rendered = RenderedFiles()
    file = record()
    assert orjson.loads(rendered(file, "http://a", False))["uri"].startswith("http://a/")
    assert orjson.loads(rendered(file, "http://b", False))["uri"].startswith("http://b/")
    assert "downloadUri" in orjson.loads(rendered(file, "http://a", True))
    assert "downloadUri" not in orjson.loads(rendered(file, "http://a", False))


def test_rendered_files_keeps_at_most_size_files() -> None:
    rendered = RenderedFiles(size=2)
    files = [record(id=f"f{i}") for i in range(5)]
    for file in files:
        assert orjson.loads(rendered(file, "http://h", False))["name"] == file.name
    assert len(rendered._memo) <= 2


def test_file_records_are_frozen() -> None:
    with pytest.raises(AttributeError):
        record().state = FileState.FAILED  # type: ignore[misc]


def test_rendered_files_forgets_the_least_recently_used_file_when_full() -> None:
    rendered = RenderedFiles(size=2)
    kept = record(id="kept")
    first = rendered(kept, "http://h", False)
    for index in range(3):
        rendered(record(id=f"f{index}"), "http://h", False)
        assert rendered(kept, "http://h", False) is first  # used again: not the one forgotten
    assert len(rendered._memo) == 2
