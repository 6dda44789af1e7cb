"""A real local MLflow store (SQLite + artifact folder) shared by the tracking tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from alpharl.tracking.store import TrackingStore, artifact_root_for, tracking_uri_for


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> TrackingStore:
    """One SQLite store for the session: creating its schema takes a few seconds."""
    runs_dir: Path = tmp_path_factory.mktemp("runs")
    return TrackingStore(tracking_uri_for(runs_dir), artifact_root_for(runs_dir), "default")


@pytest.fixture(scope="session")
def tracker(mlflow_store: TrackingStore):  # type: ignore[no-untyped-def]
    from alpharl.tracking.runs import Tracker

    return Tracker(mlflow_store, flush_every=10)


@pytest.fixture(scope="session")
def client(mlflow_store: TrackingStore):  # type: ignore[no-untyped-def]
    import mlflow

    return mlflow.MlflowClient(tracking_uri=mlflow_store.tracking_uri)
