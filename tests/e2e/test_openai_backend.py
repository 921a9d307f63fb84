"""The openai backend end to end: the official Python SDK -> a live gemfiles server -> a real upstream.

* With llama.cpp's server (llama-cpp-python) on a tiny random-weight llama: text and text-like files
  (plain text, PDF) reach the model and its answer comes back, unary and streamed, with the model's own
  token counts; a dead, absent, stuck or refusing upstream gives Google's 503 / 504 / 502.
* With a capturing chat-completions server on loopback: every body we send for images, audio, video,
  PDFs, text and inline data is validated against the OpenAI API's published request types (the ``openai``
  package's TypedDicts, with pydantic) and decoded back (the frames, the wav, the image bytes).
* Peak RSS of the gemfiles server while it converts a 200-page PDF and a 10-minute video.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pypdf
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from PIL import Image

from gemfiles.backends.openai import OpenAIBackend
from gemfiles.domain.calls import Finished, Message, ModelRequest, Part
from gemfiles.storage.localdisk import LocalBlobStore
from tests.conformance.model_samples import wait_until_processed
from tests.e2e.llama_server import (
    CaptureServer,
    LlamaServer,
    SilentServer,
    closed_port_url,
    ensure_llama_cpp,
    write_tiny_gguf,
)
from tests.support import LiveServer
from tests.unit.backends import media
from tests.unit.backends.conftest import file_storer
from tests.unit.backends.openai_types import validate_request

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TINY = "tiny"  # the model name clients use; gemfiles routes it to the openai backend
# The first test to need llama.cpp's server may compile llama-cpp-python (about 15 minutes on 2 cores)
# when the wheel cache is empty; `python -m tests.e2e.llama_server install` does that ahead of the run.
needs_llama = pytest.mark.timeout(2400)


def gemfiles_env(base_url: str, **extra: str) -> dict[str, str]:
    return {
        "GEMFILES_MODELS": json.dumps({TINY: "openai", "*": "inspect"}),
        "GEMFILES_OPENAI_BASE_URL": base_url,
        "GEMFILES_OPENAI_MODEL": TINY,
        "GEMFILES_OPENAI_API_KEY": "sk-local",
        **extra,
    }


def sdk(server: LiveServer, api_key: str) -> genai.Client:
    # No SDK retries: each test sees the first answer.
    options = {"base_url": server.url, "retry_options": {"attempts": 1}}
    return genai.Client(api_key=api_key, http_options=options)  # type: ignore[arg-type]


def upload(client: genai.Client, path: Path, mime_type: str) -> types.File:
    uploaded = client.files.upload(file=str(path), config={"mime_type": mime_type})
    assert uploaded.name is not None
    file = wait_until_processed(client, uploaded.name, timeout=120)
    assert file.state is not None and file.state.name == "ACTIVE", file
    return file


# -- llama.cpp's server ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        ensure_llama_cpp()
    except Exception as exc:  # a machine that cannot compile it: the capture tests still run
        pytest.skip(f"llama-cpp-python[server] is not available and could not be built: {exc}")
    return write_tiny_gguf(tmp_path_factory.mktemp("model") / "tiny.gguf")


@pytest.fixture(scope="module")
def llama(tiny_model: Path) -> Iterator[LlamaServer]:
    server = LlamaServer(tiny_model, tiny_model.parent / "llama.log").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gem(llama: LlamaServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("gem-llama") / "data"
    env = gemfiles_env(
        f"{llama.url}/v1", GEMFILES_OPENAI_TIMEOUT="60s", GEMFILES_OPENAI_SCHEMA_FORMAT="json_object"
    )
    with LiveServer(data_dir, env) as server:
        yield server


@pytest.fixture
def client(gem: LiveServer, api_key: str) -> Iterator[genai.Client]:
    with sdk(gem, api_key) as sdk_client:
        yield sdk_client


def llama_direct(llama: LlamaServer, content: str, max_tokens: int) -> dict[str, Any]:
    """The same chat completion asked of llama.cpp's server directly with the OpenAI client, greedy:
    streamed for the text (llama-cpp-python drops partial UTF-8 when streaming) and unary for the usage
    (it sends no usage in a stream)."""
    import openai

    messages: Any = [{"role": "user", "content": content}]
    with openai.OpenAI(base_url=f"{llama.url}/v1", api_key="sk-local") as direct:
        stream = direct.chat.completions.create(
            model=TINY, messages=messages, max_tokens=max_tokens, temperature=0, stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        answer = direct.chat.completions.create(
            model=TINY, messages=messages, max_tokens=max_tokens, temperature=0
        )
    assert answer.usage is not None
    return {
        "text": text,
        "prompt_tokens": answer.usage.prompt_tokens,
        "completion_tokens": answer.usage.completion_tokens,
    }


GREEDY = types.GenerateContentConfig(max_output_tokens=12, temperature=0)


@needs_llama
def test_generate_content_text_reaches_llama_and_its_answer_comes_back(
    client: genai.Client, llama: LlamaServer
) -> None:
    prompt = "Hello there, tiny model"
    response = client.models.generate_content(model=TINY, contents=prompt, config=GREEDY)
    direct = llama_direct(llama, prompt, 12)
    # Greedy decoding is deterministic: the same prompt gives the same answer through gemfiles.
    assert response.text == direct["text"]
    usage = response.usage_metadata
    assert usage is not None
    # One streamed chunk a token; the prompt is estimated (llama-cpp-python reports no usage in a stream).
    assert usage.candidates_token_count == direct["completion_tokens"]
    assert usage.prompt_token_count == math.ceil(len(prompt) / 4)
    assert response.candidates and response.candidates[0].finish_reason in (
        types.FinishReason.MAX_TOKENS,
        types.FinishReason.STOP,
    )


@needs_llama
def test_generate_content_stream_sends_the_tokens_as_they_come(client: genai.Client) -> None:
    unary = client.models.generate_content(model=TINY, contents="Stream to me", config=GREEDY)
    chunks = list(client.models.generate_content_stream(model=TINY, contents="Stream to me", config=GREEDY))
    texts = [chunk.text for chunk in chunks if chunk.text]
    assert len(texts) >= 2, chunks  # llama.cpp streams token by token
    assert "".join(texts) == unary.text
    final = chunks[-1].usage_metadata
    assert final is not None and unary.usage_metadata is not None
    assert final.candidates_token_count == unary.usage_metadata.candidates_token_count


@needs_llama
def test_generate_content_with_uploaded_text_file_puts_its_text_in_the_prompt(
    client: genai.Client, llama: LlamaServer, tmp_path: Path
) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("Notes: the quick brown fox jumps over the lazy dog.\n" * 20)
    file = upload(client, path, "text/plain")
    response = client.models.generate_content(
        model=TINY, contents=[file, "Summarise the notes"], config=GREEDY
    )
    # What the backend sends for it, asked directly, gives the same greedy answer.
    sent = f"[{file.name} (text/plain)]\n{path.read_text()}\n\nSummarise the notes"
    assert response.text == llama_direct(llama, sent, 12)["text"]
    assert response.usage_metadata is not None
    assert response.usage_metadata.prompt_token_count == math.ceil(
        len("Summarise the notes") / 4
    ) + math.ceil(path.stat().st_size / 4)


@needs_llama
def test_generate_content_with_uploaded_pdf_sends_its_pages_text(
    client: genai.Client, llama: LlamaServer, tmp_path: Path
) -> None:
    path = media.write_pdf(tmp_path / "d.pdf", 3, words_per_page=20)
    file = upload(client, path, "application/pdf")
    response = client.models.generate_content(
        model=TINY, contents=[file, "What is on page 2?"], config=GREEDY
    )
    with open(path, "rb") as handle:
        pages = [page.extract_text().strip() for page in pypdf.PdfReader(handle).pages]
    text = "".join(f"\n[Page {n}]\n{page}\n" for n, page in enumerate(pages, start=1))
    sent = (
        f"[{file.name} (application/pdf), 3 pages, text extracted page by page]\n{text}\n\nWhat is on page 2?"
    )
    assert response.text == llama_direct(llama, sent, 12)["text"]


@needs_llama
async def test_backend_unary_mode_reports_llamas_own_token_counts(llama: LlamaServer, tmp_path: Path) -> None:
    """In process, over a real blob store: with ``stream=False`` the usage is the upstream's own."""
    path = tmp_path / "a.md"
    path.write_text("# Title\nSome markdown body text.\n")
    blobs = LocalBlobStore(tmp_path / "blobs")
    file = await file_storer(blobs)(path, "text/markdown")
    backend = OpenAIBackend(f"{llama.url}/v1", model=TINY, timeout=30, stream=False)
    request = ModelRequest(
        TINY,
        [Message("user", [Part("file", file=file), Part("text", text="Go")])],
        generation_config={"max_output_tokens": 5, "temperature": 0},
    )
    try:
        events = [event async for event in backend.generate(request)]
    finally:
        await backend.close()
    finished = events[-1]
    assert isinstance(finished, Finished)
    direct = await asyncio.to_thread(
        llama_direct, llama, f"[{file.record.name} (text/markdown)]\n{path.read_text()}\n\nGo", 5
    )
    assert finished.usage.input_tokens == direct["prompt_tokens"] > len(path.read_text())
    assert finished.usage.output_tokens == direct["completion_tokens"]
    assert finished.model_version == TINY


