"""Facts about PDFs (pypdf) and text files, read in bounded memory.

PDF: pypdf reads the trailer and cross-reference table, then only the objects asked for: the page count
comes from the page tree's ``/Count``, and the first line from walking the tree to the first page with text
(at most ``PDF_TEXT_PAGES`` pages), so a 2,000-page document costs a few pages. Reads go through
``BoundedReads``: a damaged file that pypdf would rebuild by reading it whole fails instead (for objects
over ``PDF_READ_LIMIT``).

Text: decoded incrementally, one block at a time, as UTF-8 with replacement characters (or the MIME
type's ``charset``, or UTF-16 when a byte-order mark says so); only the counts and the first line are kept.
"""

from __future__ import annotations

import codecs
import contextlib
from collections.abc import Iterator
from typing import Any, BinaryIO

from gemfiles.domain.mime import parameters
from gemfiles.media.facts import (
    FIRST_LINE_CHARS,
    BoundedReads,
    Facts,
    NotMedia,
    clip_line,
    first_nonblank_line,
)

READ_BLOCK = 1024 * 1024
PDF_TEXT_PAGES = 20
PDF_READ_LIMIT = 64 * 1024 * 1024
# Attributes a page takes from its ancestors in the page tree when it has none of its own (PDF 32000 7.7.3.4).
_INHERITABLE = ("/Resources", "/MediaBox", "/CropBox", "/Rotate")


def probe_pdf(handle: BinaryIO) -> Facts:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    # Readers accept junk before the header but not its absence; checking first keeps pypdf, which is pure
    # Python and holds the GIL, from trying to "repair" arbitrary bytes for minutes.
    head = handle.read(1024)
    handle.seek(0)
    if b"%PDF-" not in head:
        raise NotMedia("not a readable PDF (no %PDF- header in the first 1024 bytes)")
    try:
        reader = PdfReader(BoundedReads(handle, PDF_READ_LIMIT))  # type: ignore[arg-type]
        facts: Facts = {}
        if reader.is_encrypted:
            facts["encrypted"] = True
            if not reader.decrypt(""):  # readable without a password unless a user password is set
                with contextlib.suppress(Exception):  # pypdf may refuse even the page tree
                    facts["pages"] = int(reader.get_num_pages())
                facts["probe_error"] = "the PDF is encrypted with a password"
                return facts
        facts["pages"] = _page_count(reader)
    except NotMedia as exc:
        raise NotMedia(f"not a readable PDF ({exc})") from None
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError, OSError) as exc:
        raise NotMedia(f"not a readable PDF ({exc.__class__.__name__}: {exc})") from None
    title = _title(reader)
    if title:
        facts["title"] = title
    try:
        for number, page in enumerate(_pages(reader), start=1):
            if number > PDF_TEXT_PAGES:
                break
            line = first_nonblank_line(page.extract_text() or "")
            if line:
                facts["first_line"] = line
                facts["first_text_page"] = number
                break
    except NotMedia as exc:
        facts["probe_error"] = f"could not extract text: {exc}"
    except Exception as exc:  # pypdf raises many kinds on damaged content streams; the page count stands
        facts["probe_error"] = f"could not extract text ({exc.__class__.__name__}: {exc})"
    return facts


def _declared_count(reader: Any) -> int:
    count = reader.trailer["/Root"]["/Pages"]["/Count"]
    return int(count)


def _page_count(reader: Any) -> int:
    """``/Count`` of the page tree's root; only a missing or bad one costs a walk of the whole tree."""
    try:
        count = _declared_count(reader)
    except (KeyError, TypeError, ValueError):
        count = -1
    return count if count >= 0 else len(reader.pages)


def _pages(reader: Any) -> Iterator[Any]:
    """The pages in order, resolved lazily (pypdf's ``reader.pages`` flattens the whole tree first)."""
    from pypdf import PageObject
    from pypdf.generic import IndirectObject, NameObject

    root = reader.trailer["/Root"]["/Pages"]
    seen: set[int] = set()

    def walk(ref: Any, inherited: dict[str, Any]) -> Iterator[Any]:
        node = ref.get_object()
        if id(node) in seen or len(seen) > 100_000:
            return  # a cyclic or absurd tree
        seen.add(id(node))
        if "/Kids" in node:
            scope = dict(inherited)
            for key in _INHERITABLE:
                if key in node:
                    scope[key] = node.raw_get(key)
            for kid in node["/Kids"]:
                yield from walk(kid, scope)
            return
        reference = ref if isinstance(ref, IndirectObject) else getattr(node, "indirect_reference", None)
        page = PageObject(reader, reference)
        page.update(node)
        for key, value in inherited.items():
            if key not in page:
                page[NameObject(key)] = value
        yield page

    yield from walk(root, {})


def _title(reader: Any) -> str | None:
    try:
        metadata = reader.metadata
        title = metadata.title if metadata is not None else None
    except Exception:  # damaged Info dictionaries are common and never matter
        return None
    return clip_line(str(title)) if title else None


def probe_text(handle: BinaryIO, mime_type: str) -> Facts:
    head = handle.read(4)
    handle.seek(0)
    encoding = _encoding(head, parameters(mime_type).get("charset"))
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    chars = newlines = 0
    last = ""
    first: str | None = None
    pending = ""  # the start of the current line while the first non-blank line is still being looked for
    while True:
        block = handle.read(READ_BLOCK)
        text = decoder.decode(block, final=not block)
        if text:
            chars += len(text)
            newlines += text.count("\n")
            last = text[-1]
            if first is None:
                first, pending = _first_line(pending + text)
        if not block:
            break
    if first is None and pending.strip():
        first = clip_line(pending)
    facts: Facts = {
        "line_count": newlines + (1 if chars and last != "\n" else 0),
        "char_count": chars,
        "encoding": encoding.removesuffix("-sig"),
    }
    if first is not None:
        facts["first_line"] = first
    return facts


def _first_line(text: str) -> tuple[str | None, str]:
    """(the first non-blank complete line, or None and the unfinished rest, kept short)."""
    *complete, rest = text.split("\n")
    for line in complete:
        if line.strip():
            return clip_line(line), ""
    rest = rest.lstrip()
    if len(rest) > FIRST_LINE_CHARS:  # the line is long enough already: later characters would be cut anyway
        return clip_line(rest), ""
    return None, rest


def _encoding(head: bytes, charset: str | None) -> str:
    utf32 = head.startswith(codecs.BOM_UTF32_LE)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) and not utf32:
        return "utf-16"
    if charset:
        try:
            name = codecs.lookup(charset).name
        except LookupError:
            name = "utf-8"
        if name not in ("utf-8", "ascii"):  # text labelled ASCII is UTF-8 more often than not
            return name
    return "utf-8-sig"  # UTF-8, without a byte-order mark if it has one
