"""The JS SDK (@google/genai), unmodified, on context caching (js/caches.mjs)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from tests.conformance.test_js_sdk import pytestmark, run_script  # noqa: F401  (skips without node)
from tests.support import LiveServer


def seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def test_js_cache_from_an_uploaded_file_is_used_updated_listed_and_deleted(
    live_server: LiveServer, api_key: str, tmp_path: Path
) -> None:
    source = tmp_path / "transcript.txt"
    source.write_text("Houston, Tranquility Base here. " * 300)
    out = run_script(live_server, api_key, "caches.mjs", str(source))

    cache = out["cache"]
    assert cache["name"].startswith("cachedContents/") and cache["displayName"] == "js cache"
    assert cache["model"] == "models/gemini-2.5-flash"
    assert seconds_between(cache["createTime"], cache["expireTime"]) == 300
    total = cache["usageMetadata"]["totalTokenCount"]
    assert total == 2400 + 10  # the file's characters / 4, then the system instruction's

    assert out["doc"]["name"] in out["text"] and "You are an expert analyzing transcripts." in out["text"]
    assert out["usage"]["cachedContentTokenCount"] == total
    assert out["usage"]["promptTokenCount"] == total + 8

    assert seconds_between(out["updated"]["updateTime"], out["updated"]["expireTime"]) == 3600
    assert out["got"]["expireTime"] == out["updated"]["expireTime"]
    assert out["listed"] == [cache["name"]]
    assert out["afterDelete"] == {
        "status": 403,
        "error": {
            "code": 403,
            "message": "CachedContent not found (or permission denied)",
            "status": "PERMISSION_DENIED",
        },
    }
