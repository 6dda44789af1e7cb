"""Champion/challenger statistics: per-arm means with confidence intervals, and a mixture SPRT.

The sequential test is the two-sample mixture sequential probability ratio test (mSPRT)
with a normal mixing distribution, as in Johari, Koomen, Pekelis & Walsh (2017),
"Peeking at A/B Tests: Why it matters, and what to do about it", KDD '17, and
Johari, Pekelis & Walsh (2022), "Always Valid Inference: Continuous Monitoring of A/B
Tests", Operations Research 70(3). For the difference in mean reward
``delta = mean_challenger - mean_champion`` with null ``delta = 0``, after the rewards seen
so far the mixture likelihood ratio against ``N(0, tau^2)`` alternatives is::

    V        = var_champion / n_champion + var_challenger / n_challenger
    Lambda_t = sqrt(V / (V + tau^2)) * exp(tau^2 * delta_hat^2 / (2 V (V + tau^2)))

(with balanced arms, ``V = 2 sigma^2 / n`` gives the paper's eq. for ``Lambda_n``). The
always-valid p-value is ``p_t = min(1, min_{s <= t} 1 / Lambda_s)``: whenever it is read,
``P(p_t <= alpha) <= alpha`` under the null, so the experiment can be watched
continuously and stopped as soon as ``p_t <= alpha``. The variances are plug-in sample
variances (the paper's large-sample approximation), so the first `MIN_PER_ARM` rewards of
each arm are not tested. The log is replayed in feedback order to take the running
minimum, so the p-value does not depend on when this endpoint was polled.

`RunningExperiment` keeps the same quantities as running sums, updated as decisions and
feedback are committed, so reading them costs O(1) however long the log grows; it is
seeded from the log once (`RunningExperiment.from_log`) and gives the same numbers as
`msprt` over the log in feedback order.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from alpharl.serving.decision_log import ArmTotals

ARMS: tuple[str, str] = ("champion", "challenger")
MIN_PER_ARM = 10
"""Rewards each arm needs before the plug-in variance is trusted by the sequential test."""
_Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class ArmSummary:
    """One arm's decisions, feedback and mean reward with a 95% normal-approximation CI."""

    arm: str
    decisions: int
    feedback: int
    feedback_rate: float | None
    mean_reward: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True, slots=True)
class SequentialTest:
    """The mSPRT result for ``challenger - champion``."""

    method: str
    reference: str
    tau: float
    difference: float | None
    log_likelihood_ratio: float | None
    p_value: float
    n_champion: int
    n_challenger: int


def summarize_arm(arm: str, totals: ArmTotals | None) -> ArmSummary:
    """Mean reward and its 95% CI (``mean +- 1.96 s / sqrt(n)``) from an arm's totals.

    Args:
        arm: The arm's name.
        totals: Its running totals, or None for an arm with no decisions.
    """
    if totals is None or totals.decisions == 0:
        return ArmSummary(arm, 0, 0, None, None, None, None)
    n = totals.feedback
    rate = n / totals.decisions
    if n == 0:
        return ArmSummary(arm, totals.decisions, 0, rate, None, None, None)
    mean = totals.reward_sum / n
    if n < 2:
        return ArmSummary(arm, totals.decisions, n, rate, mean, None, None)
    var = max(totals.reward_sq_sum - n * mean * mean, 0.0) / (n - 1)
    half = _Z95 * math.sqrt(var / n)
    return ArmSummary(arm, totals.decisions, n, rate, mean, mean - half, mean + half)


