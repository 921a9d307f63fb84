"""Real OpenAI-compatible upstreams for the openai backend's end-to-end tests.

* ``LlamaServer``: llama.cpp's server (``python -m llama_cpp.server``, from ``llama-cpp-python[server]``) on a
  tiny random-weight llama that ``write_tiny_gguf`` writes with the ``gguf`` package: a byte-fallback
  SentencePiece vocabulary (control tokens, 256 byte tokens, printable ASCII), 2 layers, 64 dimensions.
  It answers chat completions with gibberish, through the same code paths as a real model.
* ``ensure_llama_cpp``: llama-cpp-python has no binary wheel on PyPI, so it is compiled once (several
  minutes on 2 cores) into a wheel cache outside the repo (``~/.cache/gemfiles-wheels``, or
  ``GEMFILES_WHEEL_CACHE``) and installed from there afterwards:
  ``python -m tests.e2e.llama_server install`` does it ahead of the tests (CI runs it as a step).
* ``CaptureServer``: a loopback HTTP server (uvicorn) that keeps every request body it gets and answers
  like a chat-completions server, to check the bodies we send for images, audio and video (which a
  text-only model cannot take) against the OpenAI API's published request types.
* ``SilentServer``: a socket that accepts connections and never answers (an upstream stuck on a request).
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

LLAMA_CPP_VERSION = "0.3.36"
WHEEL_CACHE = Path(os.environ.get("GEMFILES_WHEEL_CACHE", Path.home() / ".cache" / "gemfiles-wheels"))
# Portable code (no -march=native), no OpenMP runtime, no tests or examples: the shortest build that serves.
CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- llama-cpp-python: build once, install from the cache --------------------------------------------------


def llama_cpp_installed() -> bool:
    probe = "import llama_cpp, llama_cpp.server.app, sse_starlette, starlette_context"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


def cached_wheel() -> Path | None:
    found = sorted(glob.glob(str(WHEEL_CACHE / f"llama_cpp_python-{LLAMA_CPP_VERSION}-*.whl")))
    return Path(found[-1]) if found else None


def ensure_llama_cpp(log: Any = sys.stderr) -> None:
    """Installs ``llama-cpp-python[server]`` into this interpreter: from the wheel cache, built if absent."""
    if llama_cpp_installed():
        return
    pip = [sys.executable, "-m", "pip"]
    if cached_wheel() is None:
        if os.environ.get("GEMFILES_LLAMA_BUILD", "1") == "0":
            raise RuntimeError(f"no llama-cpp-python wheel in {WHEEL_CACHE} and GEMFILES_LLAMA_BUILD=0")
        WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
        print(f"building llama-cpp-python {LLAMA_CPP_VERSION} into {WHEEL_CACHE} (minutes)", file=log)
        env = {**os.environ, "CMAKE_ARGS": CMAKE_ARGS, "CMAKE_BUILD_PARALLEL_LEVEL": str(os.cpu_count() or 2)}
        build = [*pip, "wheel", "--no-deps", "--wheel-dir", str(WHEEL_CACHE)]
        subprocess.run(
            ["nice", "-n", "10", *build, f"llama-cpp-python=={LLAMA_CPP_VERSION}"], env=env, check=True
        )
    wheel = cached_wheel()
    assert wheel is not None, f"no llama-cpp-python wheel in {WHEEL_CACHE} after building"
    # The extra's own dependencies (fastapi, sse-starlette, ...) are ordinary wheels from the index.
    subprocess.run([*pip, "install", "--quiet", f"llama-cpp-python[server] @ {wheel.as_uri()}"], check=True)


# -- A tiny llama in GGUF ------------------------------------------------------------------------------------

N_EMBD, N_HEAD, N_LAYER, N_FF, N_CTX = 64, 4, 2, 128, 4096
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def tiny_vocab() -> tuple[list[str], list[float], list[int]]:
    """SentencePiece-style: <unk> <s> </s>, the 256 byte-fallback tokens, then printable ASCII and ▁."""
    import gguf

    tokens = ["<unk>", "<s>", "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    tokens += [f"<0x{byte:02X}>" for byte in range(256)]
    types += [gguf.TokenType.BYTE] * 256
    pieces = ["\u2581", *(chr(c) for c in range(33, 127))]
    tokens += pieces
    types += [gguf.TokenType.NORMAL] * len(pieces)
    scores = [0.0] * 259 + [-float(i) for i in range(len(pieces))]
    return tokens, scores, [int(t) for t in types]


def write_tiny_gguf(path: Path, seed: int = 0) -> Path:
    import gguf

    tokens, scores, types = tiny_vocab()
    vocab = len(tokens)
    rng = np.random.default_rng(seed)

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("gemfiles-tiny-random")
    writer.add_context_length(N_CTX)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_vocab_size(vocab)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)
    # numpy shapes are (rows, columns) = (out, in); gguf stores them reversed, as llama.cpp expects.
    writer.add_tensor("token_embd.weight", weight(vocab, N_EMBD))
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    writer.add_tensor("output.weight", weight(vocab, N_EMBD))
    for layer in range(N_LAYER):
        prefix = f"blk.{layer}."
        writer.add_tensor(prefix + "attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(prefix + name + ".weight", weight(N_EMBD, N_EMBD))
        writer.add_tensor(prefix + "ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(prefix + "ffn_gate.weight", weight(N_FF, N_EMBD))
        writer.add_tensor(prefix + "ffn_up.weight", weight(N_FF, N_EMBD))
        writer.add_tensor(prefix + "ffn_down.weight", weight(N_EMBD, N_FF))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# -- Server processes ------------------------------------------------------------------------------


class Process:
    """A server child process with its log in a file, killed with its whole process group."""

    def __init__(self, command: list[str], log_path: Path, port: int) -> None:
        self.command = command
        self.log_path = log_path
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def spawn(self, ready_path: str, timeout: float) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.command[2]} exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + ready_path, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.command[2]} did not become ready:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL, as when the upstream crashes."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class LlamaServer(Process):
    """``python -m llama_cpp.server`` on a GGUF model, on loopback; serves ``/v1/chat/completions``."""

    def __init__(self, model: Path, log_path: Path, alias: str = "tiny", port: int | None = None) -> None:
        port = port or free_port()
        command = [
            sys.executable, "-m", "llama_cpp.server",
            "--model", str(model), "--model_alias", alias,
            "--host", "127.0.0.1", "--port", str(port),
            "--n_ctx", str(N_CTX), "--n_threads", "1", "--n_batch", "512",
        ]  # fmt: skip
        super().__init__(command, log_path, port)
        self.alias = alias

    def start(self, timeout: float = 120.0) -> LlamaServer:
        self.spawn("/v1/models", timeout)
        return self


# -- A capturing chat-completions server ------------------------------------------------------------


class CaptureServer:
    """Keeps each request body (on disk: a body with a 10-minute video is tens of MB) and answers in SSE."""

    def __init__(self, directory: Path, reply_text: str = "captured") -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.reply_text = reply_text
        self.port = free_port()
        self.count = 0
        self.headers: list[dict[str, str]] = []
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def body(self, index: int = -1) -> dict[str, Any]:
        number = self.count + index if index < 0 else index
        with open(self.directory / f"{number}.json", "rb") as src:
            return json.load(src)  # type: ignore[no-any-return]

    def body_size(self, index: int = -1) -> int:
        number = self.count + index if index < 0 else index
        return (self.directory / f"{number}.json").stat().st_size

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        number = self.count
        self.count += 1
        self.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        with open(self.directory / f"{number}.json", "wb") as out:  # noqa: ASYNC230 - a test server, loopback
            while True:
                message = await receive()
                out.write(message.get("body", b""))
                if not message.get("more_body"):
                    break
        chunks = [
            {"id": "c", "object": "chat.completion.chunk", "model": "captured",
             "choices": [{"index": 0, "delta": {"role": "assistant", "content": self.reply_text},
                          "finish_reason": None}]},
            {"id": "c", "object": "chat.completion.chunk", "model": "captured",
             "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {"id": "c", "object": "chat.completion.chunk", "model": "captured", "choices": [],
             "usage": {"prompt_tokens": 1234, "completion_tokens": 2, "total_tokens": 1236}},
        ]  # fmt: skip
        payload = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})  # fmt: skip
        await send({"type": "http.response.body", "body": payload.encode()})

    def start(self) -> CaptureServer:
        import uvicorn

        config = uvicorn.Config(
            self._app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            interface="asgi3",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("capture server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)


class SilentServer:
    """Accepts TCP connections (the kernel's backlog does) and never reads or answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        self.sock.close()


def closed_port_url() -> str:
    """A loopback port with nothing listening: connections are refused."""
    return f"http://127.0.0.1:{free_port()}/v1"


async def _main(argv: list[str]) -> int:
    if argv[:1] == ["install"]:
        started = time.monotonic()
        ensure_llama_cpp()
        print(f"llama-cpp-python[server] ready ({time.monotonic() - started:.0f} s)")
        return 0
    if argv[:1] == ["model"] and len(argv) == 2:
        print(write_tiny_gguf(Path(argv[1])))
        return 0
    print("usage: python -m tests.e2e.llama_server install | model PATH", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(asyncio.run(_main(sys.argv[1:])))
