"""A tiny HTTP server on 127.0.0.1 speaking the chat-completions protocol, for tests.

It answers ``POST /v1/chat/completions`` from a script of replies (one per request, in
order): a recorded-style completion whose message content is given, an HTTP error, or a
delay longer than the client's timeout. Every request's headers and JSON body are kept,
so tests can check what the real OpenAI client sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted reply.

    Args:
        content: The assistant message's content (JSON text for structured output).
        status: HTTP status; not 200 sends an OpenAI-style error body.
        delay_s: Seconds to wait before answering (longer than the timeout = a timeout).
        finish_reason: The choice's finish reason.
        refusal: The message's refusal text, if any.
    """

    content: str | None = None
    status: int = 200
    delay_s: float = 0.0
    finish_reason: str = "stop"
    refusal: str | None = None


def completion(reply: Reply, model: str, n: int) -> dict[str, Any]:
    """A chat.completion body shaped like OpenAI's recorded answers."""
    return {
        "id": f"chatcmpl-test{n:04d}",
        "object": "chat.completion",
        "created": 1_730_000_000 + n,
        "model": model,
        "system_fingerprint": "fp_test",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": reply.content,
                    "refusal": reply.refusal,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": {"prompt_tokens": 120, "completion_tokens": 60, "total_tokens": 180},
    }


@dataclass
class ChatServer:
    """The running server: ``base_url``, the reply script and the requests received."""

    base_url: str = ""
    replies: deque[Reply] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next requests."""
        with self.lock:
            self.replies.extend(replies)


def start_chat_server() -> tuple[ChatServer, ThreadingHTTPServer]:
    """Start the server on a free port; stop it with ``httpd.shutdown(); httpd.server_close()``."""
    state = ChatServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            with state.lock:
                n = len(state.requests)
                state.requests.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    }
                )
                reply = state.replies.popleft() if state.replies else None
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}", "type": "x"}})
                return
            if reply is None:
                self._send(500, {"error": {"message": "test script exhausted", "type": "x"}})
                return
            if reply.delay_s:
                time.sleep(reply.delay_s)
            if reply.status != 200:
                self._send(
                    reply.status,
                    {"error": {"message": "scripted error", "type": "invalid_request_error"}},
                )
                return
            self._send(200, completion(reply, body.get("model", "?"), n))

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, name="chat-server", daemon=True).start()
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    return state, httpd
