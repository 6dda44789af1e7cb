"""Resolution of the tracking URI, artifact root and UI command."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from alpharl.tracking.store import (
    TrackingStore,
    artifact_root_for,
    resolve_store,
    tracking_uri_for,
    ui_command,
)


def test_default_store_is_sqlite_under_runs_dir(tmp_path: Path) -> None:
    runs = tmp_path / "my runs"
    store = resolve_store(runs_dir=runs, environ={})
    assert store.source == "default"
    assert store.tracking_uri == f"sqlite:///{(runs / 'mlflow.db').resolve().as_posix()}"
    assert store.tracking_uri == tracking_uri_for(runs)
    assert store.artifact_root == (runs / "mlartifacts").resolve().as_posix()
    assert store.artifact_root == artifact_root_for(runs)
    assert runs.is_dir()


def test_relative_runs_dir_resolves_against_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = resolve_store(environ={})
    assert store.tracking_uri == f"sqlite:///{tmp_path.resolve().as_posix()}/runs/mlflow.db"


def test_environment_wins_over_config_and_default(tmp_path: Path) -> None:
    env = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:5999"}
    store = resolve_store(runs_dir=tmp_path, tracking_uri="sqlite:///x.db", environ=env)
    assert store == TrackingStore("http://127.0.0.1:5999", None, "env")
    assert store.is_server
    assert store.ui_command() is None


def test_config_uri_used_when_environment_is_empty(tmp_path: Path) -> None:
    db = tmp_path / "elsewhere" / "t.db"
    store = resolve_store(tracking_uri=f"sqlite:///{db}", environ={"MLFLOW_TRACKING_URI": " "})
    assert store.source == "config"
    assert store.artifact_root == (tmp_path / "elsewhere" / "mlartifacts").as_posix()
    assert db.parent.is_dir()


def test_ui_command_names_backend_and_artifact_root(tmp_path: Path) -> None:
    runs = tmp_path / "r u n s"
    store = resolve_store(runs_dir=runs, environ={})
    command = store.ui_command(port=5123)
    assert command is not None
    argv = shlex.split(command)
    assert argv[:2] == ["mlflow", "ui"]
    assert argv[argv.index("--backend-store-uri") + 1] == store.tracking_uri
    assert argv[argv.index("--default-artifact-root") + 1] == store.artifact_root
    assert argv[argv.index("--port") + 1] == "5123"


def test_ui_command_line_for_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert ui_command(tmp_path).startswith("MLflow UI: mlflow ui --backend-store-uri sqlite:///")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.example:443")
    assert ui_command(tmp_path) == "MLflow UI: open https://mlflow.example:443"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tracking_uri": "", "artifact_root": None, "source": "env"}, "tracking_uri"),
        ({"tracking_uri": "sqlite:///a.db", "artifact_root": None, "source": "cli"}, "source"),
    ],
)
def test_bad_store_names_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        TrackingStore(**kwargs)  # type: ignore[arg-type]
