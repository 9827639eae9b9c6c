"""HTTP clients for the heartbeat's outbound calls (API probes, webhooks) that do not hold up the event loop.

A new httpx client loads the CA bundle into a TLS context of its own: 60 ms
of CPU or more, in the thread that makes the client, and these clients are
made on the event loop, where every voice answer then waits behind it. The
context is built once, in a worker thread, and shared: one SSLContext
serves any number of clients.
"""

from __future__ import annotations

import functools
import ssl

import anyio
import httpx


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


async def http_client(timeout: float) -> httpx.AsyncClient:
    """`httpx.AsyncClient(timeout=timeout)`, on the shared TLS context."""
    return httpx.AsyncClient(timeout=timeout, verify=await anyio.to_thread.run_sync(_tls_context))
