"""Learning metrics: per step and per episode, logged in windows, plotted, summarised.

Two yardsticks, named for what they are:

- **Regret against the hindsight bound** (per episode, and per step taken): the
  environment's ``info["hindsight_bound"]`` on the step that ends an episode is an upper
  bound on the expected reward any policy could earn in that episode (the LP relaxation
  of the budgeted allocation, see `envs.ad_delivery.AdDeliveryEnv`); the episode's regret
  is that bound minus the reward the agent earned. It is the gap no policy can close
  completely, so it measures how far a policy is from the best possible.
- **Myopic regret** (per step, ``info["myopic_regret"]``): the best expected immediate
  reward minus the chosen action's. It is a diagnostic of how greedy a policy is: a
  policy that paces a binding budget (skips weak opportunities) has positive myopic
  regret while earning more than the greedy oracle, which has none.

Only episodes that ended inside the run count for the per-episode figures (the run's last,
unfinished episode has no bound yet).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from alpharl.tracking.runs import MetricsWriter

NAN = float("nan")


@dataclass
class RunMetrics:
    """Summary of one learning run, one row of the agents table.

    Per-episode figures are means over the episodes that ended during the run and are NaN
    when none did (or when the environment reports no bound).

    Args:
        steps: Steps taken.
        episodes: Episodes that ended during the run.
        mean_reward: Reward per step.
        ctr: Clicks per impression.
        impressions: Ads shown.
        clicks: Clicks.
        spend: Budget spent over the run.
        myopic_regret: Sum of the per-step myopic regret.
        myopic_regret_per_step: Its mean per step.
        episode_reward: Reward per ended episode.
        hindsight_bound: The hindsight bound per ended episode.
        bound_regret: ``hindsight_bound - episode_reward`` per ended episode.
        bound_regret_per_step: The ended episodes' bound regret per step they took.
        bound_fraction: The ended episodes' reward over their bound (1 = the bound).
        budget_used: Fraction of the episode's budget spent, per ended episode.
        budget_out_fraction: Fraction of the ended episodes whose budget ran out.
        budget_out_step: The episode step (1-based) at which the budget ran out, mean over
            the episodes where it did.
        steps_per_s: Learning speed (steps over the learn loop's wall-clock time).
    """

    steps: int
    episodes: int
    mean_reward: float
    ctr: float
    impressions: int
    clicks: int
    spend: float
    myopic_regret: float
    myopic_regret_per_step: float
    episode_reward: float = NAN
    hindsight_bound: float = NAN
    bound_regret: float = NAN
    bound_regret_per_step: float = NAN
    bound_fraction: float = NAN
    budget_used: float = NAN
    budget_out_fraction: float = NAN
    budget_out_step: float = NAN
    steps_per_s: float = 0.0

    def as_dict(self, finite_only: bool = False) -> dict[str, float]:
        """The fields as floats; ``finite_only`` drops NaN ones (MLflow plots no NaN)."""
        out = {f.name: float(getattr(self, f.name)) for f in fields(self)}
        return {k: v for k, v in out.items() if math.isfinite(v)} if finite_only else out


@dataclass(frozen=True)
class Interval:
    """A mean with its two-sided Student-t confidence interval over independent runs."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        """``high - mean`` (0 for a single run, NaN when the values are NaN)."""
        return self.high - self.mean

    def __str__(self) -> str:
        return f"{self.mean:.4g} ± {self.half_width:.2g}"


def t_interval(values: Sequence[float], confidence: float = 0.95) -> Interval:
    """Mean and Student-t interval of ``values`` (e.g. one metric over seeds).

    NaN values are left out; a single value gives a zero-width interval, none gives NaN.
    """
    from scipy import stats

    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: must be in (0, 1) (got {confidence!r})")
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Interval(NAN, NAN, NAN, 0)
    mean = float(x.mean())
    half = 0.0
    if n > 1:
        half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, n)


class StepMetrics:
    """A learn-loop callback recording each step and each episode that ends.

    Every ``log_every`` steps it writes windowed means and running totals to MLflow
    through a `MetricsWriter` (one batched call per window, not one per step), and at
    each episode end the episode's reward, bound, regret against the bound and budget
    figures (at the run's step where the episode ended).

    An episode ends on a step whose ``info`` carries ``"hindsight_bound"`` or
    ``steps_left == 0`` (the environment's contract); ``"action_costs"``, ``"budget"`` and
    ``"budget_left"`` tell whether its budget ran out.

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
        self.myopic_regret = np.zeros(steps)
        self.no_ad_action = no_ad_action
        self.writer = writer
        self.log_every = log_every
        self.n = 0
        # Ended episodes, one entry each: reward, bound, steps, spend / budget, ran-out step.
        self.episode_reward: list[float] = []
        self.episode_bound: list[float] = []
        self.episode_steps: list[int] = []
        self.episode_budget_used: list[float] = []
        self.episode_out_step: list[float] = []  # NaN when the budget did not run out
        self._ep_start = 0
        self._t0 = time.perf_counter()
        self._elapsed = 0.0
        self._logged = 0

    def __call__(self, record: Any) -> bool:
        """Record one `agents.base.StepRecord`; never asks the loop to stop early."""
        return self.record(record.action, record.reward, record.info)

    def record(self, action: int, reward: float, info: Mapping[str, Any]) -> bool:
        """Record one step: the action taken, its reward and the environment's ``info``."""
        i = self.n
        if i >= self.reward.size:
            return False
        self.reward[i] = reward
        self.clicked[i] = bool(info.get("clicked", False))
        self.shown[i] = action != self.no_ad_action
        self.cost[i] = float(info.get("cost", 0.0))
        self.myopic_regret[i] = float(info.get("myopic_regret", info.get("regret", 0.0)))
        self.n = i + 1
        if "hindsight_bound" in info or info.get("steps_left", 1) == 0:
            self._end_episode(info)
        if self.n - self._logged >= self.log_every:
            self._log_window()
        return True

    def _end_episode(self, info: Mapping[str, Any]) -> None:
        lo, hi = self._ep_start, self.n
        self._ep_start = hi
        reward = float(self.reward[lo:hi].sum())
        bound = float(info.get("hindsight_bound", NAN))
        budget = float(info.get("budget", NAN))
        spent = float(self.cost[lo:hi].sum())
        out = NAN
        costs = info.get("action_costs")
        if costs is not None and "budget_left" in info:
            creatives = np.asarray(costs, dtype=float)[:-1]
            tol = 1e-9 * max(budget if math.isfinite(budget) else 1.0, 1.0)
            if creatives.size and float(info["budget_left"]) + tol < float(creatives.min()):
                out = float(hi - lo)
        self.episode_reward.append(reward)
        self.episode_bound.append(bound)
        self.episode_steps.append(hi - lo)
        self.episode_budget_used.append(spent / budget if budget > 0 else NAN)
        self.episode_out_step.append(out)
        self._log_episode(len(self.episode_steps) - 1, hi)

    def _log_episode(self, j: int, step: int) -> None:
        if self.writer is None:
            return
        reward, bound = self.episode_reward[j], self.episode_bound[j]
        row = {
            "episode_reward": reward,
            "hindsight_bound": bound,
            "episode_bound_regret": bound - reward,
            "episode_budget_used": self.episode_budget_used[j],
            "episode_budget_out_step": self.episode_out_step[j],
        }
        self.writer.log({k: v for k, v in row.items() if math.isfinite(v)}, step=step)

    def _log_window(self, end: int | None = None) -> None:
        lo, hi = self._logged, self.n if end is None else end
        self._logged = hi
        if self.writer is None or hi <= lo:
            return
        shown = int(self.shown[:hi].sum())
        clicks = int(self.clicked[:hi].sum())
        self.writer.log(
            {
                "reward": float(self.reward[lo:hi].mean()),
                "myopic_regret": float(self.myopic_regret[lo:hi].mean()),
                "cumulative_reward": float(self.reward[:hi].sum()),
                "cumulative_myopic_regret": float(self.myopic_regret[:hi].sum()),
                "clicks": clicks,
                "ctr": clicks / shown if shown else 0.0,
                "spend": float(self.cost[:hi].sum()),
            },
            step=hi,
        )

    def replay(self, episodes: int | None, seconds: float) -> RunMetrics:
        """Log everything recorded so far to ``self.writer`` (set after recording), then
        summarise as `finish` does, with the learn loop's time ``seconds``.

        For runs recorded without a writer, such as the seeds of one vector env: the
        writer gets the same windows and episode rows as if it had been there live.
        """
        self._logged = 0
        for j, end in enumerate(np.cumsum(self.episode_steps)):
            self._log_episode(j, int(end))
        for end in range(self.log_every, self.n + 1, self.log_every):
            self._log_window(end)
        return self.finish(episodes, seconds=seconds)

    def finish(self, episodes: int | None = None, seconds: float | None = None) -> RunMetrics:
        """Flush the last window and summarise.

        Args:
            episodes: Episodes the learn loop ended (from its summary); default: the
                episode ends this callback saw.
            seconds: The learn loop's time (default: since this object was built).
        """
        self._elapsed = time.perf_counter() - self._t0 if seconds is None else seconds
        self._log_window()
        n = self.n
        shown = int(self.shown[:n].sum())
        clicks = int(self.clicked[:n].sum())
        myopic = float(self.myopic_regret[:n].sum())
        return RunMetrics(
            steps=n,
            episodes=len(self.episode_steps) if episodes is None else int(episodes),
            mean_reward=float(self.reward[:n].mean()) if n else 0.0,
            ctr=clicks / shown if shown else 0.0,
            impressions=shown,
            clicks=clicks,
            spend=float(self.cost[:n].sum()),
            myopic_regret=myopic,
            myopic_regret_per_step=myopic / n if n else 0.0,
            **self._episode_summary(),
            steps_per_s=n / self._elapsed if self._elapsed > 0 else 0.0,
        )

    def _episode_summary(self) -> dict[str, float]:
        reward = np.asarray(self.episode_reward)
        bound = np.asarray(self.episode_bound)
        if reward.size == 0:
            return {}
        out = np.asarray(self.episode_out_step)
        ran_out = np.isfinite(out)
        summary = {
            "episode_reward": float(reward.mean()),
            "budget_used": float(np.mean(self.episode_budget_used)),
            "budget_out_fraction": float(ran_out.mean()),
            "budget_out_step": float(out[ran_out].mean()) if ran_out.any() else NAN,
        }
        if np.all(np.isfinite(bound)):
            regret = bound - reward
            summary |= {
                "hindsight_bound": float(bound.mean()),
                "bound_regret": float(regret.mean()),
                "bound_regret_per_step": float(regret.sum() / sum(self.episode_steps)),
                "bound_fraction": float(reward.sum() / bound.sum()) if bound.sum() > 0 else NAN,
            }
        return summary

    def figures(self, title: str, window: int = 200) -> dict[str, Figure]:
        """The learning curve, the regret (against the bound and myopic) and the episodes."""
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
        regret = Figure(figsize=(10, 3.5))
        left, right = regret.subplots(1, 2)
        ends = np.cumsum(self.episode_steps)
        bound_regret = np.asarray(self.episode_bound) - np.asarray(self.episode_reward)
        left.plot(ends, np.cumsum(bound_regret), marker=".")
        left.set(
            xlabel="step (episode ends)",
            ylabel="cumulative regret",
            title=f"{title}: regret vs hindsight bound",
        )
        right.plot(steps, np.cumsum(self.myopic_regret[:n]))
        right.set(xlabel="step", ylabel="cumulative myopic regret", title="myopic (diagnostic)")
        episodes = Figure(figsize=(6, 3.5))
        ax = episodes.subplots()
        index = np.arange(1, len(self.episode_reward) + 1)
        ax.plot(index, self.episode_bound, marker="_", linestyle="none", label="hindsight bound")
        ax.plot(index, self.episode_reward, marker=".", label="episode reward")
        ax.set(xlabel="episode", ylabel="reward", title=f"{title}: episodes")
        ax.legend()
        for fig in (learning, regret, episodes):
            fig.tight_layout()
        return {
            "plots/learning_curve.png": learning,
            "plots/regret.png": regret,
            "plots/episodes.png": episodes,
        }


class VectorStepMetrics:
    """One `StepMetrics` per sub-env of a vector learn loop, recorded with array writes.

    A callback of `agents.bandits.batched.BatchedLinearBandit.learn`: each vector step
    writes the active sub-envs' rewards, clicks, impressions, costs and myopic regrets
    into ``(N, steps)`` arrays that the per-seed recorders view, and closes the episode
    of each sub-env whose episode ended, exactly as that seed's `StepMetrics` would have
    in a single-env loop. Recorders have no writer: `StepMetrics.replay` logs them later.

    Args:
        n: Sub-envs (seeds). steps: Steps per seed. no_ad_action: "No ad" index.
        log_every: Window length for the later replay.
    """

    def __init__(self, n: int, steps: int, no_ad_action: int, log_every: int = 50) -> None:
        self.recorders = [StepMetrics(steps, no_ad_action, None, log_every) for _ in range(n)]
        self.no_ad_action = no_ad_action
        self.pos = np.zeros(n, dtype=np.int64)
        names = ("reward", "clicked", "shown", "cost", "myopic_regret")
        self.arrays = {k: np.stack([getattr(r, k) for r in self.recorders]) for k in names}
        for i, r in enumerate(self.recorders):  # each recorder views its row
            for k, a in self.arrays.items():
                setattr(r, k, a[i])

    def __call__(self, step: Any) -> bool:
        """Record one `agents.bandits.batched.VectorStepRecord`."""
        rows = np.flatnonzero(step.active)
        if rows.size == 0:
            return True
        cols = self.pos[rows]
        infos = step.infos
        a = self.arrays
        a["reward"][rows, cols] = np.asarray(step.rewards, dtype=float)[rows]
        a["shown"][rows, cols] = np.asarray(step.actions)[rows] != self.no_ad_action
        for key, name in (("clicked", "clicked"), ("cost", "cost")):
            if key in infos:
                a[name][rows, cols] = np.asarray(infos[key])[rows]
        key = "myopic_regret" if "myopic_regret" in infos else "regret"
        if key in infos:
            a["myopic_regret"][rows, cols] = np.asarray(infos[key], dtype=float)[rows]
        self.pos[rows] += 1
        done = (np.asarray(step.terminated) | np.asarray(step.truncated))[rows]
        for i in rows[done]:
            r = self.recorders[i]
            r.n = int(self.pos[i])
            r._end_episode(_sub_info(infos, int(i)))
        return True

    def finish(self) -> list[StepMetrics]:
        """The per-seed recorders, filled up to the steps each took (log them by `replay`)."""
        for r, p in zip(self.recorders, self.pos, strict=True):
            r.n = int(p)
        return self.recorders


def _sub_info(infos: Mapping[str, Any], i: int) -> dict[str, Any]:
    """Sub-env ``i``'s ``info`` from Gymnasium's vector infos (keys it has, per ``_key``)."""
    out = {}
    for k, v in infos.items():
        if k.startswith("_"):
            continue
        mask = infos.get(f"_{k}")
        if mask is None or mask[i]:
            out[k] = v[i]
    return out
