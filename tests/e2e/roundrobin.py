"""A small HTTP load balancer for the tests: each request goes to the next replica, round robin.

    python -m tests.e2e.roundrobin --port 8000 http://127.0.0.1:8001 http://127.0.0.1:8002

Balancing is per request, not per connection, so a client's keep-alive connection still alternates between
the replicas. Request and response bodies stream through in both directions (20 MB uploads, SSE), and the
Host header is forwarded as nginx's `proxy_set_header Host $host` would, so the replicas hand out URLs on the
proxy's origin. Every response names the replica that served it in ``x-upstream-replica`` (its index).

Emulator controls change one process's state, so POST /_internal/clock and POST /_internal/sweep go to every
replica: the clock answer is the first replica's, the sweep answer sums what each replica deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn

REPLICA_HEADER = "x-upstream-replica"
FAN_OUT = {"/_internal/clock", "/_internal/sweep"}
# Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection; `expect` is answered by this proxy itself.
HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
    b"expect",
}

Scope = dict[str, Any]
Receive = Any
Send = Any


class RoundRobin:
    """The ASGI app: forwards each request to ``upstreams[n % len(upstreams)]`` for the n-th request."""

    def __init__(self, upstreams: list[str]) -> None:
        self.upstreams = upstreams
        self.turn = itertools.count()
        # No read timeout: SSE streams and model calls may be quiet for a while.
        timeout = httpx.Timeout(None, connect=10.0)
        self.client = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_keepalive_connections=50))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        assert scope["type"] == "http"
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in HOP_BY_HOP]
        target = scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        if scope["method"] == "POST" and scope["path"] in FAN_OUT:
            await self.fan_out(scope["path"], target, headers, receive, send)
            return
        index = next(self.turn) % len(self.upstreams)
        has_body = any(k.lower() in (b"content-length", b"transfer-encoding") for k, _ in scope["headers"])
        body = body_of(receive) if has_body else None
        request = self.client.build_request(
            scope["method"], self.upstreams[index] + target, headers=headers, content=body
        )
        try:
            reply = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            await respond(send, 502, [], f"replica {index} unreachable: {exc!r}".encode(), index)
            return
        try:
            await send(
                {"type": "http.response.start", "status": reply.status_code, "headers": out(reply, index)}
            )
            async for chunk in reply.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await reply.aclose()

    async def fan_out(self, path: str, target: str, headers: list[Any], receive: Receive, send: Send) -> None:
        body = b"".join([chunk async for chunk in body_of(receive)])
        try:
            replies = await asyncio.gather(
                *(
                    self.client.request("POST", base + target, headers=headers, content=body)
                    for base in self.upstreams
                )
            )
        except httpx.HTTPError as exc:
            await respond(send, 502, [], f"a replica is unreachable: {exc!r}".encode(), 0)
            return
        for index, reply in enumerate(replies):
            if reply.status_code != 200:
                await respond(send, reply.status_code, out(reply, index), reply.content, index)
                return
        content = replies[0].content
        if path == "/_internal/sweep":
            counts = [reply.json() for reply in replies]
            content = json.dumps({name: sum(count[name] for count in counts) for name in counts[0]}).encode()
        await respond(send, 200, out(replies[0], 0), content, 0)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def body_of(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        if message.get("body"):
            yield message["body"]
        if not message.get("more_body", False):
            return


def out(reply: httpx.Response, index: int) -> list[tuple[bytes, bytes]]:
    headers = [(k, v) for k, v in reply.headers.raw if k.lower() not in HOP_BY_HOP]
    return [*headers, (REPLICA_HEADER.encode(), str(index).encode())]


async def respond(send: Send, status: int, headers: list[Any], body: bytes, index: int) -> None:
    headers = [(k, v) for k, v in headers if k.lower() not in (b"content-length", b"content-encoding")]
    headers += [(b"content-length", str(len(body)).encode())]
    if not any(k == REPLICA_HEADER.encode() for k, _ in headers):
        headers.append((REPLICA_HEADER.encode(), str(index).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(description="Round-robin HTTP proxy over gemfiles replicas.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("upstreams", nargs="+", help="replica origins, e.g. http://127.0.0.1:8001")
    args = parser.parse_args()
    app = RoundRobin([url.rstrip("/") for url in args.upstreams])
    # The replicas' own Server and Date headers pass through; uvicorn must not add a second pair.
    uvicorn.run(
        app, host=args.host, port=args.port, log_level="warning", server_header=False, date_header=False
    )


if __name__ == "__main__":
    main()
