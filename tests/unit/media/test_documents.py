"""PDFs and text: page counts and first lines, streamed; unreadable ones stay ACTIVE with a probe_error."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader, PdfWriter

from gemfiles.domain.models import FileState
from gemfiles.media import documents
from tests.unit.media import samples
from tests.unit.media.conftest import Probe


async def test_probe_pdf_reports_pages_first_line_and_title(probe_bytes: Probe) -> None:
    data = samples.pdf(["Quarterly report\nRevenue grew", "Page two", "Page three"], title="Q3 2026")

    state, facts, error = await probe_bytes(data, "application/pdf")

    assert state == FileState.ACTIVE and error is None
    assert facts == {"pages": 3, "first_line": "Quarterly report", "first_text_page": 1, "title": "Q3 2026"}


async def test_probe_pdf_takes_the_first_line_from_the_first_page_with_text(probe_bytes: Probe) -> None:
    # The font is declared on the page tree's root and inherited by each page.
    data = samples.pdf([None, None, "   Chapter One   \nIt was a dark night"], inherit_resources=True)

    _, facts, _ = await probe_bytes(data, "application/pdf")

    assert facts == {"pages": 3, "first_line": "Chapter One", "first_text_page": 3}


async def test_probe_pdf_without_text_reports_only_pages(probe_bytes: Probe) -> None:
    _, facts, _ = await probe_bytes(samples.pdf([None, None]), "application/pdf")

    assert facts == {"pages": 2}


async def test_probe_pdf_cuts_a_long_first_line(probe_bytes: Probe) -> None:
    _, facts, _ = await probe_bytes(samples.pdf(["word " * 100]), "application/pdf")

    assert facts is not None
    assert len(facts["first_line"]) <= 200 and facts["first_line"].startswith("word word")


def _encrypted(data: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def test_probe_pdf_encrypted_without_a_user_password_is_read(probe_bytes: Probe) -> None:
    _, facts, _ = await probe_bytes(_encrypted(samples.pdf(["Open to all", "x"]), ""), "application/pdf")

    assert facts == {"encrypted": True, "pages": 2, "first_line": "Open to all", "first_text_page": 1}


async def test_probe_pdf_with_a_password_stays_active_and_says_so(probe_bytes: Probe) -> None:
    state, facts, _ = await probe_bytes(_encrypted(samples.pdf(["Secret"]), "secret"), "application/pdf")

    assert state == FileState.ACTIVE
    assert facts is not None
    assert facts["encrypted"] is True and "password" in facts["probe_error"]


async def test_probe_pdf_with_a_damaged_xref_is_repaired_when_small(probe_bytes: Probe) -> None:
    data = samples.pdf(["Still readable", "two"])
    damaged = data[: data.rindex(b"startxref")] + b"startxref\n999999\n%%EOF\n"

    _, facts, _ = await probe_bytes(damaged, "application/pdf")

    assert facts is not None
    assert (facts["pages"], facts["first_line"]) == (2, "Still readable")


async def test_probe_pdf_that_must_be_read_whole_to_repair_is_refused_over_the_limit(
    probe_bytes: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(documents, "PDF_READ_LIMIT", 256)  # stands in for 64 MiB, with a small file
    data = samples.pdf(["Still readable", "two"])
    damaged = data[: data.rindex(b"startxref")] + b"startxref\n999999\n%%EOF\n"

    state, facts, _ = await probe_bytes(damaged, "application/pdf")

    assert state == FileState.ACTIVE
    assert facts is not None and set(facts) == {"probe_error"}
    assert "not a readable PDF" in facts["probe_error"] and "over the limit of 256" in facts["probe_error"]


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.4\nthis is not really a pdf", b"<html>not a pdf</html>", b""],
    ids=["header-only", "html", "empty"],
)
async def test_probe_garbage_pdf_stays_active_with_a_probe_error(probe_bytes: Probe, data: bytes) -> None:
    state, facts, error = await probe_bytes(data, "application/pdf")

    assert state == FileState.ACTIVE and error is None
    assert facts is not None and set(facts) == {"probe_error"}
    assert facts["probe_error"].startswith("not a readable PDF")


@pytest.mark.parametrize(
    ("data", "mime", "facts"),
    [
        (b"first\nsecond\nthird\n", "text/plain", {"line_count": 3, "char_count": 19, "first_line": "first"}),
        (b"no newline at the end", "text/plain", {"line_count": 1, "char_count": 21}),
        (
            b"\n\n  \t\n   Title here   \r\nbody\r\n",
            "text/markdown",
            {"line_count": 5, "first_line": "Title here"},
        ),
        (b'{"a": 1,\n "b": [1, 2]}\n', "application/json", {"line_count": 2, "first_line": '{"a": 1,'}),
        (b"def f():\n    return 1\n", "text/x-python", {"line_count": 2, "first_line": "def f():"}),
        (b"", "text/plain", {"line_count": 0, "char_count": 0}),
        (b"\n\n\n", "text/csv", {"line_count": 3, "char_count": 3}),
    ],
    ids=["plain", "no-final-newline", "leading-blank-lines-crlf", "json", "code", "empty", "only-newlines"],
)
async def test_probe_text_counts_lines_and_finds_the_first_line(
    probe_bytes: Probe, data: bytes, mime: str, facts: dict
) -> None:
    state, got, error = await probe_bytes(data, mime)

    assert state == FileState.ACTIVE and error is None
    assert got is not None
    assert {key: got.get(key) for key in facts} == facts
    if "first_line" not in facts and data.strip() == b"":
        assert "first_line" not in got


async def test_probe_text_decodes_utf8_and_counts_characters_not_bytes(probe_bytes: Probe) -> None:
    _, facts, _ = await probe_bytes("héllo wörld ✓\nzweite Zeile\n".encode(), "text/plain")

    assert facts == {"line_count": 2, "char_count": 27, "first_line": "héllo wörld ✓", "encoding": "utf-8"}


async def test_probe_text_replaces_invalid_utf8(probe_bytes: Probe) -> None:
    _, facts, _ = await probe_bytes(b"ok \xff\xfe bytes\n", "text/plain")

    assert facts is not None
    assert facts["first_line"] == "ok \ufffd\ufffd bytes"


async def test_probe_text_honours_a_byte_order_mark_and_a_charset(probe_bytes: Probe) -> None:
    _, utf16, _ = await probe_bytes("Grüße\nzwei\n".encode("utf-16"), "text/plain")
    _, latin1, _ = await probe_bytes("café\n".encode("latin-1"), "text/plain; charset=ISO-8859-1")
    _, bom8, _ = await probe_bytes("\ufeffTitle\n".encode(), "text/plain")

    assert utf16 is not None and (utf16["first_line"], utf16["line_count"], utf16["char_count"]) == (
        "Grüße",
        2,
        11,
    )
    assert latin1 is not None and latin1["first_line"] == "café"
    assert bom8 is not None and (bom8["first_line"], bom8["char_count"]) == ("Title", 6)


async def test_probe_text_cuts_a_long_first_line_to_200_characters(probe_bytes: Probe) -> None:
    _, facts, _ = await probe_bytes(b"   " + b"x" * 5000 + b"\nshort\n", "text/plain")

    assert facts is not None
    assert facts["first_line"] == "x" * 200
    assert facts["line_count"] == 2


async def test_probe_large_text_in_several_parts_counts_every_line(probe_bytes: Probe) -> None:
    # 3 MB over 5 parts: blocks and parts split lines and multi-byte characters.
    line = "ligne numéro ✓ ".encode() * 4 + b"\n"
    data = b"\n" * 10 + line * (3_000_000 // len(line))
    lines = data.count(b"\n")

    _, facts, _ = await probe_bytes(data, "text/plain", parts=5)

    assert facts is not None
    assert facts["line_count"] == lines
    assert facts["char_count"] == len(data.decode())
    assert facts["first_line"] == line.decode().strip()


async def test_probe_office_document_has_no_facts(probe_bytes: Probe) -> None:
    state, facts, error = await probe_bytes(b"PK\x03\x04 whatever", "application/msword")

    assert (state, facts, error) == (FileState.ACTIVE, {}, None)
