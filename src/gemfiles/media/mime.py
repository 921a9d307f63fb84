"""Which MIME types an upload may have, and which need processing before use.

Google publishes no upload allow-list; this is the set its documentation and SDKs name for model input
(images, audio, video, documents and text/code), plus the ``x-`` spellings that Python's ``mimetypes`` and
browsers produce for the same formats. Anything else is refused at finalize with
``Unsupported MIME type: <type>``, as the real service does. Parameters (``; charset=utf-8``) are ignored
for the check and kept on the file.
"""

from __future__ import annotations

IMAGE = {
    "image/png", "image/jpeg", "image/webp", "image/heic", "image/heif", "image/gif", "image/bmp",
    "image/tiff",
}
AUDIO = {
    "audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/mp3", "audio/mpeg", "audio/aiff",
    "audio/x-aiff", "audio/aac", "audio/x-aac", "audio/ogg", "audio/flac", "audio/x-flac", "audio/m4a",
    "audio/x-m4a", "audio/mp4", "audio/l16", "audio/opus", "audio/alaw", "audio/mulaw", "audio/webm",
}
VIDEO = {
    "video/mp4", "video/mpeg", "video/mpg", "video/mov", "video/quicktime", "video/avi", "video/x-msvideo",
    "video/x-flv", "video/webm", "video/wmv", "video/x-ms-wmv", "video/3gpp", "video/x-matroska",
}
DOCUMENT = {
    "application/pdf",
    "application/json",
    "application/rtf",
    "application/xml",
    "application/x-javascript",
    "application/javascript",
    "application/x-typescript",
    "application/x-python-code",
    "application/x-python",
    "application/x-sh",
    "application/x-yaml",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
}
# text/* is accepted as a family (plain, html, css, csv, markdown, xml, x-python, x-c, ...).
TEXT_FAMILY = "text/"

SUPPORTED = frozenset(IMAGE | AUDIO | VIDEO | DOCUMENT)


def base_type(mime_type: str) -> str:
    return mime_type.split(";", 1)[0].strip().lower()


def is_supported(mime_type: str) -> bool:
    base = base_type(mime_type)
    if base.startswith(TEXT_FAMILY) and len(base) > len(TEXT_FAMILY):
        return True
    return base in SUPPORTED


def needs_processing(mime_type: str) -> bool:
    """Video and audio start PROCESSING; a probe of their bytes makes them ACTIVE or FAILED."""
    base = base_type(mime_type)
    return base in VIDEO or base in AUDIO


def supported_types() -> list[str]:
    return sorted(SUPPORTED) + ["text/*"]
