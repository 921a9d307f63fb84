"""Stored interactions: what ``GET /interactions/{id}`` returns and ``previous_interaction_id`` continues.

An interaction is kept as its timeline: the ``user_input`` step (content blocks, files by uri) and the
steps the model produced, plus usage. Files stay referenced by uri and are resolved again when a later
interaction continues the conversation, so an expired or deleted file is refused then, as on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gemfiles.domain.ids import random_id

# Steps of "completed" interactions are final; "in_progress" ones are still streaming.
# "requires_action": the model called functions; its turn is over (the client continues with the results).
FINAL_STATUSES = frozenset({"completed", "requires_action", "failed", "cancelled", "incomplete"})


def new_interaction_id() -> str:
    """``v1_`` and 24 lowercase alphanumerics, the shape of the ids in Google's samples."""
    return "v1_" + random_id(24)


@dataclass(slots=True)
class InteractionRecord:
    project: str
    id: str
    model: str
    status: str
    create_time: datetime
    update_time: datetime
    expire_time: datetime
    previous_id: str | None = None
    system_instruction: str | None = None
    # The timeline in the wire's own snake_case shape: [{"type": "user_input", "content": [...]}, ...].
    steps: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    # Request fields echoed back on GET (generation_config, input when include_input is asked, ...).
    extra: dict[str, Any] = field(default_factory=dict)
