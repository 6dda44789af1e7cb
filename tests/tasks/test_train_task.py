"""`alpharl train` and `alpharl compare` on a small synthetic stream, read back from MLflow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest

from alpharl.tasks.train import train
from alpharl.tracking.query import mean_ci, metric_history, runs_frame


def _client(tmp_path: Path) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")


def test_train_logs_config_metrics_plots_manifest_agent_and_policy(compose_task, tmp_path) -> None:
    cfg = compose_task("train", ["agent=linucb", "steps=600", "env.horizon=200", "seed=3"])
    metrics, result = train(cfg)
    assert metrics.steps == 600
    assert 0.0 <= metrics.ctr <= 1.0
    assert metrics.myopic_regret >= 0.0
    client = _client(tmp_path)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["agent._target_"] == "agents.bandits.LinUCB"
    assert run.data.params["seed"] == "3"
    assert run.data.tags["alpharl.seed"] == "3"
    for key in (
        "reward", "ctr", "spend", "myopic_regret", "cumulative_myopic_regret",
        "final_mean_reward",
    ):  # fmt: skip
        assert key in run.data.metrics, key
    history = client.get_metric_history(result.run_id, "cumulative_myopic_regret")
    assert len(history) == 600 // cfg.tracking.log_every
    assert np.all(np.diff([m.value for m in history]) >= -1e-9)  # cumulative
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"config.yaml", "data", "agent", "plots"} <= artifacts, artifacts
    plots = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert any(p.endswith(".png") for p in plots), plots
    manifest = mlflow.artifacts.load_dict(
        f"{run.info.artifact_uri}/data/enriched_stream_manifest.json"
    )
    assert manifest["n_posts"] == 1500
    assert "vader" in manifest["enricher_versions"]
    assert result.model_version is not None
    version = client.get_model_version("alpharl-policy", result.model_version)
    assert version.run_id == result.run_id


def test_the_same_seed_twice_gives_identical_metrics(compose_task, tmp_path) -> None:
    runs = []
    for _ in range(2):
        cfg = compose_task("train", ["agent=thompson", "steps=400", "env.horizon=100", "seed=7"])
        metrics, result = train(cfg)
        runs.append((metrics, result.run_id))
    (a, run_a), (b, run_b) = runs
    assert {k: v for k, v in a.as_dict().items() if k != "steps_per_s"} == {
        k: v for k, v in b.as_dict().items() if k != "steps_per_s"
    }
    hist = metric_history([run_a, run_b], "reward", runs_dir=str(tmp_path / "runs"))
    left, right = (g["value"].to_numpy() for _, g in hist.groupby("run_id"))
    np.testing.assert_array_equal(left, right)


def test_a_crashing_run_is_failed_with_what_it_logged(compose_task, tmp_path) -> None:
    cfg = compose_task("train", ["env.budget=0.001", "steps=100"])  # below the cheapest creative
    with pytest.raises(ValueError, match="budget"):
        train(cfg)
    client = _client(tmp_path)
    exp = client.get_experiment_by_name("alpharl")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FAILED"
    assert "config.yaml" in {a.path for a in client.list_artifacts(run.info.run_id)}


def test_mean_ci_matches_the_t_interval() -> None:
    import pandas as pd

    frame = pd.DataFrame({"g": ["a"] * 4 + ["b"], "v": [1.0, 2.0, 3.0, 4.0, 5.0]})
    out = mean_ci(frame, ["g"], "v").set_index("g")
    half = 3.182446305284263 * np.std([1, 2, 3, 4], ddof=1) / 2  # t(0.975, 3)
    assert out.loc["a", "mean"] == 2.5
    assert out.loc["a", "high"] - 2.5 == pytest.approx(half)
    assert out.loc["b", "low"] == out.loc["b", "high"] == 5.0
    with pytest.raises(KeyError, match="w"):
        mean_ci(frame, ["g"], "w")


@pytest.fixture
def cli(tmp_path: Path, cache_dir: Path, small_stream: list[str]) -> Any:
    """``cli(*args)``: run ``alpharl`` in a subprocess on the small stream under tmp_path."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [
            sys.executable, "-m", "alpharl.cli", *args,
            f"paths.root_dir={tmp_path}", f"paths.cache_dir={cache_dir}", *small_stream,
        ]  # fmt: skip
        return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)

    return run


@pytest.mark.integration
def test_cli_multirun_with_the_basic_launcher_nests_jobs_under_one_parent(tmp_path, cli) -> None:
    done = cli(
        "train", "--multirun", "agent=random,epsilon_greedy",
        "steps=200", "env.horizon=100", "tracking.experiment=sweep",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    frame = runs_frame("sweep", runs_dir=str(tmp_path / "runs"))
    assert len(frame) == 2
    assert frame["parent_run_id"].nunique() == 1


@pytest.mark.integration
def test_cli_optuna_sweep_runs_trials_as_child_runs(tmp_path, cli) -> None:
    done = cli(
        "train", "--multirun", "hparams_search=linucb_optuna",
        "hydra.sweeper.n_trials=2", "steps=200", "env.horizon=100",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    frame = runs_frame("linucb_optuna", runs_dir=str(tmp_path / "runs"))
    assert len(frame) == 2
    assert frame["params.agent.alpha"].nunique() == 2


@pytest.mark.integration
def test_cli_unknown_key_exits_non_zero_naming_it(cli) -> None:
    done = cli("train", "+env.budgt=3", "steps=10")
    assert done.returncode != 0
    assert "env.budgt" in done.stderr
