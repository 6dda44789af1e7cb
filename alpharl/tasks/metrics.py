"""Per-step learning metrics: collected in preallocated arrays, logged in windows, plotted."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from alpharl.tracking.runs import MetricsWriter


@dataclass
class RunMetrics:
    """Summary of one learning run, the row of the agents table."""

    steps: int
    episodes: int
    mean_reward: float
    ctr: float
    impressions: int
    clicks: int
    spend: float
    regret: float
    regret_per_step: float
    steps_per_s: float

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.__dict__.items()}


class StepMetrics:
    """A learn-loop callback recording reward, clicks, spend and regret at every step.

    Every ``log_every`` steps it writes windowed means and running totals to MLflow
    through a `MetricsWriter` (one batched call per window, not one per step), so a
    20,000-step run logs 400 points per curve instead of 20,000 round trips.

    Args:
        steps: Capacity (the run's step budget).
        no_ad_action: Index of the "no ad" action (not an impression).
        writer: Where windowed metrics go; None keeps them in memory only.
        log_every: Window length in steps.
    """

    def __init__(
        self,
        steps: int,
        no_ad_action: int,
        writer: MetricsWriter | None = None,
        log_every: int = 50,
    ) -> None:
        if steps < 1:
            raise ValueError(f"steps: must be >= 1 (got {steps})")
        if log_every < 1:
            raise ValueError(f"log_every: must be >= 1 (got {log_every})")
        self.reward = np.zeros(steps)
        self.clicked = np.zeros(steps, dtype=bool)
        self.shown = np.zeros(steps, dtype=bool)
        self.cost = np.zeros(steps)
        self.regret = np.zeros(steps)
        self.no_ad_action = no_ad_action
        self.writer = writer
        self.log_every = log_every
        self.n = 0
        self._t0 = time.perf_counter()
        self._elapsed = 0.0
        self._logged = 0

    def __call__(self, record: Any) -> bool:
        """Record one `agents.base.StepRecord`; never asks the loop to stop early."""
        i = self.n
        if i >= self.reward.size:
            return False
        info = record.info
        self.reward[i] = record.reward
        self.clicked[i] = bool(info.get("clicked", False))
        self.shown[i] = record.action != self.no_ad_action
        self.cost[i] = float(info.get("cost", 0.0))
        self.regret[i] = float(info.get("regret", 0.0))
        self.n = i + 1
        if self.n - self._logged >= self.log_every:
            self._log_window()
        return True

    def _log_window(self) -> None:
        lo, hi = self._logged, self.n
        self._logged = hi
        if self.writer is None or hi <= lo:
            return
        shown = int(self.shown[:hi].sum())
        clicks = int(self.clicked[:hi].sum())
        self.writer.log(
            {
                "reward": float(self.reward[lo:hi].mean()),
                "regret": float(self.regret[lo:hi].mean()),
                "cumulative_reward": float(self.reward[:hi].sum()),
                "cumulative_regret": float(self.regret[:hi].sum()),
                "clicks": clicks,
                "ctr": clicks / shown if shown else 0.0,
                "spend": float(self.cost[:hi].sum()),
            },
            step=hi,
        )

    def finish(self, episodes: int) -> RunMetrics:
        """Flush the last window and summarise.

        Args:
            episodes: Episodes the learn loop started (from its summary).
        """
        self._elapsed = time.perf_counter() - self._t0
        self._log_window()
        n = self.n
        shown = int(self.shown[:n].sum())
        clicks = int(self.clicked[:n].sum())
        regret = float(self.regret[:n].sum())
        return RunMetrics(
            steps=n,
            episodes=episodes,
            mean_reward=float(self.reward[:n].mean()) if n else 0.0,
            ctr=clicks / shown if shown else 0.0,
            impressions=shown,
            clicks=clicks,
            spend=float(self.cost[:n].sum()),
            regret=regret,
            regret_per_step=regret / n if n else 0.0,
            steps_per_s=n / self._elapsed if self._elapsed > 0 else 0.0,
        )

    def figures(self, title: str, window: int = 200) -> dict[str, Figure]:
        """The learning curve (moving-average reward) and the cumulative regret."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure

        n = self.n
        steps = np.arange(1, n + 1)
        w = max(1, min(window, n))
        kernel = np.ones(w) / w
        curve = np.convolve(self.reward[:n], kernel, mode="valid") if n else np.zeros(0)
        learning = Figure(figsize=(6, 3.5))
        ax = learning.subplots()
        ax.plot(steps[w - 1 :], curve)
        ax.set(xlabel="step", ylabel=f"reward ({w}-step mean)", title=f"{title}: learning curve")
        regret = Figure(figsize=(6, 3.5))
        ax = regret.subplots()
        ax.plot(steps, np.cumsum(self.regret[:n]))
        ax.set(xlabel="step", ylabel="cumulative regret", title=f"{title}: regret vs oracle")
        for fig in (learning, regret):
            fig.tight_layout()
        return {"plots/learning_curve.png": learning, "plots/regret.png": regret}
