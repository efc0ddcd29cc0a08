"""Requests an HTTP client will not send (CR/LF in a header, raw bytes, a chunked body), straight to the ASGI app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scripts.store_ops import http_scope


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def header(self, name: str) -> str | None:
        found = [v for k, v in self.headers if k.lower() == name.encode()]
        return found[0].decode("latin-1") if found else None


async def raw_request(
    app: Any,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    chunks: list[bytes] | None = None,
) -> RawResponse:
    """One HTTP request through the app's ASGI interface; the app's lifespan must be running (an open client)."""
    scope = http_scope(method, path, headers, host="testserver.local")
    parts = chunks or [b""]
    messages = [
        {"type": "http.request", "body": chunk, "more_body": index < len(parts) - 1}
        for index, chunk in enumerate(parts)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return RawResponse(status=start["status"], headers=list(start.get("headers", [])), body=body)