@needs_llama
def test_interactions_create_and_stream_through_llama(client: genai.Client) -> None:
    config: Any = {"max_output_tokens": 8, "temperature": 0}
    created = client.interactions.create(model=TINY, input="Hello interactions", generation_config=config)
    assert created.status == "completed"
    assert isinstance(created.output_text, str)
    assert created.usage is not None and created.usage.total_output_tokens == 8
    events = list(
        client.interactions.create(
            model=TINY, input="Hello interactions", generation_config=config, stream=True
        )
    )
    kinds = [event.event_type for event in events]
    assert kinds[0] == "interaction.created" and kinds[-1] == "interaction.completed"
    streamed = "".join(e.delta.text for e in events if e.event_type == "step.delta" and e.delta.text)
    assert streamed == created.output_text


@needs_llama
def test_count_tokens_for_the_openai_model_estimates_without_the_upstream(client: genai.Client) -> None:
    counted = client.models.count_tokens(model=TINY, contents="x" * 40)
    assert counted.total_tokens == 10


def api_error(call: Any) -> tuple[genai_errors.APIError, float]:
    started = time.monotonic()
    with pytest.raises(genai_errors.APIError) as caught:
        call()
    return caught.value, time.monotonic() - started


@needs_llama
def test_upstream_refusing_the_request_is_502_with_its_message(client: genai.Client) -> None:
    config = types.GenerateContentConfig(presence_penalty=5.0)  # llama-cpp-python allows -2..2
    error, _ = api_error(lambda: client.models.generate_content(model=TINY, contents="Hi", config=config))
    assert (error.code, error.status) == (502, "UNAVAILABLE")
    # llama-cpp-python's own words (it answers 500 for a request it finds invalid), without its traceback.
    assert error.message is not None and error.message.startswith("The model server answered 500: ")
    assert "less_than_equal" in error.message and "presence_penalty" in error.message
    assert "Traceback" not in error.message


