"""Run the serving app in a real uvicorn subprocess on 127.0.0.1 (integration tests)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``python -m alpharl.serving`` with ``ALPHARL_SERVE_*`` settings, output to a file.

    Args:
        settings: Settings as ``{field: value}`` (turned into environment variables).
        log_path: Where the server's stdout and stderr go.
    """

    def __init__(self, settings: dict[str, object], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALPHARL_SERVE_")}
        env |= {f"ALPHARL_SERVE_{k.upper()}": str(v) for k, v in settings.items()}
        env |= {"ALPHARL_SERVE_PORT": str(self.port), "ALPHARL_SERVE_HOST": "127.0.0.1"}
        env.setdefault("OMP_NUM_THREADS", "1")
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "alpharl.serving"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll ``/readyz`` until it answers 200; raise with the server's log otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"server not ready after {timeout} s:\n{self.output()}")

    def output(self) -> str:
        """What the server has printed so far (it writes the file directly)."""
        return self.log_path.read_text(errors="replace")

    def kill9(self) -> None:
        """``kill -9`` the server (no shutdown code runs)."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        """Stop the server gracefully (SIGTERM), or kill it if it does not stop."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
