"""``serve()``: a gemfiles server for a block of code, for those who do not use pytest."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gemfiles.testing.server import LiveServer


@contextlib.contextmanager
def serve(
    data_dir: Path | str | None = None, *, controls: bool = True, **settings: str
) -> Iterator[LiveServer]:
    """A ``gemfiles serve`` process on a free loopback port, stopped when the block ends.

    ``data_dir``: where it keeps its database and bytes (a temporary directory, removed afterwards, when
    not given). ``controls``: the emulator controls (scripts, faults, journal, clock). Other settings by
    their ``GEMFILES_`` name without the prefix: ``serve(FILE_TTL="1h")``::

        with serve() as server, Project(server.url) as project:
            project.fault("start_exhausted")
            client = genai.Client(api_key=project.api_key, http_options={"base_url": server.url})
    """
    env = {f"GEMFILES_{name.upper()}": value for name, value in settings.items()}
    env.setdefault("GEMFILES_EMULATOR_CONTROLS", "true" if controls else "false")
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gemfiles-"))) / "data"
        server = LiveServer(Path(data_dir), env)
        stack.enter_context(server)
        yield server
