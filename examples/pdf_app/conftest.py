"""The example's fixtures. The server and the ``gemini`` fixture come from the gemfiles pytest plugin, which
pytest loads by itself once gemfiles is installed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from google import genai

INVOICE_TEXT = "ACME Corp - Invoice 2026-041 - Total due: 1250.50 USD"


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF showing ``text`` (written by hand: the example needs no PDF library)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@pytest.fixture
def invoice_pdf(tmp_path: Path) -> Path:
    path = tmp_path / "invoice-2026-041.pdf"
    path.write_bytes(minimal_pdf(INVOICE_TEXT))
    return path


@pytest.fixture
def client(gemini) -> Iterator[genai.Client]:  # type: ignore[no-untyped-def]
    """The application's client, built as the application builds it: from the environment."""
    with genai.Client() as sdk:
        yield sdk
