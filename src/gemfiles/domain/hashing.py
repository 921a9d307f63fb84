"""A SHA-256 whose running state can be saved after every chunk and continued anywhere.

A resumable upload's chunks may land on different replicas, or on a restarted process, so the running
digest cannot live in one process's memory. ``hashlib`` cannot export its state and ``rehash`` does not
support OpenSSL 3, so this calls the same libcrypto that ``hashlib`` links against, through its public
``SHA256_Init``/``SHA256_Update``/``SHA256_Final`` API, whose context is a plain 112-byte struct
(``SHA256_CTX`` in ``openssl/sha.h``). ctypes releases the GIL during the call, so hashing runs in a worker
thread in parallel with the event loop, at OpenSSL's speed (SHA-NI where the CPU has it).

Where libcrypto cannot be loaded, ``ResumableSha256.available()`` is False and the domain falls back to
re-reading the stored bytes at finalize.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
from functools import cache

_CTX_SIZE = 112  # sizeof(SHA256_CTX): h[8], Nl, Nh, data[16] (32-bit each), num, md_len (unsigned int)


@cache
def _libcrypto() -> ctypes.CDLL | None:
    candidates = [ctypes.util.find_library("crypto"), "libcrypto.so.3", "libcrypto.3.dylib"]
    for name in candidates:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            lib.SHA256_Init.argtypes = [ctypes.c_void_p]
            lib.SHA256_Update.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
            lib.SHA256_Final.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        except (OSError, AttributeError):
            continue
        if _self_test(lib):
            return lib
    return None


def _self_test(lib: ctypes.CDLL) -> bool:
    ctx = ctypes.create_string_buffer(_CTX_SIZE)
    lib.SHA256_Init(ctx)
    lib.SHA256_Update(ctx, b"gem", 3)
    resumed = ctypes.create_string_buffer(ctx.raw, _CTX_SIZE)
    lib.SHA256_Update(resumed, b"files", 5)
    out = ctypes.create_string_buffer(32)
    lib.SHA256_Final(out, resumed)
    return out.raw == hashlib.sha256(b"gemfiles").digest()


class ResumableSha256:
    __slots__ = ("_ctx", "_lib")

    def __init__(self, state: bytes | None = None) -> None:
        lib = _libcrypto()
        if lib is None:
            raise RuntimeError("libcrypto's SHA256 API is not available")
        self._lib = lib
        if state is None:
            self._ctx = ctypes.create_string_buffer(_CTX_SIZE)
            lib.SHA256_Init(self._ctx)
        else:
            if len(state) != _CTX_SIZE:
                raise ValueError("not a SHA-256 state")
            self._ctx = ctypes.create_string_buffer(state, _CTX_SIZE)

    @staticmethod
    def available() -> bool:
        return _libcrypto() is not None

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        if view.nbytes:
            buf = (
                (ctypes.c_char * view.nbytes).from_buffer_copy(view) if not isinstance(data, bytes) else data
            )
            self._lib.SHA256_Update(self._ctx, buf, view.nbytes)

    def state(self) -> bytes:
        return self._ctx.raw

    def hexdigest(self) -> str:
        copy = ctypes.create_string_buffer(self._ctx.raw, _CTX_SIZE)
        out = ctypes.create_string_buffer(32)
        self._lib.SHA256_Final(out, copy)
        return out.raw.hex()
