"""Log output of the server: one JSON object per line, or readable text on a terminal.

``GEMFILES_LOG_FORMAT``: ``json``, ``text`` or ``auto`` (text when stderr is a terminal, JSON otherwise).
Every ``gemfiles.*`` logger writes through one handler on stderr; request lines come from
``gemfiles.access`` (``protocol.observe``) and carry their fields at the top level of the JSON object.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

_HANDLER_NAME = "gemfiles"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "request", None)
        if fields:
            line.update(fields)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "request", None)
        if fields:
            text = (
                f"{fields['method']} {fields['route']} {fields['status']} {fields['duration_ms']:.1f}ms "
                f"in={fields['bytes_in']} out={fields['bytes_out']} project={fields['project'] or '-'} "
                f"id={fields['request_id']}"
            )
        else:
            text = record.getMessage()
        line = f"{_timestamp(record.created)} {record.levelname:<7} {record.name}: {text}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _timestamp(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


def configure(level: str, fmt: str) -> None:
    """Installs the one handler of the ``gemfiles`` loggers (again: replaces it)."""
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    logger = logging.getLogger("gemfiles")
    for handler in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
        logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    # Records still propagate: the root logger has no handler in the server (uvicorn configures only its
    # own loggers), and a test's log capture on the root keeps seeing them.
