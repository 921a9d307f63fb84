"""A small Gemini application: read an invoice PDF, get its fields as JSON, convert its total with a tool.

It is written as any application using the official Python SDK is written: a ``genai.Client`` configured by
the environment (``GEMINI_API_KEY``, ``GOOGLE_GEMINI_BASE_URL``), ``client.files.upload``, a response
schema, automatic function calling, and a retry on 429 / 503. Nothing in it knows about gemfiles; its tests
(``tests/``) run it against gemfiles through the pytest plugin.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from google import genai
from google.genai import errors, types
from pydantic import BaseModel

MODEL = "gemini-2.5-flash"
RETRYABLE = {429, 503}
T = TypeVar("T")
Sleep = Callable[[float], object]


class Invoice(BaseModel):
    vendor: str
    invoice_number: str
    total: float
    currency: str


RATES_TO_EUR = {"EUR": 1.0, "USD": 0.92, "GBP": 1.17, "NOK": 0.085}


def convert_to_eur(amount: float, currency: str) -> dict[str, float]:
    """Converts an amount of money in the given ISO 4217 currency to euros."""
    rate = RATES_TO_EUR.get(currency.upper(), 1.0)
    return {"eur": round(amount * rate, 2), "rate": rate}


def retry_delay(error: errors.APIError, attempt: int) -> float:
    """The server's RetryInfo delay ("2.5s"), else an exponential backoff."""
    body = error.details if isinstance(error.details, dict) else {}
    for detail in body.get("error", {}).get("details", []):
        if detail.get("@type", "").endswith("google.rpc.RetryInfo"):
            return float(str(detail.get("retryDelay", "1s")).rstrip("s"))
    return 0.5 * 2**attempt


def with_retry(call: Callable[[], T], *, attempts: int = 4, sleep: Sleep = time.sleep) -> T:
    """``call()``, tried again after a 429 or 503 (up to ``attempts`` times in all)."""
    for attempt in range(attempts):
        try:
            return call()
        except errors.APIError as error:
            if error.code not in RETRYABLE or attempt == attempts - 1:
                raise
            sleep(retry_delay(error, attempt))
    raise AssertionError("unreachable")


def upload_pdf(
    client: genai.Client, path: Path, *, sleep: Sleep = time.sleep, max_wait: float = 300
) -> types.File:
    """Uploads the PDF and waits until it can be used (ACTIVE); a FAILED file raises RuntimeError."""
    file = with_retry(
        lambda: client.files.upload(file=path, config={"mime_type": "application/pdf"}), sleep=sleep
    )
    assert file.name is not None
    waited = 0.0
    while file.state == types.FileState.PROCESSING:
        if waited >= max_wait:
            raise TimeoutError(f"{file.name} is still PROCESSING after {max_wait:.0f}s")
        sleep(2)
        waited += 2
        file = client.files.get(name=file.name)
    if file.state == types.FileState.FAILED:
        message = file.error.message if file.error else "unknown error"
        raise RuntimeError(f"{file.name} could not be processed: {message}")
    return file


def extract_invoice(client: genai.Client, file: types.File, *, sleep: Sleep = time.sleep) -> Invoice:
    """The invoice's fields, as JSON the model must shape after ``Invoice``."""
    config = types.GenerateContentConfig(response_mime_type="application/json", response_schema=Invoice)
    response = with_retry(
        lambda: client.models.generate_content(
            model=MODEL, contents=[file, "Extract the invoice's fields."], config=config
        ),
        sleep=sleep,
    )
    if isinstance(response.parsed, Invoice):
        return response.parsed
    return Invoice.model_validate_json(response.text or "")


def total_in_eur(client: genai.Client, invoice: Invoice, *, sleep: Sleep = time.sleep) -> str:
    """Asks the model to convert the total; it calls ``convert_to_eur`` (the SDK runs the function)."""
    config = types.GenerateContentConfig(tools=[convert_to_eur])
    question = f"How much is {invoice.total} {invoice.currency} in euros?"
    response = with_retry(
        lambda: client.models.generate_content(model=MODEL, contents=question, config=config), sleep=sleep
    )
    return response.text or ""


def main(path: str) -> None:  # pragma: no cover - the command line
    with genai.Client() as client:
        file = upload_pdf(client, Path(path))
        invoice = extract_invoice(client, file)
        print(invoice.model_dump_json(indent=2))
        print(total_in_eur(client, invoice))


if __name__ == "__main__":  # pragma: no cover
    import sys

    main(sys.argv[1])
