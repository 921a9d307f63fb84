"""Helpers for testing against gemfiles: a real ``gemfiles serve`` process on loopback.

Used by the project's own tests and benchmarks, and meant for the users' tests too: ``serve()`` (a server
for a ``with`` block), ``Project`` (one API key's emulator controls), and the pytest plugin
(``gemfiles.testing.plugin``, registered through the ``pytest11`` entry point: the ``gemini`` fixture). It
imports only the standard library and httpx (and pytest, in the plugin), never the server's own packages:
what it knows of gemfiles is its command line, its ``GEMFILES_*`` settings and its HTTP API.
"""

from gemfiles.testing.controls import ControlError, Project, new_api_key
from gemfiles.testing.serve import serve
from gemfiles.testing.server import LiveServer, free_port

__all__ = ["ControlError", "LiveServer", "Project", "free_port", "new_api_key", "serve"]
