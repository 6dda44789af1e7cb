"""Where runs are tracked: the MLflow tracking URI, the artifact root and the UI command.

Resolution order: the ``MLFLOW_TRACKING_URI`` environment variable wins (a team's
``mlflow server`` backed by PostgreSQL, say); otherwise an explicit ``tracking_uri``
(from config); otherwise the embedded default, a SQLite database and an artifact folder
under the runs directory (``paths.runs_dir``, ``./runs`` by default)::

    runs/mlflow.db       sqlite:///<abs runs_dir>/mlflow.db
    runs/mlartifacts/    artifact root of every experiment AlphaRL creates

A SQLite URI given by the environment or config gets its artifact root beside the
database file, so a local store never scatters ``./mlruns`` folders into the working
directory. A tracking server decides its own artifact root.

This module does not import MLflow, so the CLI can print the UI command cheaply.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"
DEFAULT_RUNS_DIR = "runs"
DB_FILE = "mlflow.db"
ARTIFACT_DIR = "mlartifacts"


def tracking_uri_for(runs_dir: str | os.PathLike[str] = DEFAULT_RUNS_DIR) -> str:
    """The embedded default tracking URI for a runs directory: ``sqlite:///<abs>/mlflow.db``.

    Args:
        runs_dir: The runs directory (``paths.runs_dir``); relative paths resolve against
            the current working directory.
    """
    return f"sqlite:///{(Path(runs_dir).resolve() / DB_FILE).as_posix()}"


def artifact_root_for(runs_dir: str | os.PathLike[str] = DEFAULT_RUNS_DIR) -> str:
    """The embedded default artifact root for a runs directory: ``<abs runs_dir>/mlartifacts``.

    Args:
        runs_dir: The runs directory (``paths.runs_dir``).
    """
    return (Path(runs_dir).resolve() / ARTIFACT_DIR).as_posix()


def _sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, or None for any other URI."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix):
        return None
    rest = uri[len(prefix) :].split("?", 1)[0]
    if not rest or rest == ":memory:":
        return None
    return Path(rest)


@dataclass(frozen=True)
class TrackingStore:
    """A resolved tracking location.

    Args:
        tracking_uri: What `mlflow.MlflowClient` is given (``sqlite:///...``,
            ``http://host:port``, ``postgresql://...``).
        artifact_root: Artifact location for experiments AlphaRL creates, or None to let
            the tracking server choose.
        source: Where the URI came from: ``env``, ``config`` or ``default``.
    """

    tracking_uri: str
    artifact_root: str | None
    source: str

    def __post_init__(self) -> None:
        if not isinstance(self.tracking_uri, str) or not self.tracking_uri.strip():
            raise ValueError(
                f"tracking_uri: must be a non-empty string (got {self.tracking_uri!r})"
            )
        if self.source not in ("env", "config", "default"):
            raise ValueError(f"source: must be env, config or default (got {self.source!r})")

    @property
    def is_server(self) -> bool:
        """True when the URI names a tracking server (HTTP), not a database or folder."""
        return self.tracking_uri.startswith(("http://", "https://"))

    def ui_command(self, host: str = "127.0.0.1", port: int = 5000) -> str | None:
        """The shell command that opens the MLflow UI on this store, or None for a server.

        For a tracking server there is nothing to start: open ``tracking_uri`` in a browser.

        Args:
            host: Interface the UI listens on.
            port: Port the UI listens on.
        """
        if self.is_server:
            return None
        parts = ["mlflow", "ui", "--backend-store-uri", self.tracking_uri]
        if self.artifact_root is not None:
            parts += ["--default-artifact-root", self.artifact_root]
        parts += ["--host", host, "--port", str(port)]
        return shlex.join(parts)


def resolve_store(
    runs_dir: str | os.PathLike[str] | None = None,
    tracking_uri: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> TrackingStore:
    """Resolve where to track: ``$MLFLOW_TRACKING_URI``, then ``tracking_uri``, then the default.

    Args:
        runs_dir: The runs directory (``paths.runs_dir``); ``./runs`` when None. Used for
            the embedded default only.
        tracking_uri: A configured URI (``tracking.uri``); None or empty for the default.
        environ: The environment to read (``os.environ`` when None); tests pass their own.
    """
    env = os.environ if environ is None else environ
    chosen, source = env.get(ENV_TRACKING_URI, "").strip(), "env"
    if not chosen:
        chosen, source = (tracking_uri or "").strip(), "config"
    if not chosen:
        rd = DEFAULT_RUNS_DIR if runs_dir is None else runs_dir
        Path(rd).mkdir(parents=True, exist_ok=True)
        return TrackingStore(tracking_uri_for(rd), artifact_root_for(rd), "default")
    db = _sqlite_path(chosen)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
        return TrackingStore(chosen, (db.parent.resolve() / ARTIFACT_DIR).as_posix(), source)
    # A server, another database or a legacy file store decides its own artifact root.
    return TrackingStore(chosen, None, source)


def ui_command(
    runs_dir: str | os.PathLike[str] | None = None,
    tracking_uri: str | None = None,
    port: int = 5000,
) -> str:
    """A line for the CLI to print: the command that opens the UI, or the server's URL.

    Args:
        runs_dir: The runs directory (``paths.runs_dir``).
        tracking_uri: A configured URI, as for `resolve_store`.
        port: Port for a locally started UI.
    """
    store = resolve_store(runs_dir, tracking_uri)
    command = store.ui_command(port=port)
    if command is None:
        return f"MLflow UI: open {store.tracking_uri}"
    return f"MLflow UI: {command}"
