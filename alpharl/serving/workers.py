"""Several uvicorn worker processes on one listening socket that keeps ``TCP_NODELAY``.

uvicorn's multi-process mode (``--workers N``, and the gunicorn worker) binds the listening
socket itself with ``socket.socket(family)``, leaving its protocol at 0. Accepted
connections inherit that, and asyncio (and uvloop) only switch Nagle's algorithm off
(``TCP_NODELAY``) on sockets that report ``IPPROTO_TCP``. So each response on a
keep-alive connection after the first waits for the client's delayed ACK, about 40 ms on
Linux (uvicorn issue #3149). `serve_workers` binds through uvicorn as usual, then rewraps
the same file descriptor as an ``IPPROTO_TCP`` socket before handing it to uvicorn's
supervisor, so the workers' connections get ``TCP_NODELAY`` like the one-worker path.
``experiments/perf/bench_serve_shared.py`` measures both.
"""

from __future__ import annotations

import socket

import uvicorn


def tcp_listener(config: uvicorn.Config) -> socket.socket:
    """``config.bind_socket()``, rewrapped so it (and what it accepts) reports IPPROTO_TCP."""
    sock = config.bind_socket()
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.proto == socket.IPPROTO_TCP:
        return sock
    tcp = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
    tcp.set_inheritable(True)
    return tcp


def serve_workers(config: uvicorn.Config) -> None:
    """Run ``config.workers`` uvicorn workers on a `tcp_listener` until interrupted."""
    from uvicorn.supervisors import Multiprocess

    sock = tcp_listener(config)
    try:
        Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
