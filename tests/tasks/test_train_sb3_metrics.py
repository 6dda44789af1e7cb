"""`alpharl train` with an SB3 agent sends SB3's own logs (and DQN's Q-values) to MLflow."""

from __future__ import annotations

from pathlib import Path

import mlflow

from alpharl.tasks.train import train


def test_a_short_dqn_run_logs_sb3_diagnostics_to_mlflow(compose_task, tmp_path: Path) -> None:
    cfg = compose_task(
        "train",
        [
            "agent=dqn",
            "steps=400",
            "env.horizon=50",
            "agent.algo_kwargs.learning_starts=100",
            "agent.algo_kwargs.buffer_size=1000",
            "agent.algo_kwargs.policy_kwargs.net_arch=[16]",
        ],
    )
    metrics, result = train(cfg)
    assert metrics.steps == 400
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    logged = client.get_run(result.run_id).data.metrics
    sb3_keys = {
        "train/loss",
        "train/learning_rate",
        "train/q_mean",
        "train/q_max_mean",
        "rollout/exploration_rate",
    }
    assert sb3_keys <= set(logged), sorted(logged)
    assert logged["train/learning_rate"] == cfg.agent.algo_kwargs.learning_rate
    eps = client.get_metric_history(result.run_id, "rollout/exploration_rate")
    assert len(eps) >= 4  # one dump per episode (log_interval=1): 400 / 50 steps
    assert all(0 < m.step <= 400 for m in eps)
    values = [m.value for m in sorted(eps, key=lambda m: m.step)]
    assert values == sorted(values, reverse=True)  # epsilon decays
    q = client.get_metric_history(result.run_id, "train/q_max_mean")
    assert all(
        m.value >= p.value
        for m, p in zip(q, client.get_metric_history(result.run_id, "train/q_mean"), strict=True)
    )
    assert "reward" in logged  # the task's own step metrics are still there
