"""Body limits in a real uvicorn process: a 100 MB upload is refused before it is sent."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from serving_fixtures import API_KEY, make_model_dir
from serving_server import ServerProcess

pytestmark = pytest.mark.integration


def _exchange(port: int, head: bytes, body_parts: list[bytes]) -> bytes:
    """Send a request's head and some of its body on a raw socket; the server's answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        for part in body_parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):  # the server answered and closed
                break
        chunks = []
        while True:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
            if b"\r\n\r\n" in b"".join(chunks) and b"}" in chunks[-1]:
                break
        return b"".join(chunks)


def test_oversized_bodies_are_refused_at_once_and_health_answers(tmp_path: Path) -> None:
    settings = {
        "policy_source": make_model_dir(tmp_path / "v1", seed=1),
        "decision_log_url": f"sqlite:///{tmp_path / 'decisions.db'}",
        "api_key": API_KEY,
        "poll_interval_s": 0,
        "text_enrichment": "false",
        "log_level": "warning",
    }
    server = ServerProcess(settings, tmp_path / "server.log")
    try:
        server.wait_ready()
        # 100 MB announced, 64 KB sent: the answer comes without the rest being sent
        head = (
            b"POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n"
        )
        answer = _exchange(server.port, head, [b"[" * 65536])
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"524288 bytes allowed" in answer
        # chunked, no length: refused once 512 KiB have been read
        head = (
            b"POST /v1/decide HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"10000\r\n" + b"x" * 0x10000 + b"\r\n"
        answer = _exchange(server.port, head, [chunk] * 12)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        # unauthenticated feedback with a huge body: 401, the body never read
        head = (
            b"POST /v1/feedback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 104857600\r\n\r\n"
        )
        assert _exchange(server.port, head, [b"{" * 1024]).startswith(b"HTTP/1.1 401")
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"{server.url}/readyz", timeout=5).status_code == 200
    finally:
        server.stop()
