"""The multi-worker listener keeps TCP_NODELAY on accepted connections (uvicorn #3149)."""

from __future__ import annotations

import asyncio
import pickle
import socket
from multiprocessing.reduction import ForkingPickler

import uvicorn
from local_servers import free_port

from alpharl.serving.workers import tcp_listener


def _nodelay_of_accepted(sock: socket.socket) -> tuple[int, int]:
    """(proto, TCP_NODELAY) of a connection accepted by asyncio on ``sock``."""
    seen: list[tuple[int, int]] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            s = transport.get_extra_info("socket")
            seen.append((s.proto, s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)))
            transport.close()

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        port = sock.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()

    asyncio.run(main())
    return seen[0]


def test_worker_listener_accepts_with_tcp_nodelay() -> None:
    config = uvicorn.Config("alpharl.serving.app:create_app_from_env", host="127.0.0.1",
                            port=free_port(), workers=2)  # fmt: skip
    sock = tcp_listener(config)
    assert sock.proto == socket.IPPROTO_TCP
    assert sock.get_inheritable()
    # uvicorn's supervisor hands the socket to spawned workers by pickling it.
    moved = pickle.loads(ForkingPickler.dumps(sock))
    assert moved.proto == socket.IPPROTO_TCP
    moved.close()
    assert _nodelay_of_accepted(sock) == (socket.IPPROTO_TCP, 1)
