"""The Python SDK, unmodified, calling models and interactions with uploaded files (sync and async).

The default ``inspect`` backend answers with what reached it, so each test checks that the right file
(name, size, SHA-256) and what the media layer learned from it (duration, dimensions, pages) arrived.
"""

from __future__ import annotations

import hashlib
import io
import math

import pytest
from google import genai
from google.genai import types
from google.genai._gaos.lib import compat_errors

from tests.conformance.model_samples import await_processed, mp4, pdf, png, wait_until_processed, wav
from tests.support import LiveServer

MODEL = "gemini-2.5-flash"
HEADER = "gemfiles inspect: a deterministic inspector, not a language model."


def upload(client: genai.Client, data: bytes, mime_type: str, display_name: str) -> types.File:
    uploaded = client.files.upload(
        file=io.BytesIO(data), config={"mime_type": mime_type, "display_name": display_name}
    )
    assert uploaded.name is not None
    file = wait_until_processed(client, uploaded.name)
    assert file.state is not None and file.state.name == "ACTIVE", file
    return file


def file_lines(file: types.File, data: bytes) -> list[str]:
    return [
        f"File 1: {file.name}",
        f'  Display name: "{file.display_name}"',
        f"  MIME type: {file.mime_type}",
        f"  Size: {len(data)} bytes",
        f"  SHA-256: {hashlib.sha256(data).hexdigest()}",
    ]


def assert_lines(text: str | None, *expected: str) -> None:
    assert text is not None
    lines = text.splitlines()
    for line in expected:
        assert line in lines, f"{line!r} not in:\n{text}"


@pytest.fixture
def audio(client: genai.Client) -> tuple[types.File, bytes]:
    data = wav(1.5)
    return upload(client, data, "audio/wav", "tone.wav"), data


# generateContent ----------------------------------------------------------------------


def test_generate_content_with_uploaded_audio_reports_file_and_duration(
    client: genai.Client, audio: tuple[types.File, bytes]
) -> None:
    file, data = audio
    response = client.models.generate_content(model=MODEL, contents=[file, "Describe this"])
    assert response.text is not None and response.text.startswith(HEADER)
    assert_lines(
        response.text,
        f"Model: {MODEL}",
        *file_lines(file, data),
        "  Duration: 1.500 s",
        "  Audio codec: pcm_s16le",
        "  Sample rate: 16000 Hz",
        "  Channels: 1",
        'Text: "Describe this"',
        "Input tokens: 68 (TEXT 4, AUDIO 64)",
    )
    usage = response.usage_metadata
    assert usage is not None
    assert usage.prompt_token_count == 4 + 2 * 32  # 13 characters; 1.5 s of audio -> 2 seconds
    assert usage.candidates_token_count == math.ceil(len(response.text) / 4)
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count
    details = {d.modality.name: d.token_count for d in usage.prompt_tokens_details or [] if d.modality}
    assert details == {"TEXT": 4, "AUDIO": 64}
    candidate = (response.candidates or [])[0]
    assert candidate.finish_reason is not None and candidate.finish_reason.name == "STOP"
    assert response.model_version == MODEL


def test_generate_content_stream_sends_several_chunks_that_join_to_the_unary_answer(
    client: genai.Client, audio: tuple[types.File, bytes]
) -> None:
    file, _ = audio
    unary = client.models.generate_content(model=MODEL, contents=[file, "Describe this"])
    chunks = list(client.models.generate_content_stream(model=MODEL, contents=[file, "Describe this"]))
    assert len(chunks) > 3
    assert "".join(c.text or "" for c in chunks) == unary.text
    last = chunks[-1]
    assert last.candidates and last.candidates[0].finish_reason is not None
    assert last.usage_metadata is not None
    assert (
        last.usage_metadata.total_token_count
        == (unary.usage_metadata or types.UsageMetadata()).total_token_count
    )


def test_count_tokens_uses_the_same_rates_as_usage(
    client: genai.Client, audio: tuple[types.File, bytes]
) -> None:
    file, _ = audio
    counted = client.models.count_tokens(model=MODEL, contents=[file, "Describe this"])
    generated = client.models.generate_content(model=MODEL, contents=[file, "Describe this"])
    assert counted.total_tokens == 68
    assert generated.usage_metadata is not None
    assert counted.total_tokens == generated.usage_metadata.prompt_token_count


