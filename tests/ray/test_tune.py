"""`alpharl tune`: Ray Tune trials as MLflow child runs of one parent, on a local Ray."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import mlflow
import pytest
from omegaconf import OmegaConf

from alpharl.cli import main as cli_main
from alpharl.config import ConfigError, check_targets, config_dir
from alpharl.tasks.tune import build_space, parse_sampler, trial_config, tune

pytest.importorskip("ray")

TINY = ["steps=300", "tune.verbose=0", "tracking.register_model=null"]
"""A 300-step LinUCB per trial, no model registration: a trial takes a second or two."""


def _client(tmp_path: Path) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")


def _children(client: mlflow.MlflowClient, experiment: str, parent: str) -> list[Any]:
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs(
        [exp.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'"
    )


# ------------------------------------------------------------------ the search space


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("uniform(0.01, 3.0)", ("uniform", [0.01, 3.0], {})),
        (" loguniform(1e-4, 3e-3) ", ("loguniform", [1e-4, 3e-3], {})),
        ("choice([64, 128])", ("choice", [[64, 128]], {})),
        ("quniform(0, 1, q=0.25)", ("quniform", [0, 1], {"q": 0.25})),
        ("grid_search(['a', 'b'])", ("grid_search", [["a", "b"]], {})),
    ],
)
def test_samplers_are_parsed(text: str, parsed: tuple[Any, ...]) -> None:
    assert parse_sampler("agent.alpha", text) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (0.5, r"tune.space.agent.alpha: must be a sampler call"),
        ("uniform(0.1", r"tune.space.agent.alpha: 'uniform\(0.1' is not a call"),
        ("normal(0, 1)", r"unknown sampler 'normal'; known: \['uniform'"),
        ("__import__('os')", r"unknown sampler '__import__'"),
        ("uniform(x, 1)", r"the arguments of 'uniform\(x, 1\)' must be literals"),
        ("tune.uniform(0, 1)", r"is not a call of one of"),
    ],
)
def test_bad_samplers_are_named(text: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_sampler("agent.alpha", text)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("+tune.space={agent.alpah: 'uniform(0, 1)'}", r"tune.space.agent.alpah: the config has"),
        ("tune.mode=maximum", r"tune.mode: must be one of \['max', 'min'\]"),
        ("tune.num_samples=0", r"tune.num_samples: must be >= 1"),
        ("tune.cpus_per_trial=0", r"tune.cpus_per_trial: must be > 0"),
    ],
)
def test_bad_settings_fail_before_anything_runs(
    compose_task: Any, tmp_path: Path, override: str, message: str
) -> None:
    cfg = compose_task("tune", [*TINY, override])
    with pytest.raises(ConfigError, match=message):
        tune(cfg)
    assert not (tmp_path / "runs" / "mlflow.db").exists()  # no parent run was opened


# ------------------------------------------------------------------ on a local Ray


def test_two_trials_are_child_runs_of_one_parent(
    ray_local: Any, compose_task: Any, tmp_path: Path
) -> None:
    cfg = compose_task("tune", [*TINY, "tune.num_samples=2", "tracking.experiment=tune-test"])
    summary = tune(cfg)
    assert len(summary.rows) == 2
    assert summary.failed == []
    assert summary.metric == "mean_reward"
    rewards = [r.metrics["mean_reward"] for r in summary.rows]
    assert rewards == sorted(rewards, reverse=True)  # best first
    for row in summary.rows:
        assert 0.01 <= row.params["agent.alpha"] <= 3.0
        assert 0.1 <= row.params["agent.l2"] <= 10.0
        assert row.metrics["steps"] == 300
    assert summary.rows[0].params != summary.rows[1].params

    client = _client(tmp_path)
    parent = client.get_run(summary.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["alpharl.task"] == "tune"
    best = summary.rows[0]
    assert float(parent.data.params["best.agent.alpha"]) == pytest.approx(
        best.params["agent.alpha"]
    )
    assert parent.data.metrics["best_mean_reward"] == pytest.approx(best.metrics["mean_reward"])
    assert parent.data.tags["alpharl.tune.best_run"] == best.run_id
    children = _children(client, "tune-test", summary.parent_run_id)
    assert sorted(c.info.run_id for c in children) == sorted(r.run_id for r in summary.rows)
    for child in children:
        row = next(r for r in summary.rows if r.run_id == child.info.run_id)
        assert child.info.status == "FINISHED"
        assert child.data.tags["alpharl.tune.trial"] == row.trial_id
        # the child trained with the trial's values, and logged what Tune was told
        assert float(child.data.params["agent.alpha"]) == pytest.approx(row.params["agent.alpha"])
        assert float(child.data.params["agent.l2"]) == pytest.approx(row.params["agent.l2"])
        assert child.data.metrics["final_mean_reward"] == pytest.approx(row.metrics["mean_reward"])
    table = summary.render()
    assert "best (max mean_reward = " in table
    assert f"alpharl train agent.alpha={best.params['agent.alpha']:.4g}" in table
    artifacts = {a.path for a in client.list_artifacts(summary.parent_run_id, "tune")}
    assert artifacts == {"tune/table.txt", "tune/results.csv"}
    # the stream was enriched once, by the driver, before the trials
    data = {a.path for a in client.list_artifacts(summary.parent_run_id, "data")}
    assert data == {"data/enriched_stream_manifest.json"}


@pytest.mark.slow  # a second Tune run: ~13 s on 2 shared cores, 20+ s when they are busy
def test_a_failed_trial_fails_the_parent_and_the_command(
    ray_local: Any,
    small_stream: list[str],
    cache_dir: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    args = [
        "tune",
        f"paths.root_dir={tmp_path}",
        f"paths.cache_dir={cache_dir}",
        *small_stream,
        *TINY,
        "tune.num_samples=1",
        "tracking.experiment=tune-fail",
        "tune.space={agent.alpha: 'grid_search([0.5, -1.0])'}",  # merged: l2 stays
    ]
    with pytest.raises(SystemExit) as exit_info:
        cli_main(args)
    assert exit_info.value.code == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    ok = next(i for i, line in enumerate(lines) if "FAILED: " not in line and " 0.5 " in line)
    failed = next(i for i, line in enumerate(lines) if "FAILED: " in line)
    assert ok < failed  # failures go last
    assert "alpha must be finite and >= 0.0; got -1.0" in lines[failed]
    assert "best (max mean_reward = " in out
    assert "alpharl train agent.alpha=0.5 " in out
    assert "1 trial(s) failed; see the table above" in out

    client = _client(tmp_path)
    exp = client.get_experiment_by_name("tune-fail")
    (parent,) = client.search_runs(
        [exp.experiment_id],
        filter_string="tags.`alpharl.task` = 'tune' and attributes.run_name LIKE 'tune %'",
    )
    assert parent.info.status == "FAILED"
    assert float(parent.data.params["best.agent.alpha"]) == 0.5
    children = _children(client, "tune-fail", parent.info.run_id)
    by_alpha = {float(c.data.params["agent.alpha"]): c.info.status for c in children}
    assert by_alpha == {0.5: "FINISHED", -1.0: "FAILED"}


@pytest.mark.parametrize("option", sorted(p.stem for p in (config_dir() / "tune").glob("*.yaml")))
def test_every_tune_option_composes_and_its_space_builds(compose_task: Any, option: str) -> None:
    cfg = compose_task("tune", [f"tune={option}"])
    check_targets(cfg)
    base = trial_config(cfg)
    space = build_space(cfg.tune.space, OmegaConf.create(base))
    assert set(space) == set(cfg.tune.space)
    assert Path(base["paths"]["cache_dir"]).is_absolute()
    assert base["tracking"]["uri"].startswith("sqlite:////")
    assert "tune" not in base
    assert "ray" not in base
