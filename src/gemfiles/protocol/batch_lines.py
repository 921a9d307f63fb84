"""One batch request line answered: GenerateContentRequest JSON in, GenerateContentResponse JSON out.

The domain's ``LineRunner`` port (``domain/batches.py``), implemented on the generation service with the
wire translation of ``:generateContent`` (``models.call_of``, ``models.response_json``), so a line is
answered exactly as the same request sent to ``:generateContent`` would be. The composition root builds it
and hands it to the batch runner. Errors become the line's ``error``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gemfiles.domain.generation import GenerationService
from gemfiles.errors import ApiError
from gemfiles.protocol.http import internal_error
from gemfiles.protocol.models import call_of, new_response_id, response_json
from gemfiles.settings import Settings

log = logging.getLogger("gemfiles.batches")


class ModelLineRunner:
    def __init__(self, generation: GenerationService, settings: Settings) -> None:
        self.generation = generation
        self.settings = settings

    async def __call__(self, project: str, model: str, request: dict[str, Any]) -> dict[str, Any]:
        try:
            answer = await self.generation.generate(project, call_of(request, self.settings, model))
            return {"response": response_json(answer.text, model, new_response_id(), answer.finished)}
        except ApiError as exc:
            return exc.body()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return internal_error(exc, "a batch line failed", log).body()
