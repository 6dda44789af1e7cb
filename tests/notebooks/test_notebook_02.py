"""notebooks/02_off_policy_evaluation.ipynb runs top to bottom on a decision log.

The test writes a small log with the serving code's `DecisionLog` in tmp_path (a logistic
click model, random eligibility, an epsilon-greedy logging policy) and two policies with
known true values, points the notebook at them through its parameters, executes it with
nbclient, and checks its table, its plot and its estimates against the truth.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbclient import NotebookClient

from alpharl.policy import EpsilonGreedyRule, LinearPolicy
from alpharl.serving.decision_log import DecisionLog, DecisionRecord

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "02_off_policy_evaluation.ipynb"
ESTIMATORS = {"ipw", "snipw", "dm", "dr", "sndr", "switch-dr"}


def _write_log(
    folder: Path, n: int = 3000, k: int = 4, d: int = 3
) -> tuple[Path, dict[str, float]]:
    """A served-style log; returns its path and the true value of each saved policy folder."""
    rng = np.random.default_rng(11)
    w = rng.normal(size=(k, d))
    x = rng.normal(size=(n, d)).astype(np.float32)
    q = np.zeros((n, k + 1))
    q[:, :k] = 1 / (1 + np.exp(-(x @ w.T)))
    masks = rng.random((n, k + 1)) < 0.75
    masks[:, -1] = True

    def policy(sign: float, epsilon: float) -> LinearPolicy:
        theta = np.vstack([sign * w, np.zeros((1, d))])  # no ad scores 0
        return LinearPolicy(theta, rule=EpsilonGreedyRule(epsilon))

    actions, props = policy(0.3, 0.6).decide(x, masks, rng)
    clicks = rng.random(n) < q[np.arange(n), actions]
    log = DecisionLog(folder / "served.db")
    recs = [
        DecisionRecord(uuid.uuid4().hex, 1.7e9 + i, None, x[i], masks[i], k + 1,
                       int(actions[i]), float(props[i]), "served", "7", "champion")
        for i in range(n)
    ]  # fmt: skip
    log.append_many(recs)
    for rec, clicked in list(zip(recs, clicks, strict=True))[: n - 100]:  # 100 await feedback
        log.record_feedback(rec.decision_id, float(clicked))
    log.close()
    truth = {}
    kept = slice(0, n - 100)
    for name, sign in (("sharp", 1.0), ("blunt", -1.0)):
        p = policy(sign, 0.2)
        p.save(folder / name)
        pi = p.action_probabilities(x[kept].astype(np.float64), masks[kept])
        truth[name] = float((pi * q[kept]).sum(axis=1).mean())
    return folder / "served.db", truth


def _run(tmp_path: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list:  # type: ignore[type-arg]
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    return outputs


@pytest.mark.integration
def test_notebook_02_evaluates_a_served_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    log_path, truth = _write_log(tmp_path)
    out = tmp_path / "out"
    outputs = _run(
        tmp_path,
        {
            "ALPHARL_DECISION_LOG": f"sqlite:///{log_path}",
            "ALPHARL_POLICIES": f"{tmp_path / 'sharp'},{tmp_path / 'blunt'}",
            "ALPHARL_OUTPUT_DIR": str(out),
            "ALPHARL_N_BOOTSTRAP": "300",
        },
        monkeypatch,
    )
    text = "\n".join(str(o.get("data", {}).get("text/plain", o.get("text", ""))) for o in outputs)
    assert "awaiting feedback" in text  # the overview
    assert "switch-dr" in text  # the table
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 1  # the bar plot
    assert (out / "ope_estimates.png").stat().st_size > 10_000
    table = pd.read_csv(out / "ope_summary.csv")
    assert set(table.estimator) == ESTIMATORS
    assert set(table.policy) == {"sharp", "blunt"}
    assert table.true_value.isna().all()  # a given log: the notebook does not know the truth
    assert (table.ci_lower <= table.estimate).all()
    assert (table.estimate <= table.ci_upper).all()
    by = table.set_index(["policy", "estimator"])
    for policy, value in truth.items():
        for est in ("ipw", "snipw", "dr", "sndr"):
            lo, hi = by.loc[(policy, est), "ci_lower"], by.loc[(policy, est), "ci_upper"]
            assert lo <= value <= hi, (policy, est, lo, value, hi)
    assert by.loc[("sharp", "dr"), "estimate"] > by.loc[("blunt", "dr"), "estimate"] + 0.2


@pytest.mark.integration
def test_notebook_02_generates_a_log_when_none_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ALPHARL_DECISION_LOG", raising=False)
    monkeypatch.delenv("ALPHARL_POLICIES", raising=False)
    out = tmp_path / "out"
    _run(tmp_path, {"ALPHARL_OUTPUT_DIR": str(out), "ALPHARL_N_BOOTSTRAP": "300"}, monkeypatch)
    assert (out / "decisions.db").is_file()
    table = pd.read_csv(out / "ope_summary.csv")
    assert set(table.policy) == {"follows-the-truth", "against-the-truth"}
    assert table.true_value.notna().all()
    dr = table[table.estimator.isin(["ipw", "dr"])]
    assert dr.covers_truth.all(), dr