@needs_llama
def test_prompt_too_long_for_the_upstream_is_502_not_an_empty_answer(
    client: genai.Client, tmp_path: Path
) -> None:
    path = tmp_path / "long.txt"
    path.write_text("far too long for a 4096-token context " * 200)
    file = upload(client, path, "text/plain")
    error, elapsed = api_error(lambda: client.models.generate_content(model=TINY, contents=[file, "Hi"]))
    assert (error.code, error.status) == (502, "UNAVAILABLE")
    assert error.message == "The model server ended its answer unfinished (no finish_reason, no [DONE])."
    assert elapsed < 30


@needs_llama
def test_killed_upstream_is_503(tiny_model: Path, server_factory: Any, api_key: str) -> None:
    upstream = LlamaServer(tiny_model, tiny_model.parent / "llama-killed.log").start()
    try:
        server = server_factory(**gemfiles_env(f"{upstream.url}/v1"))
        with sdk(server, api_key) as client:
            assert client.models.generate_content(model=TINY, contents="Hi", config=GREEDY).text is not None
            upstream.kill()
            error, elapsed = api_error(lambda: client.models.generate_content(model=TINY, contents="Hi"))
    finally:
        upstream.stop()
    assert (error.code, error.status) == (503, "UNAVAILABLE")
    assert error.message is not None and error.message.startswith("The model server is unavailable")
    assert elapsed < 10