def test_generate_content_reports_image_pdf_text_and_video_facts(client: genai.Client) -> None:
    image = upload(client, png(4, 3), "image/png", "dot.png")
    document = upload(client, pdf(["Hello from page one", "Page two"]), "application/pdf", "two.pdf")
    notes = upload(client, b"first line\nsecond\nthird\n", "text/plain", "notes.txt")
    video = upload(client, mp4(seconds=2), "video/mp4", "clip.mp4")
    response = client.models.generate_content(
        model="tunedModels/anything", contents=["Compare", image, document, notes, video]
    )
    text = response.text
    assert_lines(
        text,
        f"File 1: {image.name}",
        "  Dimensions: 4x3",
        f"File 2: {document.name}",
        "  Pages: 2",
        '  First line: "Hello from page one"',
        f"File 3: {notes.name}",
        "  Lines: 3",
        '  First line: "first line"',
        f"File 4: {video.name}",
        "  Duration: 2.000 s",
        "  Video codec: mpeg4",
        "  Dimensions: 64x48",
        "Input tokens: 1308 (TEXT 8, IMAGE 258, VIDEO 526, DOCUMENT 516)",
    )
    assert response.usage_metadata is not None
    assert response.usage_metadata.prompt_token_count == 2 + 6 + 258 + 526 + 516


def test_generate_content_with_inline_image_and_system_instruction(client: genai.Client) -> None:
    data = png(7, 5)
    response = client.models.generate_content(
        model=MODEL,
        contents=[types.Part.from_bytes(data=data, mime_type="image/png"), "What is it?"],
        config=types.GenerateContentConfig(system_instruction="Answer briefly."),
    )
    assert_lines(
        response.text,
        'System instruction: "Answer briefly."',
        "Inline data 1:",
        "  MIME type: image/png",
        f"  Size: {len(data)} bytes",
        f"  SHA-256: {hashlib.sha256(data).hexdigest()}",
        "  Dimensions: 7x5",
        'Text: "What is it?"',
    )


def test_models_list_and_get_name_the_routed_models(client: genai.Client) -> None:
    names = [m.name for m in client.models.list()]
    assert "models/inspect" in names
    model = client.models.get(model=MODEL)
    assert model.name == f"models/{MODEL}"
    assert model.input_token_limit and model.input_token_limit > 0
    assert "deterministic inspector" in (client.models.get(model="inspect").description or "")


# Interactions ----------------------------------------------------------------------


def test_interactions_create_with_google_files_page_input_reports_the_audio(
    client: genai.Client, audio: tuple[types.File, bytes]
) -> None:
    myfile, data = audio
    interaction = client.interactions.create(
        model=MODEL,
        input=[
            {"type": "text", "text": "Describe this audio clip"},
            {"type": "audio", "uri": myfile.uri, "mime_type": myfile.mime_type},
        ],
    )
    assert interaction.status == "completed"
    assert interaction.id.startswith("v1_")
    assert interaction.output_text.startswith(HEADER)
    assert_lines(
        interaction.output_text,
        'Text: "Describe this audio clip"',
        *file_lines(myfile, data),
        "  Duration: 1.500 s",
    )
    usage = interaction.usage
    assert usage is not None
    assert usage.total_input_tokens == 6 + 64
    assert usage.total_output_tokens == math.ceil(len(interaction.output_text) / 4)
    assert usage.total_tokens == (usage.total_input_tokens or 0) + (usage.total_output_tokens or 0)
    assert interaction.continuation_token is None


def test_interactions_stream_emits_created_steps_and_completed(
    client: genai.Client, audio: tuple[types.File, bytes]
) -> None:
    myfile, data = audio
    request = {
        "model": MODEL,
        "input": [
            {"type": "text", "text": "Describe this audio clip"},
            {"type": "audio", "uri": myfile.uri, "mime_type": myfile.mime_type},
        ],
    }
    events = list(client.interactions.create(**request, stream=True))
    kinds = [e.event_type for e in events]
    assert kinds[:2] == ["interaction.created", "step.start"]
    assert kinds[-2:] == ["step.stop", "interaction.completed"]
    assert kinds.count("step.delta") > 3
    text = "".join(e.delta.text for e in events if e.event_type == "step.delta")
    assert_lines(text, *file_lines(myfile, data), "  Duration: 1.500 s")
    completed = events[-1].interaction
    assert completed.status == "completed" and completed.id == events[0].interaction.id
    assert completed.usage is not None and completed.usage.total_input_tokens == 70

    stored = client.interactions.get(completed.id)
    assert stored.status == "completed"
    assert stored.output_text == text


