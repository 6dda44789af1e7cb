"""``GET /v1/experiment``: the champion/challenger split and the sequential test."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from alpharl.serving.deps import StateDep
from alpharl.serving.responses import JSONBytes
from alpharl.serving.schemas import ExperimentOut

router = APIRouter(prefix="/v1", tags=["experiment"])


@router.get("/experiment", response_model=ExperimentOut)
def experiment(state: StateDep) -> JSONBytes:
    """Per-arm decisions, feedback, mean reward with a 95% CI, and an always-valid test.

    The test is the normal-mixture SPRT of Johari et al. (2017), "Peeking at A/B Tests",
    over challenger minus champion mean reward; its p-value may be read at any time. The
    numbers are running sums kept as decisions and feedback are committed
    (`alpharl.serving.experiment.RunningExperiment`): a call costs the same however long
    the log is.
    """
    summaries, test = state.service.experiment.snapshot()
    models = state.holder.models
    arms = []
    for s in summaries:
        model = models.get(s.arm)
        arms.append(
            {
                "arm": s.arm,
                "policy_version": None if model is None else model.version,
                "decisions": s.decisions,
                "feedback": s.feedback,
                "feedback_rate": s.feedback_rate,
                "mean_reward": s.mean_reward,
                "ci95_low": s.ci_low,
                "ci95_high": s.ci_high,
            }
        )
    return JSONBytes(
        {
            "challenger_share": state.settings.challenger_share,
            "arms": arms,
            "test": asdict(test),
        }
    )
