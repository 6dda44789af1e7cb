"""Fixtures of the evaluate/promote/serve tests: a real MLflow store and a logged campaign.

The helpers live in `ope_campaign` (the root conftest owns the ``compose_task`` fixture).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ope_campaign import Campaign, simulate_campaign

from alpharl.tracking.store import TrackingStore, artifact_root_for, tracking_uri_for


@pytest.fixture(scope="session")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    """3,000 logged decisions (about 2,700 with feedback) and two policies to judge."""
    return simulate_campaign(tmp_path_factory.mktemp("campaign") / "decisions.db")


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> TrackingStore:
    """One SQLite MLflow store for the session (creating its schema takes seconds)."""
    runs_dir = tmp_path_factory.mktemp("runs")
    return TrackingStore(tracking_uri_for(runs_dir), artifact_root_for(runs_dir), "default")


@pytest.fixture(scope="session")
def register_policy(
    mlflow_store: TrackingStore, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., str]:
    """Log a policy as a model version of ``name`` (catalog c0..c{K-1}); return the version."""
    from alpharl.tracking.models import log_policy_model
    from alpharl.tracking.runs import Tracker

    tracker = Tracker(mlflow_store)
    folder = tmp_path_factory.mktemp("policies")

    def register(policy: Any, name: str) -> str:
        path = policy.save(folder / uuid.uuid4().hex)
        with tracker.start_run("tasks-test", run_name=name) as run:
            logged = log_policy_model(
                run,
                path,
                registered_model_name=name,
                catalog=[{"id": f"c{i}"} for i in range(policy.n_actions - 1)],
            )
        assert logged.version is not None
        return logged.version

    return register


@pytest.fixture
def task_overrides(mlflow_store: TrackingStore, tmp_path: Path) -> list[str]:
    """Overrides pointing a task at the session's MLflow store and a fresh runs folder."""
    return [f"paths.runs_dir={tmp_path / 'runs'}", f"tracking.uri={mlflow_store.tracking_uri}"]
