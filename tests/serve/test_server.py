"""The listening socket: Nagle's algorithm off on it and on the connections it accepts (with it
on, every response waited ~40 ms for the client's delayed ACK)."""

from __future__ import annotations

import socket

from finesim.serve.server import bind


def test_bound_socket_and_accepted_connections_have_tcp_nodelay() -> None:
    server = bind("127.0.0.1", 0)
    try:
        assert server.proto == socket.IPPROTO_TCP
        assert server.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        client = socket.create_connection(server.getsockname()[:2])
        accepted, _ = server.accept()
        try:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            accepted.close()
            client.close()
    finally:
        server.close()
