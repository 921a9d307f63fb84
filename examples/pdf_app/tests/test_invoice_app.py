"""The invoice application against gemfiles, through the plugin's ``gemini`` fixture: each test has its own
project (API key), scripts the model's answers and plans faults for it, and reads what the model received."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path

import pytest
from google import genai
from invoice_app import Invoice, extract_invoice, total_in_eur, upload_pdf

from gemfiles.testing import Project

ACME = {"vendor": "ACME Corp", "invoice_number": "2026-041", "total": 1250.5, "currency": "USD"}


@pytest.fixture
def model_controls(gemini: Project) -> Project:
    """The scripted-answer controls; the model features the tests need arrived with them."""
    if gemini.http.get("/_internal/rules").status_code == 404:
        pytest.skip("this gemfiles build has no /_internal/rules (scripted answers are not wired yet)")
    return gemini


# Uploads --------------------------------------------------------------------------------------------
def test_upload_retries_a_429_at_start_and_stores_the_pdf_intact(
    gemini: Project, client: genai.Client, invoice_pdf: Path
) -> None:
    gemini.fault("start_exhausted", times=2)
    slept: list[float] = []
    file = upload_pdf(client, invoice_pdf, sleep=slept.append)
    assert len(slept) == 2 and gemini.fired() == [2]
    assert file.state is not None and file.state.name == "ACTIVE"
    assert (
        base64.b64decode(file.sha256_hash or "").decode()
        == hashlib.sha256(invoice_pdf.read_bytes()).hexdigest()
    )


def test_upload_waits_while_the_file_is_processing(
    gemini: Project, client: genai.Client, invoice_pdf: Path
) -> None:
    gemini.fault("hold_processing", seconds=30, mime_type="application/pdf")
    waited: list[float] = []

    def sleep(seconds: float) -> None:  # the app's waits move the server's clock instead of ours
        waited.append(seconds)
        gemini.advance(seconds)
        time.sleep(0.05)

    file = upload_pdf(client, invoice_pdf, sleep=sleep)
    assert file.state is not None and file.state.name == "ACTIVE"
    assert sum(waited) >= 30


def test_upload_raises_when_processing_fails(
    gemini: Project, client: genai.Client, invoice_pdf: Path
) -> None:
    gemini.fault("fail_processing", message="The PDF is encrypted.")
    with pytest.raises(RuntimeError, match=r"could not be processed: The PDF is encrypted\."):
        upload_pdf(client, invoice_pdf, sleep=lambda seconds: time.sleep(0.1))


# JSON with a schema, a tool, retries ----------------------------------------------------------------
def test_extract_invoice_parses_the_deterministic_models_json(
    model_controls: Project, client: genai.Client, invoice_pdf: Path
) -> None:
    file = upload_pdf(client, invoice_pdf)
    invoice = extract_invoice(client, file)
    assert isinstance(invoice, Invoice)  # any instance valid for the schema parses
    [entry] = model_controls.journal()
    [seen] = [f for turn in entry["turns"] for f in turn["files"]]
    assert seen["sha256"] == hashlib.sha256(invoice_pdf.read_bytes()).hexdigest()
    assert entry["response_mime_type"] == "application/json" and entry["response_schema"] is not None


def test_extract_invoice_returns_the_scripted_fields(
    model_controls: Project, client: genai.Client, invoice_pdf: Path
) -> None:
    model_controls.script(
        [
            {
                "name": "acme",
                "match": {"file": {"mime_type": "application/pdf"}, "schema": True},
                "answer": {"json": ACME},
            }
        ]
    )
    assert extract_invoice(client, upload_pdf(client, invoice_pdf)) == Invoice(**ACME)


def test_extract_invoice_retries_429_after_the_servers_delay(
    model_controls: Project, client: genai.Client, invoice_pdf: Path
) -> None:
    model_controls.script(
        [
            {"name": "busy", "times": 2, "answer": {"error": {"code": 429, "retry_delay": 2}}},
            {"name": "acme", "answer": {"json": ACME}},
        ]
    )
    file = upload_pdf(client, invoice_pdf)
    slept: list[float] = []
    assert extract_invoice(client, file, sleep=slept.append) == Invoice(**ACME)
    assert slept == [2.0, 2.0]
    assert [entry["answer"]["outcome"] for entry in model_controls.journal()] == [
        "error",
        "error",
        "finished",
    ]


def test_total_in_eur_runs_the_tool_the_model_calls(model_controls: Project, client: genai.Client) -> None:
    model_controls.script(
        [
            {
                "name": "convert",
                "match": {"function": "convert_to_eur"},
                "times": 1,
                "answer": {
                    "function_calls": [
                        {"name": "convert_to_eur", "args": {"amount": 1250.5, "currency": "USD"}}
                    ]
                },
            }
        ]
    )
    answer = total_in_eur(client, Invoice(**ACME))
    assert "1150.46" in answer  # 1250.5 USD at 0.92: the function's result reached the model's answer
    last = model_controls.journal()[-1]
    assert last["turns"][-1]["function_responses"][0]["name"] == "convert_to_eur"
