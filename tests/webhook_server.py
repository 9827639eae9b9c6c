"""A real HTTP server on loopback that plays a webhook receiver: healthy, failing, or hanging."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookServer:
    """Records what arrives; answers 500 for the first `fail_first` requests, and sleeps `hang` seconds first."""

    def __init__(self, fail_first: int = 0, hang: float = 0.0) -> None:
        self.fail_first = fail_first
        self.hang = hang
        self.requests: list[tuple[str, dict[str, Any], int]] = []  # (Idempotency-Key, body, status answered)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if server.hang:
                    time.sleep(server.hang)
                with server._lock:
                    status = 500 if len(server.requests) < server.fail_first else 204
                    server.requests.append((self.headers.get("Idempotency-Key", ""), body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}/hook?token=s3cret-in-url"
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    @property
    def received(self) -> list[str]:
        """Idempotency keys of the requests that were answered with success."""
        with self._lock:
            return [key for key, _, status in self.requests if status < 300]

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [body for _, body, status in self.requests if status < 300]

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()
