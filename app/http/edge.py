"""Protocol edges answered before routing: HEAD like GET, oversized headers, a body that never finishes.

What granian answers by itself, before the app sees a request (a head over its buffer, a NUL in a header,
a head that does not arrive within HTTP_HEADER_TIMEOUT_SECONDS), is documented in docs/api-conventions.md.
"""

from __future__ import annotations

import asyncio
from typing import Any

from app.core.errors import AppError, HeadersTooLarge, RequestTimeout
from app.http.observability import ASGIApp
from app.http.problems import problem_bytes

# Far above what a browser or an SPA sends (cookies included), far below granian's own buffer (~408 KiB).
MAX_HEADER_BYTES = 16 * 1024


def header_bytes(scope: dict[str, Any]) -> int:
    return sum(len(name) + len(value) for name, value in scope["headers"])


async def send_problem(send: Any, error: AppError) -> None:
    body = problem_bytes(error)
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def guarded(app: ASGIApp, body_timeout: float) -> ASGIApp:
    """`app` behind the protocol edges; runs inside the observability edge (request id, log, metrics)."""

    async def guard(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if header_bytes(scope) > MAX_HEADER_BYTES:
            await send_problem(send, HeadersTooLarge(f"Request headers exceed {MAX_HEADER_BYTES} bytes"))
            return
        if scope["method"] == "HEAD":  # answered like GET, headers only (RFC 9110 §9.3.2)
            scope, send = {**scope, "method": "GET"}, _without_body(send)
        await app(scope, _with_body_deadline(receive, body_timeout), send)

    return guard


def _without_body(send: Any) -> Any:
    async def send_head(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_head


def _with_body_deadline(receive: Any, timeout: float) -> Any:
    """The whole body must arrive within `timeout` of the first read: a body trickling in forever ties
    up no more than that (408 request_timeout). After the body, receive waits as the server says."""
    deadline: float | None = None
    body_done = False

    async def receive_in_time() -> dict[str, Any]:
        nonlocal deadline, body_done
        if body_done:
            after: dict[str, Any] = await receive()
            return after
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = loop.time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                message: dict[str, Any] = await receive()
        except TimeoutError:
            raise RequestTimeout(f"The request body did not arrive within {timeout:g} seconds") from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            body_done = True
        return message

    return receive_in_time
