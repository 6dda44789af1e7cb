"""Runs against a real local MLflow store, read back with `mlflow.MlflowClient`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from alpharl.tracking.runs import (
    CONFIG_ARTIFACT,
    TAG_GIT_COMMIT,
    TAG_MULTIRUN,
    TAG_PARENT,
    TAG_SEED,
    TAG_VERSION,
    TRACEBACK_ARTIFACT,
    MetricsWriter,
    Tracker,
    ensure_experiment,
    git_commit,
)

EXPERIMENT = "tracking-tests"


def _artifacts(client: Any, run_id: str, path: str | None = None) -> set[str]:
    out: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        if item.is_dir:
            out |= _artifacts(client, run_id, item.path)
        else:
            out.add(item.path)
    return out


def test_logged_run_reads_back(tracker: Tracker, client: Any, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfg = OmegaConf.create(
        {"agent": {"name": "dqn", "lr": 0.001, "arch": [64, 64]}, "seed": 3, "out": "${seed}"}
    )
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_text("a")
    (tmp_path / "note.txt").write_text("n")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    with tracker.start_run(EXPERIMENT, run_name="ok", tags={"team": "x"}, seed=3) as run:
        sent = run.log_config(cfg)
        for step in range(25):
            run.metrics.log({"reward": step * 0.5, "regret": 1.0 / (step + 1)}, step=step)
        run.log_artifact(tmp_path / "note.txt")
        run.log_artifact(tmp_path / "d", "folder")
        run.log_figure(fig, "plots/curve.png")
        run.log_dict({"b": 1}, "summary.json")
        assert run.metrics.n_batches == 2  # flush_every=10 log calls
    plt.close(fig)

    got = client.get_run(run.run_id)
    assert got.info.status == "FINISHED"
    assert got.info.run_name == "ok"
    assert got.data.params == sent
    assert got.data.params["agent.lr"] == "0.001"
    assert got.data.params["agent.arch"] == "[64, 64]"
    assert got.data.params["out"] == "3"  # resolved interpolation
    history = client.get_metric_history(run.run_id, "reward")
    assert [m.step for m in history] == list(range(25))
    assert [m.value for m in history] == [s * 0.5 for s in range(25)]
    assert len(client.get_metric_history(run.run_id, "regret")) == 25
    tags = got.data.tags
    assert tags["team"] == "x"
    assert tags[TAG_SEED] == "3"
    assert tags[TAG_VERSION]
    commit = git_commit()
    if commit is not None:
        assert tags[TAG_GIT_COMMIT] == commit
    assert _artifacts(client, run.run_id) == {
        CONFIG_ARTIFACT,
        "note.txt",
        "folder/a.txt",
        "plots/curve.png",
        "summary.json",
    }
    local = client.download_artifacts(run.run_id, CONFIG_ARTIFACT, str(tmp_path / "dl"))
    assert "lr: 0.001" in Path(local).read_text()
    summary = client.download_artifacts(run.run_id, "summary.json", str(tmp_path / "dl"))
    assert json.loads(Path(summary).read_text()) == {"b": 1}
    png = client.download_artifacts(run.run_id, "plots/curve.png", str(tmp_path / "dl"))
    assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_artifacts_live_under_the_store_artifact_root(tracker: Tracker) -> None:
    with tracker.start_run(EXPERIMENT) as run:
        uri = run.artifact_uri
    assert tracker.store.artifact_root is not None
    assert tracker.store.artifact_root in uri


def test_crashing_run_is_failed_with_its_metrics(tracker: Tracker, client: Any) -> None:
    run_id = None
    with (  # noqa: PT012
        pytest.raises(ZeroDivisionError),
        tracker.start_run(EXPERIMENT, run_name="crash") as run,
    ):
        run_id = run.run_id
        for step in range(3):  # fewer than flush_every: still buffered at the crash
            run.metrics.log({"loss": float(step)}, step=step)
        _ = 1 / 0
    assert run_id is not None
    got = client.get_run(run_id)
    assert got.info.status == "FAILED"
    assert [m.value for m in client.get_metric_history(run_id, "loss")] == [0.0, 1.0, 2.0]
    assert TRACEBACK_ARTIFACT in _artifacts(client, run_id)
    assert "ZeroDivisionError" in got.data.tags["alpharl.error"]
    assert tracker.active_run is None


def test_keyboard_interrupt_marks_killed(tracker: Tracker, client: Any) -> None:
    run_id = None
    with pytest.raises(KeyboardInterrupt), tracker.start_run(EXPERIMENT) as run:  # noqa: PT012
        run_id = run.run_id
        raise KeyboardInterrupt
    assert client.get_run(run_id).info.status == "KILLED"


def test_tracker_context_ends_open_runs(mlflow_store: Any, client: Any) -> None:
    with pytest.raises(RuntimeError), Tracker(mlflow_store) as t:  # noqa: PT012
        outer = t.start_run(EXPERIMENT)
        inner = t.start_run(EXPERIMENT, nested=True)
        raise RuntimeError("boom")
    assert client.get_run(outer.run_id).info.status == "FAILED"
    assert client.get_run(inner.run_id).info.status == "FAILED"
    with Tracker(mlflow_store) as t:
        ok = t.start_run(EXPERIMENT)
    assert client.get_run(ok.run_id).info.status == "FINISHED"


def test_nested_runs_carry_parent_tag(tracker: Tracker, client: Any) -> None:
    with tracker.start_run(EXPERIMENT, run_name="parent") as parent:
        with tracker.start_run(EXPERIMENT, run_name="child", nested=True) as child:
            assert tracker.active_run is child
        explicit = tracker.start_run(EXPERIMENT, parent_run_id=parent.run_id)
        explicit.end()
    assert client.get_run(child.run_id).data.tags[TAG_PARENT] == parent.run_id
    assert client.get_run(explicit.run_id).data.tags[TAG_PARENT] == parent.run_id
    assert TAG_PARENT not in client.get_run(parent.run_id).data.tags


def test_nested_without_active_run_is_an_error(tracker: Tracker) -> None:
    with pytest.raises(ValueError, match="nested"):
        tracker.start_run(EXPERIMENT, nested=True)
    with pytest.raises(ValueError, match="nested"):
        tracker.start_run(EXPERIMENT, nested=True, parent_run_id="abc")


def test_multirun_children_share_one_parent(mlflow_store: Any, client: Any) -> None:
    sweep = f"/multirun/{uuid.uuid4().hex}"
    first, second = Tracker(mlflow_store), Tracker(mlflow_store)  # e.g. two job processes
    parent_a = first.multirun_parent(EXPERIMENT, sweep)
    parent_b = second.multirun_parent(EXPERIMENT, sweep)
    assert parent_a == parent_b
    assert first.multirun_parent(EXPERIMENT, sweep + "-other") != parent_a
    with first.start_run(EXPERIMENT, parent_run_id=parent_a) as c1:
        pass
    with second.start_run(EXPERIMENT, parent_run_id=parent_b) as c2:
        pass
    first.finish_run(parent_a)
    parent = client.get_run(parent_a)
    assert parent.data.tags[TAG_MULTIRUN] == sweep
    assert parent.info.status == "FINISHED"
    children = client.search_runs(
        [parent.info.experiment_id], filter_string=f"tags.`{TAG_PARENT}` = '{parent_a}'"
    )
    assert {r.info.run_id for r in children} == {c1.run_id, c2.run_id}


def test_large_config_logs_in_batches(tracker: Tracker, client: Any) -> None:
    cfg = {f"group{i}": {f"k{j}": j for j in range(30)} for i in range(10)}  # 300 params
    cfg["long"] = {"text": "x" * 9000}
    with tracker.start_run(EXPERIMENT) as run:
        run.log_config(cfg)
    params = client.get_run(run.run_id).data.params
    assert len(params) == 301
    assert params["group9.k29"] == "29"
    assert len(params["long.text"]) == 6000


def test_metrics_writer_batches_and_validates(tracker: Tracker, client: Any) -> None:
    run = tracker.start_run(EXPERIMENT)
    writer = MetricsWriter(client, run.run_id, flush_every=1000)
    import numpy as np

    for step in range(300):
        writer.log({"a": np.float32(step), "b": step, "c": np.array(1.5)}, step=np.int64(step))
    # 900 values < 1000: nothing sent yet; then 1200 values go in two batches.
    assert writer.n_batches == 0
    assert writer.pending == 900
    for step in range(300, 400):
        writer.log({"a": step, "b": step, "c": 0.0}, step=step)
    assert writer.n_sent == 1002
    assert writer.pending == 198
    with pytest.raises(ValueError, match="metric key 'bad//key'"):
        writer.log({"bad//key": 1.0}, step=0)
    with pytest.raises(TypeError, match="metric 'a': must be a real number"):
        writer.log({"a": "high"}, step=0)
    with pytest.raises(ValueError, match="step: must be a non-negative integer"):
        writer.log({"a": 1.0}, step=-1)
    writer.close()
    assert writer.pending == 0
    with pytest.raises(RuntimeError, match="closed"):
        writer.log({"a": 1.0}, step=0)
    run.end()
    assert len(client.get_metric_history(run.run_id, "a")) == 400


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"flush_every": 0}, "flush_every"), ({"flush_interval_s": 0.0}, "flush_interval_s")],
)
def test_metrics_writer_bad_settings(client: Any, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MetricsWriter(client, "run", **kwargs)


def test_end_twice_and_bad_status(tracker: Tracker) -> None:
    run = tracker.start_run(EXPERIMENT)
    with pytest.raises(ValueError, match="status"):
        run.end("DONE")
    run.end()
    run.end("FAILED")  # no effect
    assert run.status == "FINISHED"
    assert tracker.run_status(run.run_id) == "FINISHED"


def test_artifact_errors_name_the_value(tracker: Tracker, tmp_path: Path) -> None:
    with tracker.start_run(EXPERIMENT) as run:
        with pytest.raises(FileNotFoundError, match="missing"):
            run.log_artifact(tmp_path / "missing")
        with pytest.raises(ValueError, match=r"artifact_file: must end in \.json"):
            run.log_dict({}, "x.yaml")


def test_experiment_name_checked_and_deleted_reported(client: Any) -> None:
    with pytest.raises(ValueError, match="experiment: must be a non-empty string"):
        ensure_experiment(client, " ", None)
    name = f"deleted-{uuid.uuid4().hex}"
    exp_id = ensure_experiment(client, name, None)
    assert ensure_experiment(client, name, None) == exp_id
    client.delete_experiment(exp_id)
    with pytest.raises(ValueError, match="is deleted"):
        ensure_experiment(client, name, None)
