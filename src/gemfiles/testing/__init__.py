"""Helpers for testing against gemfiles: a real ``gemfiles serve`` process on loopback.

Used by the project's own tests and benchmarks, and meant for the users' tests too. It imports only the
standard library and httpx, never the server's own packages: what it knows of gemfiles is its command line
and its ``GEMFILES_*`` settings.
"""

from gemfiles.testing.server import LiveServer, free_port

__all__ = ["LiveServer", "free_port"]