# -- Failures that need no model -------------------------------------------------------------------


def test_upstream_on_a_closed_port_is_503(server_factory: Any, api_key: str) -> None:
    server = server_factory(**gemfiles_env(closed_port_url()))
    with sdk(server, api_key) as client:
        error, elapsed = api_error(lambda: client.models.generate_content(model=TINY, contents="Hi"))
    assert (error.code, error.status) == (503, "UNAVAILABLE")
    assert error.message is not None and "cannot connect" in error.message
    assert elapsed < 10


def test_upstream_that_never_answers_is_504_after_the_timeout(server_factory: Any, api_key: str) -> None:
    silent = SilentServer()
    try:
        server = server_factory(**gemfiles_env(silent.url, GEMFILES_OPENAI_TIMEOUT="2s"))
        with sdk(server, api_key) as client:
            error, elapsed = api_error(lambda: client.models.generate_content(model=TINY, contents="Hi"))
            stream_error, stream_elapsed = api_error(
                lambda: list(client.models.generate_content_stream(model=TINY, contents="Hi"))
            )
    finally:
        silent.close()
    assert (error.code, error.status) == (504, "DEADLINE_EXCEEDED")
    assert error.message == "The model server did not answer within 2 seconds."
    assert 1.9 < elapsed < 6
    assert stream_error.code == 504 and stream_elapsed < 6


