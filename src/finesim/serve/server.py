"""Running the app under uvicorn: in the foreground (``finesim serve``) or on a background
thread (tests and ``finesim bench serve``), on a socket bound before uvicorn starts so port 0
(any free port) works and the URL is known at once."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from finesim._util.errors import FinesimError


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; a one-line error when it is taken.

    The protocol is named (``IPPROTO_TCP``), and ``TCP_NODELAY`` set, which the accepted
    connections inherit: asyncio turns Nagle's algorithm off only for sockets whose ``proto``
    says TCP, and with it on every response (headers, then body, two writes) waited ~40 ms
    for the client's delayed ACK (measured: /healthz 44 ms a request, /v1/embeddings capped
    near 130 requests/s with 8 clients)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise FinesimError(
            f"cannot listen on {host}:{port} ({e.strerror}); try another --port"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _server(app: Any, log_level: str) -> uvicorn.Server:
    config = uvicorn.Config(app, log_level=log_level, access_log=False, timeout_keep_alive=30)
    return uvicorn.Server(config)


def serve_forever(app: Any, sock: socket.socket, log_level: str = "info") -> None:
    """Serve until Ctrl-C (uvicorn handles the signals on the main thread)."""
    _server(app, log_level).run(sockets=[sock])


class LiveServer:
    """``with LiveServer(app) as url:`` serves ``app`` on a free local port on a thread."""

    def __init__(
        self, app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
    ) -> None:
        self.sock = bind(host, port)
        self.url = url_of(self.sock)
        self.server = _server(app, log_level)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self.url

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()
