"""The console in a real headless Chromium (Debian's ``chromium``, driven by the Python playwright client).

Sign-in with the admin token and refusal without it; a file uploaded by the Python SDK shown with its
thumbnail (made by a probe child, loaded: ``naturalWidth > 0``); a batch job; a screenshot kept as a test
artifact (and in ``tests/artifacts/console.png``, git-ignored).
"""

from __future__ import annotations

import hashlib
import io
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google import genai

from tests.protocol.uploading import new_upload, send
from tests.support import ROOT, LiveServer
from tests.unit.media import samples

TOKEN = "console-admin-token"
CHROMIUM = next(
    (
        path
        for path in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
        if path and Path(path).exists()
    ),
    None,
)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium executable (apt-get install chromium)")


def photo() -> bytes:
    """A 640x400 JPEG with something to see in its thumbnail."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (640, 400), (46, 111, 222))
    draw = ImageDraw.Draw(image)
    draw.ellipse((220, 100, 420, 300), fill=(250, 200, 60))
    draw.rectangle((0, 330, 640, 400), fill=(30, 140, 80))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


@pytest.fixture
def server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    return server_factory(GEMFILES_ADMIN_TOKEN=TOKEN, GEMFILES_EMULATOR_CONTROLS="true")


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def test_console_refuses_a_wrong_token_and_its_api_answers_401(server: LiveServer, browser: Any) -> None:
    assert httpx.get(f"{server.url}/_internal/admin/uploads").status_code == 401
    assert (
        httpx.get(f"{server.url}/_internal/admin/traffic", headers={"authorization": "Bearer x"}).status_code
        == 401
    )
    page = browser.new_page()
    page.goto(f"{server.url}/console")
    page.fill("#token", "not-the-token")
    page.click("#login-form button")
    error = page.locator("#login-error")
    error.wait_for(state="visible", timeout=10_000)
    assert "401" in error.inner_text() and "UNAUTHENTICATED" in error.inner_text()
    assert page.locator("#main").is_hidden()
    assert page.evaluate("sessionStorage.getItem('gemfiles.adminToken')") is None


def test_console_shows_an_sdk_upload_with_its_thumbnail_and_a_batch_job(
    server: LiveServer, browser: Any, api_key: str, tmp_path: Path
) -> None:
    picture = photo()
    with genai.Client(api_key=api_key, http_options={"base_url": server.url}) as sdk:
        uploaded = sdk.files.upload(
            file=io.BytesIO(picture), config={"mime_type": "image/jpeg", "display_name": "sunset.jpg"}
        )
        others = [
            sdk.files.upload(file=io.BytesIO(data), config={"mime_type": mime, "display_name": shown})
            for data, mime, shown in (
                (
                    samples.pdf(["Quarterly report: revenue grew in every region.", None]),
                    "application/pdf",
                    "report.pdf",
                ),
                (samples.video(width=320, height=240, seconds=1.0), "video/mp4", "clip.mp4"),
            )
        ]
        requests = [{"contents": [{"parts": [{"text": "Why is the sky blue?"}], "role": "user"}]}]
        job = sdk.batches.create(model="gemini-2.5-flash", src=requests, config={"display_name": "nightly"})
    assert uploaded.name is not None and job.name is not None
    with httpx.Client(base_url=server.url, timeout=30) as client:
        url = new_upload(
            client, api_key, 1000, body={"file": {"displayName": "halfway.bin"}}, mime_type="text/plain"
        )
        assert send(client, url, "upload", b"x" * 400, 0).status_code == 200

    page = browser.new_page(viewport={"width": 1360, "height": 1500})
    page.goto(f"{server.url}/console")
    page.fill("#token", TOKEN)
    page.click("#login-form button")
    page.locator("#main").wait_for(state="visible", timeout=10_000)
    assert page.evaluate("sessionStorage.getItem('gemfiles.adminToken')") == TOKEN

    row = page.locator(f'#files tr[data-name="{uploaded.name}"]')
    row.wait_for(timeout=15_000)
    assert "sunset.jpg" in row.inner_text() and "image/jpeg" in row.inner_text()
    digest = hashlib.sha256(picture).hexdigest()
    assert row.locator(".sha").get_attribute("title") == digest and digest[:12] in row.inner_text()
    assert "1d 23:" in row.locator(".countdown").inner_text()  # the 48-hour expiry, counting down
    thumb = row.locator("img.preview")
    thumb.wait_for(timeout=30_000)
    deadline = time.monotonic() + 15
    while thumb.evaluate("img => img.naturalWidth") == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert thumb.evaluate("img => img.naturalWidth") > 0
    assert thumb.evaluate("img => img.naturalWidth") <= 320

    for other in others:
        other_thumb = page.locator(f'#files tr[data-name="{other.name}"] img.preview')
        other_thumb.wait_for(timeout=30_000)
        assert other_thumb.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0

    page.locator(f'#files tr[data-name="{others[0].name}"] img.preview').click()
    assert "page 1 of 2" in page.locator("#player figcaption").inner_text()

    page.locator("#batches tbody tr", has_text="nightly").wait_for(timeout=15_000)
    assert "40%" in page.locator("#uploads tbody tr", has_text="halfway.bin").inner_text()
    page.locator("#requests tbody tr", has_text="/upload/{version}files").first.wait_for(timeout=15_000)
    page.locator("#chart-requests svg").wait_for(timeout=15_000)
    page.locator("#projects tbody tr .meter").first.wait_for(timeout=15_000)

    shot = tmp_path / "console.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 8_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    artifacts = ROOT / "tests" / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shutil.copyfile(shot, artifacts / "console.png")


def test_console_plays_audio_streamed_through_its_signed_url(
    server: LiveServer, browser: Any, api_key: str
) -> None:
    sound = samples.audio("wav", "pcm_s16le", 1.5, 8000, 1)
    with genai.Client(api_key=api_key, http_options={"base_url": server.url}) as sdk:
        uploaded = sdk.files.upload(
            file=io.BytesIO(sound), config={"mime_type": "audio/wav", "display_name": "tone.wav"}
        )
    page = browser.new_page()
    page.goto(f"{server.url}/console")
    page.fill("#token", TOKEN)
    page.click("#login-form button")
    row = page.locator(f'#files tr[data-name="{uploaded.name}"]')
    row.wait_for(timeout=15_000)
    row.locator("button", has_text="play").click()
    audio = page.locator("#player audio")
    audio.wait_for(timeout=10_000)
    deadline = time.monotonic() + 15  # (wait_for_function evaluates a string: the page's policy forbids it)
    while audio.evaluate("a => a.readyState") < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert abs(audio.evaluate("a => a.duration") - 1.5) < 0.05
    assert "/content?expires=" in (audio.get_attribute("src") or "")