def test_interactions_get_returns_the_full_timeline_then_delete_removes_it(
    client: genai.Client, audio: tuple[types.File, bytes]
) -> None:
    myfile, _ = audio
    created = client.interactions.create(
        model=MODEL,
        input=[{"type": "audio", "uri": myfile.uri, "mime_type": myfile.mime_type}, {"text": "Hi"}],
    )
    assert [s.type for s in created.steps or []] == ["model_output"]
    fetched = client.interactions.get(created.id)
    assert [s.type for s in fetched.steps or []] == ["user_input", "model_output"]
    user_input = (fetched.steps or [])[0]
    assert [c.type for c in user_input.content] == ["audio", "text"]
    assert user_input.content[0].uri == myfile.uri
    assert fetched.output_text == created.output_text
    assert fetched.usage is not None and created.usage is not None
    assert fetched.usage.total_tokens == created.usage.total_tokens

    client.interactions.delete(created.id)
    with pytest.raises(compat_errors.NotFoundError):
        client.interactions.get(created.id)


def test_interactions_previous_interaction_id_continues_the_conversation(
    client: genai.Client, audio: tuple[types.File, bytes]
) -> None:
    myfile, _ = audio
    first = client.interactions.create(
        model=MODEL, input=[{"type": "audio", "uri": myfile.uri, "mime_type": myfile.mime_type}]
    )
    second = client.interactions.create(model=MODEL, input="And again?", previous_interaction_id=first.id)
    assert_lines(
        second.output_text,
        "Turn 1 (user):",
        f"  File 1: {myfile.name}",
        "Turn 2 (model):",
        "Turn 3 (user):",
        '  Text: "And again?"',
    )
    assert second.previous_interaction_id == first.id


def test_interactions_plain_string_input(client: genai.Client) -> None:
    interaction = client.interactions.create(model=MODEL, input="Hello there")
    assert_lines(interaction.output_text, 'Text: "Hello there"', "Input tokens: 3 (TEXT 3)")


# The async client ----------------------------------------------------------------------


async def test_async_client_generates_streams_counts_and_runs_interactions(
    aclient: genai.client.AsyncClient, live_server: LiveServer
) -> None:
    data = wav(0.5)
    uploaded = await aclient.files.upload(file=io.BytesIO(data), config={"mime_type": "audio/wav"})
    assert uploaded.name is not None
    file = await await_processed(aclient, uploaded.name)
    expected = [f"File 1: {file.name}", f"  Size: {len(data)} bytes", "  Duration: 0.500 s"]

    response = await aclient.models.generate_content(model=MODEL, contents=[file, "Describe this"])
    assert_lines(response.text, *expected)

    chunks = [
        c.text or "" async for c in await aclient.models.generate_content_stream(model=MODEL, contents=[file])
    ]
    assert len(chunks) > 3
    assert_lines("".join(chunks), *expected)

    counted = await aclient.models.count_tokens(model=MODEL, contents=[file, "Describe this"])
    assert counted.total_tokens == 4 + 32

    block = {"type": "audio", "uri": file.uri, "mime_type": file.mime_type}
    interaction = await aclient.interactions.create(
        model=MODEL, input=[{"type": "text", "text": "Hi"}, block]
    )
    assert interaction.status == "completed"
    assert_lines(interaction.output_text, *expected)

    stream = await aclient.interactions.create(model=MODEL, input=[block], stream=True)
    kinds = [event.event_type async for event in stream]
    assert kinds[0] == "interaction.created" and kinds[-1] == "interaction.completed"

    fetched = await aclient.interactions.get(interaction.id)
    assert fetched.output_text == interaction.output_text
    await aclient.interactions.delete(interaction.id)
    with pytest.raises(compat_errors.NotFoundError):
        await aclient.interactions.get(interaction.id)
