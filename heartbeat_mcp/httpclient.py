"""HTTP clients for the heartbeat's outbound calls (API probes, webhooks, the remote MCP ping) that do not hold up
the event loop.

A new httpx client loads the CA bundle into a TLS context of its own: 20 to
60 ms of CPU or more, in the thread that makes the client, and these clients
are made on the event loop, where every voice answer then waits behind it.
The context is built once per HTTP library, in a worker thread, and shared:
one SSLContext serves any number of clients. The MCP SDK's transport runs on
httpx2, a library of its own with its own default trust, hence a context for
each.
"""

from __future__ import annotations

import functools
import ssl
from types import ModuleType

import anyio
import httpx
import httpx2


@functools.cache
def _tls_context(library: ModuleType) -> ssl.SSLContext:
    return library.create_ssl_context()


async def _shared_tls_context(library: ModuleType) -> ssl.SSLContext:
    return await anyio.to_thread.run_sync(_tls_context, library)


async def http_client(timeout: float) -> httpx.AsyncClient:
    """`httpx.AsyncClient(timeout=timeout)`, on the shared TLS context."""
    return httpx.AsyncClient(timeout=timeout, verify=await _shared_tls_context(httpx))


async def mcp_http_client(timeout: float) -> httpx2.AsyncClient:
    """An httpx2 client for the MCP client's streamable-HTTP transport, on the shared TLS context.

    Left to itself the transport makes its client, and that client's TLS
    context, on the event loop at every connection.
    """
    return httpx2.AsyncClient(timeout=timeout, verify=await _shared_tls_context(httpx2))
