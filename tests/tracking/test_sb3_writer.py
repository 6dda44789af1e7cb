"""SB3's logger records reach MLflow through `MlflowKVWriter`."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from stable_baselines3.common.logger import Figure, HParam, Video

from alpharl.tracking.runs import Tracker
from alpharl.tracking.sb3_writer import MlflowKVWriter, configure_sb3_logger


def test_logger_forwards_scalars_and_skips_the_rest(
    tracker: Tracker, client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    with tracker.start_run("sb3-writer") as run:
        logger = configure_sb3_logger(run.metrics, stdout=True)
        for step in (100, 200):
            logger.record("train/loss", np.float32(step / 100))
            logger.record("rollout/ep_rew_mean", step * 2)
            logger.record("time/fps", torch.tensor(7.5))
            logger.record("train/policy", "MlpPolicy")
            logger.record("train/flag", True, exclude="stdout")
            logger.record("secret", 1.0, exclude="mlflow")
            logger.record(
                "video", Video(torch.zeros(1, 1, 3, 2, 2), fps=1), exclude=("stdout", "log")
            )
            logger.record("hp", HParam({"lr": 1.0}, {"m": 0}), exclude=("stdout", "log"))
            logger.record("fig", Figure(None, close=False), exclude=("stdout", "log"))
            logger.dump(step)
        writer = logger.output_formats[0]
        assert isinstance(writer, MlflowKVWriter)
        assert writer.n_written == 6
        assert writer.n_skipped == 10  # string, bool, video, hparam, figure, twice
    assert "ep_rew_mean" in capsys.readouterr().out  # the stdout table still prints
    metrics = client.get_run(run.run_id).data.metrics
    assert set(metrics) == {"train/loss", "rollout/ep_rew_mean", "time/fps"}
    loss = client.get_metric_history(run.run_id, "train/loss")
    assert [(m.step, m.value) for m in loss] == [(100, 1.0), (200, 2.0)]
    assert [m.value for m in client.get_metric_history(run.run_id, "time/fps")] == [7.5, 7.5]


def test_writer_cleans_bad_keys(tracker: Tracker, client: Any) -> None:
    with tracker.start_run("sb3-writer") as run:
        MlflowKVWriter(run.metrics).write({"a=b": 1.0}, {"a=b": ("",)}, step=3)
    assert client.get_run(run.run_id).data.metrics == {"a_b": 1.0}


def test_sb3_agent_logs_reach_mlflow(tracker: Tracker, client: Any) -> None:
    import gymnasium as gym

    from agents.sb3 import DQNAgent

    agent = DQNAgent(
        "DQN",
        algo_kwargs={"learning_starts": 20, "buffer_size": 500, "train_freq": 4},
        mask_strategy="ignore",
    )
    with tracker.start_run("sb3-writer", run_name="dqn-cartpole") as run:
        agent.set_metrics_writer(run.metrics)
        agent.learn(gym.make("CartPole-v1"), 200)
    metrics = client.get_run(run.run_id).data.metrics
    assert {"train/loss", "rollout/exploration_rate", "time/fps"} <= set(metrics)
    history = client.get_metric_history(run.run_id, "rollout/exploration_rate")
    assert len(history) >= 2
    assert all(0 < m.step <= 200 for m in history)
