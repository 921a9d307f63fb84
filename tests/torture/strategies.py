"""Hypothesis strategies for the HTTP fuzzer (test_fuzz_http.py): routes, versions, ids, headers, query
strings and bodies."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

FUZZ_KEY = "fuzz-project"

# strategies -------------------------------------------------------------------------------------------
TEXT = st.text(max_size=40)
WEIRD = st.sampled_from(
    [
        "",
        " ",
        "-1",
        "0",
        "1",
        "1.5",
        "1e309",
        "99999999999999999999999",
        "NaN",
        "null",
        "'x'",
        "%00",
        "..",
        "é",
        "\u202e",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4)


JSON_VALUES = st.recursive(
    SCALARS,
    _containers,
    max_leaves=12,
)
PART = st.fixed_dictionaries(
    {},
    optional={
        "text": st.one_of(TEXT, JSON_VALUES),
        "fileData": st.fixed_dictionaries(
            {},
            optional={
                "fileUri": st.one_of(TEXT, st.just("files/TARGET"), JSON_VALUES),
                "mimeType": st.one_of(TEXT, JSON_VALUES),
            },
        ),
        "inlineData": st.fixed_dictionaries(
            {},
            optional={
                "data": st.one_of(TEXT, st.just("aGVsbG8="), JSON_VALUES),
                "mimeType": st.one_of(TEXT, st.just("text/plain")),
            },
        ),
    },
)
MODEL_BODY = st.fixed_dictionaries(
    {},
    optional={
        "contents": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {}, optional={"role": TEXT, "parts": st.one_of(st.lists(PART, max_size=3), JSON_VALUES)}
                ),
                max_size=3,
            ),
            JSON_VALUES,
        ),
        "generationConfig": st.one_of(
            st.dictionaries(
                st.sampled_from(["temperature", "maxOutputTokens", "candidateCount", "responseMimeType"]),
                SCALARS,
            ),
            JSON_VALUES,
        ),
        "systemInstruction": JSON_VALUES,
        "tools": JSON_VALUES,
        "model": st.one_of(TEXT, st.just("gemini-2.5-flash")),
        "input": st.one_of(TEXT, JSON_VALUES),
        "stream": st.one_of(st.booleans(), JSON_VALUES),
        "previous_interaction_id": TEXT,
        "uris": st.one_of(st.lists(TEXT, max_size=3), JSON_VALUES),
        "file": st.one_of(
            st.dictionaries(
                st.sampled_from(
                    [
                        "name",
                        "displayName",
                        "display_name",
                        "mimeType",
                        "mime_type",
                        "sizeBytes",
                        "size_bytes",
                    ]
                ),
                st.one_of(SCALARS, st.just("files/abc"), WEIRD),
            ),
            JSON_VALUES,
        ),
        "advance": st.one_of(TEXT, WEIRD, JSON_VALUES),
    },
)


def _as_bytes(value: Any, style: str) -> bytes:
    text = json.dumps(value, ensure_ascii=False)
    if style == "single":
        text = text.replace('"', "'")
    elif style == "truncated":
        text = text[: max(0, len(text) // 2)]
    return text.encode("utf-8", "surrogatepass")


BODIES = st.one_of(
    st.tuples(MODEL_BODY, st.sampled_from(["json", "single", "truncated"])).map(lambda t: _as_bytes(*t)),
    st.tuples(JSON_VALUES, st.sampled_from(["json", "single"])).map(lambda t: _as_bytes(*t)),
    st.binary(max_size=300),
    st.just(b""),
)
VERSIONS = st.sampled_from(["v1", "v1beta", "v1alpha", "", "v1beta", "v1", "v1beta", "v2", "%2e%2e"])
IDS = st.one_of(
    st.sampled_from(["TARGET", "gemini-2.5-flash", "TARGET", "gemini-2.5-flash"]),
    st.sampled_from(["missing1", "a" * 41, "-x-", "ABC", "a:b", "x%2Fy", "tunedModels/x"]),
    TEXT,
)
# (path template, the methods it serves): the route table of protocol/routes.py, plus a few that no route has.
ROUTES = [
    ("/{v}/files", "GET"),
    ("/{v}/files/{id}", "GET DELETE"),
    ("/{v}/files/{id}:download", "GET"),
    ("/{v}/files/{id}:frobnicate", "GET"),
    ("/{v}/files:register", "POST"),
    ("/upload/{v}/files", "POST"),
    ("UPLOAD_URL", "POST"),
    ("/upload/{v}/files?upload_id={id}", "POST"),
    ("/{v}/models", "GET"),
    ("/{v}/models/{id}", "GET"),
    ("/{v}/models/gemini-2.5-flash:generateContent", "POST"),
    ("/{v}/models/gemini-2.5-flash:streamGenerateContent?alt=sse", "POST"),
    ("/{v}/models/{id}:countTokens", "POST"),
    ("/{v}/models/{id}:{id}", "POST"),
    ("/{v}/tunedModels/{id}:generateContent", "POST"),
    ("/{v}/interactions", "POST"),
    ("/{v}/interactions/{id}", "GET DELETE"),
    ("/{v}/interactions/{id}/cancel", "POST"),
    ("/_internal/clock", "GET POST"),
    ("/_internal/sweep", "POST"),
    ("/_internal/usage", "GET"),
    ("/_internal/healthz", "GET"),
    ("/{id}", "GET"),
]
ANY_METHOD = st.sampled_from(["GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS"])
ENDPOINTS = st.sampled_from(ROUTES).flatmap(
    lambda route: st.tuples(
        st.just(route[0]),
        st.one_of(st.sampled_from(route[1].split()), st.sampled_from(route[1].split()), ANY_METHOD),
    )
)
HEADER_VALUES = {
    "X-Goog-Upload-Protocol": st.one_of(
        st.sampled_from(["resumable", "multipart", "raw", "RESUMABLE", ""]), TEXT
    ),
    "X-Goog-Upload-Command": st.one_of(
        st.sampled_from(
            ["start", "upload", "finalize", "upload, finalize", "query", "cancel", "query, cancel", ","]
        ),
        TEXT,
    ),
    "X-Goog-Upload-Offset": st.one_of(WEIRD, st.integers(min_value=-5, max_value=2**65).map(str)),
    "X-Goog-Upload-Header-Content-Length": st.one_of(
        WEIRD, st.integers(min_value=-5, max_value=2**65).map(str)
    ),
    "X-Goog-Upload-Header-Content-Type": st.one_of(
        st.sampled_from(["text/plain", "video/mp4", "bad/mime_type", ""]), TEXT
    ),
    "Content-Type": st.one_of(
        st.sampled_from(
            [
                "application/json",
                "text/plain",
                "multipart/related",
                "multipart/related; boundary=xyz",
                "multipart/form-data; boundary=",
                "application/x-www-form-urlencoded",
            ]
        ),
        TEXT,
    ),
    "Range": st.one_of(
        st.sampled_from(["bytes=0-3", "bytes=5-", "bytes=-2", "bytes=9-1", "bytes=0-99999999999"]), TEXT
    ),
}
HEADERS = st.fixed_dictionaries(
    {"x-goog-api-key": st.sampled_from([FUZZ_KEY, FUZZ_KEY, FUZZ_KEY, FUZZ_KEY, "", "\u00e9t\u00e9", " "])},
    optional=HEADER_VALUES,
)
QUERIES = st.dictionaries(
    st.sampled_from(
        [
            "pageSize",
            "pageToken",
            "alt",
            "key",
            "uploadType",
            "upload_id",
            "include_input",
            "stream",
            "last_event_id",
            "x",
        ]
    ),
    st.one_of(WEIRD, TEXT),
    max_size=3,
)