def _running(rewards: np.ndarray, is_arm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative count, mean and sample variance of one arm after each event."""
    x = np.where(is_arm, rewards, 0.0)
    n = np.cumsum(is_arm, dtype=np.float64)
    s1 = np.cumsum(x)
    s2 = np.cumsum(x * x)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        var = (s2 - n * mean * mean) / (n - 1)
    return n, mean, np.maximum(var, 0.0)


def msprt(arms: np.ndarray, rewards: np.ndarray, tau: float) -> SequentialTest:
    """The always-valid p-value of the normal-mixture SPRT (see the module docstring).

    Args:
        arms: ``(n,)`` arm name of each reward, in the order the rewards arrived.
        rewards: ``(n,)`` rewards.
        tau: Standard deviation of the mixing distribution over the difference; choose it
            near the size of difference worth detecting.
    """
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"tau: must be a finite positive number (got {tau!r})")
    arms = np.asarray(arms)
    rewards = np.asarray(rewards, dtype=np.float64)
    if arms.shape != rewards.shape or arms.ndim != 1:
        raise ValueError(
            f"arms, rewards: must be equal-length vectors ({arms.shape}, {rewards.shape})"
        )
    n_a, mean_a, var_a = _running(rewards, arms == ARMS[0])
    n_b, mean_b, var_b = _running(rewards, arms == ARMS[1])
    total_a = int(n_a[-1]) if n_a.size else 0
    total_b = int(n_b[-1]) if n_b.size else 0
    result = SequentialTest(
        method="mixture SPRT (normal mixture over the difference in mean reward)",
        reference="Johari, Koomen, Pekelis & Walsh (2017), Peeking at A/B Tests, KDD",
        tau=tau,
        difference=None,
        log_likelihood_ratio=None,
        p_value=1.0,
        n_champion=total_a,
        n_challenger=total_b,
    )
    ok = (n_a >= MIN_PER_ARM) & (n_b >= MIN_PER_ARM)
    if not ok.any():
        return result
    tau2 = tau * tau
    v = var_a[ok] / n_a[ok] + var_b[ok] / n_b[ok]
    delta = mean_b[ok] - mean_a[ok]
    # Both arms constant and equal so far: no evidence either way (Lambda = 1 in the limit);
    # constant but different: V = 0 with delta != 0 is infinite evidence.
    v = np.where(v > 0, v, np.where(delta == 0, np.inf, 1e-300))
    with np.errstate(over="ignore", invalid="ignore"):
        log_lr = 0.5 * np.log(v / (v + tau2)) + tau2 * delta * delta / (2.0 * v * (v + tau2))
    log_lr = np.nan_to_num(log_lr, nan=0.0, posinf=np.inf)
    p = float(min(1.0, np.exp(-np.max(log_lr))))
    return SequentialTest(
        method=result.method,
        reference=result.reference,
        tau=tau,
        difference=float(delta[-1]),
        log_likelihood_ratio=float(log_lr[-1]),
        p_value=p,
        n_champion=total_a,
        n_challenger=total_b,
    )


class _ExperimentLog(Protocol):
    def arm_totals(self) -> dict[str, ArmTotals]: ...

    def rewards_in_feedback_order(self) -> tuple[np.ndarray, np.ndarray]: ...


def _log_lr(a: list[float], b: list[float], tau: float) -> tuple[float, float] | None:
    """``(delta, log Lambda)`` from two arms' ``[n, sum, sum of squares]`` (as in `msprt`)."""
    if a[0] < MIN_PER_ARM or b[0] < MIN_PER_ARM:
        return None
    stats = []
    for n, s1, s2 in (a, b):
        mean = s1 / n
        stats.append((mean, max((s2 - n * mean * mean) / (n - 1), 0.0) / n))
    delta = stats[1][0] - stats[0][0]
    v = stats[0][1] + stats[1][1]
    if not v > 0:
        v = math.inf if delta == 0 else 1e-300
    tau2 = tau * tau
    try:
        value = 0.5 * math.log(v / (v + tau2)) + tau2 * delta * delta / (2.0 * v * (v + tau2))
    except (OverflowError, ValueError, ZeroDivisionError):
        value = math.inf
    return delta, (0.0 if math.isnan(value) else value)


class RunningExperiment:
    """Per-arm counts and reward sums, and the mSPRT's running maximum, kept as feedback arrives.

    Thread-safe; every method is O(1). The numbers are those of `summarize_arm` and `msprt`
    over the decisions and feedback this object was told about, in the order it was told.

    Args:
        tau: Standard deviation of the mixing distribution (see `msprt`).
    """

    def __init__(self, tau: float) -> None:
        if not (math.isfinite(tau) and tau > 0):
            raise ValueError(f"tau: must be a finite positive number (got {tau!r})")
        self.tau = tau
        self._lock = threading.Lock()
        self._decisions = dict.fromkeys(ARMS, 0)
        self._sums = {arm: [0.0, 0.0, 0.0] for arm in ARMS}  # n, sum, sum of squares
        self._max_log_lr = 0.0  # p = exp(-max(0, max log Lambda)): only the clipped max matters
        self._last: tuple[float, float] | None = None

    @classmethod
    def from_log(cls, log: _ExperimentLog, tau: float) -> RunningExperiment:
        """Seeded from everything in ``log`` (one pass over its rewards, at startup)."""
        out = cls(tau)
        out.reseed(log)
        return out

    def reseed(self, log: _ExperimentLog) -> None:
        """Replace the state with the log's (for several workers: their feedback too)."""
        totals = log.arm_totals()
        arms, rewards = log.rewards_in_feedback_order()
        test = msprt(arms, rewards, self.tau)
        sums = {}
        for arm in ARMS:
            x = rewards[arms == arm]
            sums[arm] = [float(x.size), math.fsum(x.tolist()), math.fsum((x * x).tolist())]
        with self._lock:
            self._decisions = {arm: (totals[arm].decisions if arm in totals else 0) for arm in ARMS}
            self._sums = sums
            self._max_log_lr = -math.log(test.p_value) if test.p_value > 0 else math.inf
            self._last = (
                None
                if test.difference is None or test.log_likelihood_ratio is None
                else (test.difference, test.log_likelihood_ratio)
            )

    def add_decisions(self, arm: str, n: int = 1) -> None:
        """Count ``n`` committed decisions of ``arm``."""
        with self._lock:
            self._decisions[arm] = self._decisions.get(arm, 0) + n

    def add_reward(self, arm: str, reward: float) -> None:
        """Fold in one recorded reward of ``arm`` (in the order rewards are recorded)."""
        with self._lock:
            sums = self._sums.setdefault(arm, [0.0, 0.0, 0.0])
            sums[0] += 1.0
            sums[1] += reward
            sums[2] += reward * reward
            if arm not in ARMS:
                return
            now = _log_lr(self._sums[ARMS[0]], self._sums[ARMS[1]], self.tau)
            if now is not None:
                self._last = now
                self._max_log_lr = max(self._max_log_lr, now[1])

    def snapshot(self) -> tuple[list[ArmSummary], SequentialTest]:
        """Each arm's summary and the sequential test, now."""
        with self._lock:
            arms = [
                summarize_arm(
                    arm,
                    ArmTotals(
                        self._decisions.get(arm, 0),
                        int(self._sums[arm][0]),
                        self._sums[arm][1],
                        self._sums[arm][2],
                    ),
                )
                for arm in ARMS
            ]
            last, top = self._last, self._max_log_lr
            n_a, n_b = int(self._sums[ARMS[0]][0]), int(self._sums[ARMS[1]][0])
        test = SequentialTest(
            method="mixture SPRT (normal mixture over the difference in mean reward)",
            reference="Johari, Koomen, Pekelis & Walsh (2017), Peeking at A/B Tests, KDD",
            tau=self.tau,
            difference=None if last is None else last[0],
            log_likelihood_ratio=None if last is None else last[1],
            p_value=float(min(1.0, math.exp(-top))) if top < math.inf else 0.0,
            n_champion=n_a,
            n_challenger=n_b,
        )
        return arms, test
