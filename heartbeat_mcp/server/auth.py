"""Who may talk to the HTTP server.

On loopback (the default) the machine's own user is trusted, as the SDK's
DNS-rebinding protection assumes. Any other bind address reaches other
machines, so it needs HEARTBEAT_HTTP_TOKEN, and then every request must carry
`Authorization: Bearer <token>` — compared in constant time and never logged —
except a bare liveness `GET /health`. A configured token is enforced on
loopback too: setting one means the operator wants it checked.

The SDK checks Host and Origin on /mcp only; a web page that rebinds its
name to 127.0.0.1 could still read the health routes and /metrics (task
names, findings counts). `SameSiteOnly` applies the same check to every route.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from typing import Any

from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LIVENESS_PATH = "/health"
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


class BindRefused(ValueError):
    """A bind address that would expose the server without a token."""


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: SecretStr | None) -> None:
    if token is None and not is_loopback(host):
        raise BindRefused(
            f"--host {host} accepts connections from other machines: set HEARTBEAT_HTTP_TOKEN (at least 16 "
            "characters) so every request must carry it, or keep the default --host 127.0.0.1."
        )


def transport_security(host: str) -> TransportSecuritySettings:
    """DNS-rebinding protection that admits loopback names and the names this server is bound to."""
    names = {"127.0.0.1", "localhost", "::1"}
    if host in WILDCARD_HOSTS:
        names |= _machine_names()
    else:
        names.add(host.strip("[]"))
    shown = sorted(f"[{n}]" if ":" in n else n for n in names)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[h for n in shown for h in (n, f"{n}:*")],
        allowed_origins=[o for n in shown for scheme in ("http", "https") for o in (f"{scheme}://{n}", f"{scheme}://{n}:*")],
    )


def _machine_names() -> set[str]:
    hostname = socket.gethostname()
    names = {hostname, socket.getfqdn()}
    try:
        names |= {info[4][0] for info in socket.getaddrinfo(hostname, None)}
    except OSError:
        pass
    return {n for n in names if n}


class SameSiteOnly:
    """Refuse any HTTP request whose Host or Origin is not this server's (421 or 403), whatever the route."""

    def __init__(self, app: ASGIApp, security: TransportSecuritySettings) -> None:
        self.app = app
        self._check = TransportSecurityMiddleware(security)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = await self._check.validate_request(Request(scope))
            if refused is not None:
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BearerTokenMiddleware:
    """Require the bearer token on every HTTP request but a bare liveness probe."""

    def __init__(self, app: ASGIApp, token: SecretStr) -> None:
        self.app = app
        self._token = token.get_secret_value().encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        ok = self._carries_token(scope["headers"])
        scope.setdefault("state", {})["authenticated"] = ok
        if ok or (scope["path"] == LIVENESS_PATH and scope["method"] in ("GET", "HEAD")):
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            {"error": "unauthorized", "error_description": "send Authorization: Bearer <HEARTBEAT_HTTP_TOKEN>"},
            status_code=401, headers={"WWW-Authenticate": 'Bearer realm="heartbeat-mcp"'},
        )
        await response(scope, receive, send)

    def _carries_token(self, headers: list[tuple[bytes, bytes]]) -> bool:
        given = [v for k, v in headers if k == b"authorization"]
        if len(given) != 1:
            return False
        scheme, _, credential = given[0].strip().partition(b" ")
        # compare_digest on equal-type bytes takes the same time wherever the first difference is.
        return scheme.lower() == b"bearer" and hmac.compare_digest(credential.strip(), self._token)


def is_authenticated(request: Request) -> bool:
    """False only for a request the token middleware let through unauthenticated (the liveness probe)."""
    state: Any = request.scope.get("state") or {}
    return bool(state.get("authenticated", True))
