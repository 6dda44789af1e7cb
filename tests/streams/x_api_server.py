"""A local HTTP server on 127.0.0.1 that replays recorded X API v2 answers, in a scripted order.

Each request takes the next step of the script: the name of a fixture file in
``fixtures/x_api``, or ``DROP`` to close the connection without answering (what a network
failure looks like to the client). A fixture is an answer ``{"status", "headers", "body"}``
or a stream ``{"status", "headers", "lines", "then"}``: the lines (JSON values, or strings
sent as they are) go out as chunks separated by ``\r\n``, then the server closes the stream
(``"then": "close"``) or holds it open with keep-alive newlines (``"hold"``) until the client
leaves. Every request is recorded (method, path, query parameters, headers, JSON body) so
tests can check what the client sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures" / "x_api"
DROP = "DROP"


def load_fixture(name: str) -> dict[str, Any]:
    """One recorded answer."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


@dataclass
class Recorded:
    """A request the server received."""

    path: str
    params: dict[str, str]
    headers: dict[str, str]
    method: str = "GET"
    body: Any = None


@dataclass
class XApiServer:
    """The running server: its base URL, the remaining script and the requests seen."""

    url: str
    script: list[str]
    requests: list[Recorded] = field(default_factory=list)


@contextmanager
def x_api_server(script: Sequence[str]) -> Iterator[XApiServer]:
    """Serve ``script`` on a free 127.0.0.1 port; stop the server on exit."""
    state = XApiServer(url="", script=list(script))
    lock = threading.Lock()
    stopping = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._answer("GET", None)

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            self._answer("POST", json.loads(self.rfile.read(length)) if length else None)

        def _answer(self, method: str, body: Any) -> None:
            parts = urlsplit(self.path)
            with lock:
                state.requests.append(
                    Recorded(
                        parts.path,
                        {k: v[0] for k, v in parse_qs(parts.query).items()},
                        dict(self.headers.items()),
                        method,
                        body,
                    )
                )
                step = state.script.pop(0) if state.script else None
            if step is None:
                self.send_error(500, "script exhausted")
                return
            if step == DROP:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            answer = load_fixture(step)
            if "lines" in answer:
                self._stream(answer)
                return
            payload = json.dumps(answer["body"]).encode()
            self.send_response(answer["status"])
            for key, value in answer["headers"].items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _stream(self, answer: dict[str, Any]) -> None:
            self.send_response(answer["status"])
            for key, value in answer["headers"].items():
                self.send_header(key, value)
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for line in answer["lines"]:
                text = line if isinstance(line, str) else json.dumps(line)
                self._chunk(text.encode() + b"\r\n")
            if answer.get("then") == "hold":
                deadline = time.monotonic() + 30
                try:
                    while time.monotonic() < deadline and not stopping.is_set():
                        time.sleep(0.05)
                        self._chunk(b"\r\n")  # keep-alive
                except OSError:
                    return  # the client went away
            self.wfile.write(b"0\r\n\r\n")
            self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
