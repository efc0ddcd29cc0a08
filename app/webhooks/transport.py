"""The connections of webhook deliveries: httpx over an httpcore pool whose network backend checks addresses.

`GuardedBackend` resolves the host a connection is for (off the event loop), refuses the name when any of its
addresses is not public (url_guard), and connects to the checked addresses in turn until one answers: a DNS
answer that changes between the check and the connection (rebinding) cannot send it elsewhere. The pool is
keyed by the URL's host, not the address, so two names on one address never share a connection, and TLS
(SNI, certificate) is verified against the name. `PoolTransport` puts that pool under an `httpx.AsyncClient`
(httpx's own transport takes no network backend).

With `HTTPS_PROXY`/`HTTP_PROXY` set (and the URL's host not in `NO_PROXY`), the proxy connects: the backend
then only reaches the proxy (the operator's, whatever its address), and the URL's host is checked by the
sender resolving it before each attempt (`Sender.attempt`).
"""

from __future__ import annotations

import contextlib
import ssl
import urllib.request
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from app.webhooks.url_guard import checked_addresses


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the guard allows (all of them with `allow_private`); `trusted` (the proxy's
    host and port) is reached whatever its address."""

    def __init__(self, *, allow_private: bool, trusted: tuple[str, int] | None = None) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private
        self._trusted = trusted

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        allow_private = self._allow_private or (host, port) == self._trusted
        addresses = await checked_addresses(host, port, allow_private=allow_private)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure or httpcore.ConnectError("no address to connect to")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks do not use Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


_CORE_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.ProxyError,
    httpcore.UnsupportedProtocol,
)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    """httpcore's errors as httpx's of the same name (ConnectError, ReadError, RemoteProtocolError...)."""
    try:
        yield
    except _CORE_ERRORS as exc:
        error: type[httpx.TransportError] = getattr(httpx, type(exc).__name__, httpx.TransportError)
        raise error(str(exc)) from exc


class _Body(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:  # httpcore's: async iterable, with aclose
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for chunk in self._stream:
                yield chunk

    async def aclose(self) -> None:
        with _httpx_errors():
            await self._stream.aclose()


class PoolTransport(httpx.AsyncBaseTransport):
    """httpx requests over httpcore pools: `direct`, or a proxy's when the environment names one for the
    URL's scheme (one pool per proxy, each bounded like `direct`)."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        allow_private: bool,
        max_connections: int,
        max_idle: int,
        keepalive: float,
    ) -> None:
        self._proxies = urllib.request.getproxies()  # HTTPS_PROXY, HTTP_PROXY, NO_PROXY (either case)
        options: dict[str, Any] = {
            "ssl_context": ssl_context,
            "max_connections": max_connections,
            "max_keepalive_connections": max_idle,
            "keepalive_expiry": keepalive,
            "http1": True,
            "http2": False,
        }
        self._direct = httpcore.AsyncConnectionPool(
            network_backend=GuardedBackend(allow_private=allow_private),
            **options,
        )
        self._pools: dict[str, httpcore.AsyncConnectionPool | httpcore.AsyncHTTPProxy] = {}
        for scheme in ("http", "https"):
            proxy = self.proxy_for(scheme, "")
            if proxy is None or proxy in self._pools:
                continue
            parts = urlsplit(proxy)
            default_port = 443 if parts.scheme == "https" else 80
            backend = GuardedBackend(
                allow_private=allow_private, trusted=(parts.hostname or "", parts.port or default_port)
            )
            auth = (parts.username, parts.password or "") if parts.username else None
            self._pools[proxy] = httpcore.AsyncHTTPProxy(
                f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}",
                proxy_auth=auth,
                network_backend=backend,
                **options,
            )

    def proxy_for(self, scheme: str, host: str) -> str | None:
        """The proxy a request to `host` goes through, or None (a direct connection)."""
        proxy = self._proxies.get(scheme)
        if not proxy or (host and urllib.request.proxy_bypass(host)):
            return None
        return proxy if "://" in proxy else f"http://{proxy}"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        proxy = self.proxy_for(url.scheme, url.raw_host.decode("ascii"))
        pool = self._direct if proxy is None else self._pools[proxy]
        core_request = httpcore.Request(
            request.method,
            httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions={"timeout": request.extensions.get("timeout", {})},
        )
        with _httpx_errors():
            response = await pool.handle_async_request(core_request)
        return httpx.Response(
            response.status,
            headers=response.headers,
            stream=_Body(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._direct.aclose()
        for pool in self._pools.values():
            await pool.aclose()
