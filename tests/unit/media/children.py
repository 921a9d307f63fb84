"""What the children of ``test_isolated`` run: module-level, so that a child can import them, in a module
that imports nothing heavy (a child under a small memory limit must be able to load it)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def add(a: int, b: int) -> tuple[int, int]:
    return a + b, os.getpid()


def chatty(text: str) -> str:
    print("noise on stdout", flush=True)
    os.write(1, b"raw noise on fd 1\n")
    return text


def segfault() -> None:
    os.kill(os.getpid(), signal.SIGSEGV)


def exit_quietly() -> None:
    os._exit(0)


def hang(pid_file: str) -> None:
    Path(pid_file).write_text(str(os.getpid()))
    time.sleep(600)


def fail_reading(path: str) -> None:
    raise FileNotFoundError(2, "No such file or directory", path)


class Unpicklable(Exception):
    def __init__(self) -> None:
        super().__init__("cannot travel")
        self.handle = lambda: None

    def __reduce__(self):  # type: ignore[no-untyped-def]
        raise TypeError("not picklable")


def raise_unpicklable() -> None:
    raise Unpicklable()


class NeedsTwoArguments(Exception):
    def __init__(self, first: str, second: str) -> None:
        super().__init__(f"{first} and {second}")  # pickles, but cannot be rebuilt from its args


def raise_unrebuildable() -> None:
    raise NeedsTwoArguments("one", "two")


def balloon(mib: int) -> int:
    hoard = bytearray(mib * 1024 * 1024)
    return len(hoard)
