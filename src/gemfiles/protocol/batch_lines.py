"""One batch request line answered: GenerateContentRequest JSON in, GenerateContentResponse JSON out.

The domain's ``LineRunner`` port, implemented on the model-call code the generateContent handler uses
(content parsing, file resolution, the routing table, the response renderer), so a line is answered
exactly as the same request sent to ``:generateContent`` would be. Errors become the line's ``error``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gemfiles.domain.calls import Finished, ModelRequest, TextDelta, Usage
from gemfiles.errors import ApiError, NotFound
from gemfiles.protocol.contents import content_text, generate_drafts, get, snake_keys
from gemfiles.protocol.services import Services

log = logging.getLogger("gemfiles.batches")


class ModelLineRunner:
    """Looks the model layer up when first used: it is built by the models extension."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def __call__(self, project: str, model: str, request: dict[str, Any]) -> dict[str, Any]:
        from gemfiles.protocol.models import new_response_id, response_json

        try:
            calls = self.services.extras["models"]
            route = calls.router.route(model)
            if route is None:
                raise NotFound(f"models/{model} is not found, or is not supported for generateContent.")
            drafts = generate_drafts(request, self.services.settings)
            model_request = ModelRequest(
                model=model,
                messages=await calls.resolver.resolve(project, drafts),
                system_instruction=content_text(get(request, "system_instruction"), "system_instruction"),
                generation_config=snake_keys(get(request, "generation_config"), "generation_config"),
            )
            prepare = self.services.extras.get("prepare_request")
            if prepare is not None:  # cached contents (protocol/caches.py)
                model_request = await prepare(project, request, model_request)
            texts: list[str] = []
            finished: Finished | None = None
            async for event in route.backend.generate(model_request):
                if isinstance(event, TextDelta):
                    texts.append(event.text)
                elif isinstance(event, Finished):
                    finished = event
            finished = finished or Finished(Usage(0, 0))
            return {"response": response_json("".join(texts), model, new_response_id(), finished)}
        except ApiError as exc:
            return exc.body()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("a batch line failed")
            return {"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}}
