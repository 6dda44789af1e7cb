"""notebooks/01_compare_agents.ipynb runs top to bottom on a small comparison and ablation."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from alpharl.tasks.compare import compare
from alpharl.tasks.train import train
from alpharl.tracking import Tracker, resolve_store

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "01_compare_agents.ipynb"


@pytest.mark.integration
def test_notebook_01_reads_runs_from_mlflow_and_plots(compose_task, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    small = ["steps=300", "env.horizon=150"]
    compare(compose_task("compare", ["agents=[random,oracle,linucb]", *small]))
    tracker = Tracker(resolve_store(str(tmp_path / "runs")))
    with tracker.start_run("emotion_ablation", "ablation") as parent:
        for congruence in (0.0, 1.5):
            for seed in (0, 1):
                cfg = compose_task(
                    "train",
                    [*small, f"click_model.congruence={congruence}", f"seed={seed}",
                     "tracking.experiment=emotion_ablation", "tracking.register_model=null"],
                )  # fmt: skip
                train(cfg, parent_run_id=parent.run_id)

    nb = nbformat.read(NOTEBOOK, as_version=4)
    monkeypatch.setenv("ALPHARL_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("ALPHARL_EXPERIMENT", "alpharl")
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()

    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "\n".join(str(o.get("data", {}).get("text/plain", o.get("text", ""))) for o in outputs)
    for agent in ("RandomAgent", "OracleAgent", "LinUCB"):
        assert agent in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 1
    assert "params.click_model.congruence" in text  # the ablation table