# -- Bodies captured by a real HTTP server, validated against OpenAI's request types ---------------


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CaptureServer]:
    server = CaptureServer(tmp_path_factory.mktemp("captured")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gem_capture(capture: CaptureServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("gem-capture") / "data"
    with LiveServer(data_dir, gemfiles_env(capture.url)) as server:
        yield server


def data_url(part: dict[str, Any], mime: str) -> bytes:
    url = part["image_url"]["url"]
    assert url.startswith(f"data:{mime};base64,")
    return base64.b64decode(url.split(",", 1)[1], validate=True)


def wav_seconds(part: dict[str, Any]) -> float:
    assert part["input_audio"]["format"] == "wav"
    with wave.open(io.BytesIO(base64.b64decode(part["input_audio"]["data"], validate=True))) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16000, 1, 2)
        return wav.getnframes() / 16000


def test_every_kind_of_file_is_sent_as_parts_the_openai_types_accept(
    gem_capture: LiveServer, capture: CaptureServer, api_key: str, tmp_path: Path
) -> None:
    png = media.write_image(tmp_path / "a.png", "PNG", size=(320, 200))
    files = [
        (png, "image/png"),
        (media.write_image(tmp_path / "a.bmp", "BMP", size=(64, 32)), "image/bmp"),
        (media.write_audio(tmp_path / "a.wav", 1.5, codec="pcm_s16le", rate=16000), "audio/wav"),
        (media.write_audio(tmp_path / "a.flac", 2.0, codec="flac"), "audio/flac"),
        (media.write_video(tmp_path / "v.mp4", 4.0, fps=10), "video/mp4"),
        (media.write_pdf(tmp_path / "d.pdf", 2), "application/pdf"),
    ]
    (tmp_path / "t.py").write_text("print('hello')\n")
    files.append((tmp_path / "t.py", "text/x-python"))
    inline_png = io.BytesIO()
    Image.new("RGB", (5, 5), (1, 2, 3)).save(inline_png, "PNG")
    with sdk(gem_capture, api_key) as client:
        uploaded = [upload(client, path, mime) for path, mime in files]
        inline = types.Part.from_bytes(data=inline_png.getvalue(), mime_type="image/png")
        response = client.models.generate_content(
            model=TINY,
            contents=[*uploaded, inline, "Describe all of these"],
            config=types.GenerateContentConfig(
                system_instruction="Be brief", max_output_tokens=50, temperature=0.5
            ),
        )
    assert response.text == "captured"
    assert response.usage_metadata is not None and response.usage_metadata.prompt_token_count == 1234
    headers = capture.headers[-1]
    assert headers["authorization"] == "Bearer sk-local"
    assert int(headers["content-length"]) == capture.body_size()

    body = validate_request(capture.body())
    assert (body["model"], body["stream"], body["max_tokens"], body["temperature"]) == (TINY, True, 50, 0.5)
    assert body["messages"][0] == {"role": "system", "content": "Be brief"}
    parts = body["messages"][1]["content"]
    kinds = [p["type"] for p in parts]
    assert kinds == [
        "image_url",  # png, as it is
        "image_url",  # bmp, re-encoded
        "input_audio",  # wav, as it is
        "input_audio",  # flac -> wav
        "text", *["image_url"] * 4, "input_audio",  # video: header, 4 frames at 1 fps, soundtrack
        "text",  # pdf
        "text",  # python source
        "image_url",  # inline png
        "text",
    ]  # fmt: skip
    assert data_url(parts[0], "image/png") == png.read_bytes()
    with Image.open(io.BytesIO(data_url(parts[1], "image/jpeg"))) as bmp:
        assert bmp.size == (64, 32)
    assert base64.b64decode(parts[2]["input_audio"]["data"]) == files[2][0].read_bytes()
    assert wav_seconds(parts[3]) == pytest.approx(2.0, abs=0.1)
    assert "4 frames at 0.0s, 1.0s, 2.0s, 3.0s" in parts[4]["text"]
    for frame in parts[5:9]:
        with Image.open(io.BytesIO(data_url(frame, "image/jpeg"))) as image:
            assert image.size == (160, 120)
    assert wav_seconds(parts[9]) == pytest.approx(4.0, abs=0.2)
    assert "[Page 1]\nPage 1 says hello" in parts[10]["text"] and "[Page 2]" in parts[10]["text"]
    assert parts[11]["text"].endswith("print('hello')\n")
    assert data_url(parts[12], "image/png") == inline_png.getvalue()
    assert parts[13] == {"type": "text", "text": "Describe all of these"}


def test_interactions_audio_from_googles_files_page_is_sent_as_input_audio(
    gem_capture: LiveServer, capture: CaptureServer, api_key: str, tmp_path: Path
) -> None:
    with sdk(gem_capture, api_key) as client:
        myfile = upload(
            client, media.write_audio(tmp_path / "sample.mp3", 2.0, codec="libmp3lame"), "audio/mpeg"
        )
        interaction = client.interactions.create(
            model=TINY,
            input=[
                {"type": "text", "text": "Describe this audio clip"},
                {"type": "audio", "uri": myfile.uri, "mime_type": myfile.mime_type},
            ],
        )
    assert interaction.output_text == "captured"
    body = validate_request(capture.body())
    parts = body["messages"][-1]["content"]
    assert parts[0] == {"type": "text", "text": "Describe this audio clip"}
    assert parts[1]["type"] == "input_audio" and parts[1]["input_audio"]["format"] == "mp3"
    assert base64.b64decode(parts[1]["input_audio"]["data"]) == (tmp_path / "sample.mp3").read_bytes()


# -- Memory while converting big files -------------------------------------------------------------


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def reset_peak_rss(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class ChildPeak:
    """The largest peak RSS among a process's children (the decoding children of the conversions), sampled
    from /proc while they live."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self.seen: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for child in self._children():
                try:
                    self.peak = max(self.peak, peak_rss_mib(child))
                    self.seen.add(child)
                except (OSError, AssertionError):
                    pass  # gone meanwhile
            self._stop.wait(0.01)

    def _children(self) -> list[int]:
        pids: list[int] = []
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            try:
                pids.extend(int(p) for p in (task / "children").read_text().split())
            except OSError:
                pass
        return pids

    def __enter__(self) -> ChildPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.timeout(900)
@pytest.mark.parametrize("kind", ["pdf-200-pages", "video-10-minutes"])
def test_server_peak_rss_stays_under_150_mib_while_converting(
    kind: str, capture: CaptureServer, server_factory: Any, api_key: str, tmp_path: Path
) -> None:
    if kind == "pdf-200-pages":
        path, mime = (
            media.write_pdf(tmp_path / "big.pdf", 200, words_per_page=300, image_kib=150),
            "application/pdf",
        )
    else:
        path, mime = (
            media.write_video(tmp_path / "long.mp4", 600.0, fps=5, size=(640, 360), gop=50),
            "video/mp4",
        )
    server = server_factory(**gemfiles_env(capture.url))
    assert server.proc is not None
    pid = server.proc.pid
    with sdk(server, api_key) as client:
        file = upload(client, path, mime)
        after_upload = peak_rss_mib(pid)
        reset = reset_peak_rss(pid)
        with ChildPeak(pid) as children:
            response = client.models.generate_content(model=TINY, contents=[file, "Describe"])
        peak = peak_rss_mib(pid)
    assert response.text == "captured"
    body = validate_request(capture.body())
    print(f"{kind}: {path.stat().st_size / 2**20:.1f} MiB file, body {capture.body_size() / 2**20:.1f} MiB, "
          f"peak RSS after upload {after_upload:.1f} MiB, during generateContent {peak:.1f} MiB "
          f"({'reset before the call' if reset else 'peak since start'}), "
          f"decoding children {children.peak:.1f} MiB ({len(children.seen)} seen)")  # fmt: skip
    parts = body["messages"][0]["content"]
    if kind == "pdf-200-pages":
        assert "[Page 200]" in parts
    else:
        assert sum(1 for p in parts if p["type"] == "image_url") == 32
        assert wav_seconds(parts[-2]) == pytest.approx(600.0, abs=1)
    assert peak < 150, f"peak RSS {peak:.1f} MiB"
    assert children.seen, "the conversion decoded nothing in a child process"
    assert children.peak < 150, f"peak RSS of a decoding child {children.peak:.1f} MiB"


def test_capture_server_sees_content_length_bodies(capture: CaptureServer) -> None:
    """The capture server itself: a body sent with Content-Length arrives whole."""
    reply = httpx.post(f"{capture.url}/chat/completions", json={"model": "m", "messages": []}, timeout=10)
    assert reply.status_code == 200 and "[DONE]" in reply.text
    assert capture.body() == {"model": "m", "messages": []}


# -- Tools and structured output through llama.cpp's grammars ---------------------------------------
# A random-weight model says nothing meaningful: these check the request shapes llama.cpp accepts and that
# what comes back parses (JSON valid for the schema, function calls with JSON object arguments).


@needs_llama
def test_response_json_schema_through_llama_answers_json_valid_for_the_schema(client: genai.Client) -> None:
    import jsonschema

    schema = {
        "type": "object",
        "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer"}},
        "required": ["ok", "n"],
        "additionalProperties": False,
    }
    config = types.GenerateContentConfig(
        response_mime_type="application/json",
        response_json_schema=schema,
        temperature=0,
        max_output_tokens=64,
    )
    response = client.models.generate_content(model=TINY, contents="Answer in JSON", config=config)
    assert response.text is not None
    jsonschema.validate(json.loads(response.text), schema)


@needs_llama
def test_function_declaration_under_any_through_llama_answers_a_function_call(client: genai.Client) -> None:
    import jsonschema

    parameters = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 12}},
        "required": ["city"],
        "additionalProperties": False,
    }
    declaration = types.FunctionDeclaration(name="get_weather", parameters_json_schema=parameters)
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[declaration])],
        tool_config=types.ToolConfig(function_calling_config=types.FunctionCallingConfig(mode="ANY")),  # type: ignore[arg-type]
        temperature=0,
        max_output_tokens=48,
    )
    response = client.models.generate_content(model=TINY, contents="Weather in Oslo?", config=config)
    calls = response.function_calls or []
    if not calls:  # llama.cpp's generic chat handler may answer text; it must still be a well-formed answer
        assert response.candidates and response.candidates[0].content is not None
        return
    assert calls[0].name == "get_weather"
    jsonschema.validate(calls[0].args, parameters)
    streamed = list(
        client.models.generate_content_stream(model=TINY, contents="Weather in Oslo?", config=config)
    )
    assert any(chunk.function_calls for chunk in streamed)
