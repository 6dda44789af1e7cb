"""A Hydra multirun is one MLflow parent run with the jobs' runs nested under it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from alpharl.tracking.hydra_callbacks import (
    ENV_PARENT_RUN_ID,
    MultirunParentRun,
    parent_run_id_for_job,
    sweep_key,
)
from alpharl.tracking.runs import TAG_MULTIRUN, TAG_PARENT, Tracker
from alpharl.tracking.store import TrackingStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv(ENV_PARENT_RUN_ID, raising=False)


@pytest.mark.usefixtures("clean_env")
@pytest.mark.parametrize("child_fails", [False, True])
def test_callback_creates_and_ends_the_parent(
    mlflow_store: TrackingStore, client: Any, tmp_path: Path, child_fails: bool
) -> None:
    experiment = f"sweep-{uuid.uuid4().hex[:6]}"
    cfg = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path / "multirun")}}})
    callback = MultirunParentRun(experiment, tracking_uri=mlflow_store.tracking_uri)
    callback.on_multirun_start(cfg)
    parent_id = os.environ[ENV_PARENT_RUN_ID]
    tracker = Tracker(mlflow_store)
    assert parent_run_id_for_job(tracker, experiment) == parent_id
    with tracker.start_run(experiment, parent_run_id=parent_id) as child:
        pass
    if child_fails:
        with pytest.raises(RuntimeError), tracker.start_run(experiment, parent_run_id=parent_id):
            raise RuntimeError("job crashed")
    callback.on_multirun_end(cfg)
    parent = client.get_run(parent_id)
    assert parent.info.status == ("FAILED" if child_fails else "FINISHED")
    assert parent.data.tags[TAG_MULTIRUN] == sweep_key(tmp_path / "multirun")
    assert client.get_run(child.run_id).data.tags[TAG_PARENT] == parent_id
    assert ENV_PARENT_RUN_ID not in os.environ


@pytest.mark.usefixtures("clean_env")
def test_no_parent_outside_a_multirun(mlflow_store: TrackingStore) -> None:
    assert parent_run_id_for_job(Tracker(mlflow_store), "x") is None


def test_bad_experiment() -> None:
    with pytest.raises(ValueError, match="experiment"):
        MultirunParentRun("")


APP = """
import hydra
from alpharl.tracking.hydra_callbacks import parent_run_id_for_job
from alpharl.tracking.runs import Tracker
from alpharl.tracking.store import resolve_store


@hydra.main(config_path=".", config_name="config", version_base="1.3")
def main(cfg):
    tracker = Tracker(resolve_store(cfg.runs_dir))
    parent = parent_run_id_for_job(tracker, cfg.experiment)
    with tracker.start_run(cfg.experiment, run_name=f"seed{cfg.seed}", parent_run_id=parent) as run:
        run.log_config({"seed": cfg.seed})
        run.metrics.log({"score": cfg.seed * 1.0}, step=0)


if __name__ == "__main__":
    main()
"""

CONFIG = """
experiment: hydra-multirun
runs_dir: {runs_dir}
seed: 0
hydra:
  sweep:
    dir: {sweep_dir}
  callbacks:
    mlflow_parent:
      _target_: alpharl.tracking.hydra_callbacks.MultirunParentRun
      experiment: ${{experiment}}
      runs_dir: ${{runs_dir}}
"""


@pytest.mark.slow
@pytest.mark.usefixtures("clean_env")
def test_real_hydra_multirun(tmp_path: Path) -> None:
    import mlflow

    runs_dir = tmp_path / "runs"
    (tmp_path / "app.py").write_text(textwrap.dedent(APP))
    (tmp_path / "config.yaml").write_text(
        CONFIG.format(runs_dir=runs_dir, sweep_dir=tmp_path / "multirun")
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "app.py", "--multirun", "seed=1,2,3"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    client = mlflow.MlflowClient(f"sqlite:///{runs_dir.resolve()}/mlflow.db")
    exp = client.get_experiment_by_name("hydra-multirun")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if TAG_MULTIRUN in r.data.tags]
    children = [r for r in runs if TAG_PARENT in r.data.tags]
    assert len(parents) == 1
    assert parents[0].info.status == "FINISHED"
    assert sorted(r.data.params["seed"] for r in children) == ["1", "2", "3"]
    assert {r.data.tags[TAG_PARENT] for r in children} == {parents[0].info.run_id}
