"""The emulator's per-project controls in one place: scripted answers, planned faults and the journal.

The generation service calls ``Emulator.generate`` in place of the backend's ``generate``: a scripted rule
answers if one matches, else the routed backend does (the deterministic model for ``inspect``), and the
exchange is journaled either way. ``reset`` forgets a project's rules, counters, faults and journal (its
files are the file service's to delete).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from gemfiles.domain.calls import ModelRequest, OutputEvent
from gemfiles.domain.faults import FaultPlan
from gemfiles.domain.journal import Journal
from gemfiles.domain.scriptbook import ScriptBook, Sleep, play

Generate = Callable[[ModelRequest], AsyncIterator[OutputEvent]]


class Emulator:
    def __init__(
        self, scripts: ScriptBook, faults: FaultPlan, journal: Journal, sleep: Sleep = asyncio.sleep
    ) -> None:
        self.scripts = scripts
        self.faults = faults
        self.journal = journal
        self.sleep = sleep

    def generate(
        self, project: str, method: str, request: ModelRequest, backend: Generate
    ) -> AsyncIterator[OutputEvent]:
        """The events of one model call (``method`` as journaled: generateContent, interactions...).

        May raise, when iterated: an ApiError (a scripted error), ``StreamCut`` (drop the connection).
        """
        matched = self.scripts.match(project, request)
        if matched is None:
            return self.journal.watch(project, method, request, backend(request))
        events = play(matched, request, lambda: backend(request), self.sleep)
        return self.journal.watch(project, method, request, events, rule=matched.label)

    def reset(self, project: str) -> None:
        self.scripts.reset(project)
        self.faults.reset(project)
        self.journal.reset(project)
