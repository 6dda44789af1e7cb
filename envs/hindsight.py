"""The hindsight bound: an LP upper bound on any policy's expected episode reward.

An episode of `envs.AdDeliveryEnv` offers a fixed sequence of opportunities (posts
``start .. start + length - 1``, fixed at reset whatever the agent does). Its fractional
relaxation, with ``r[i, k]`` the expected reward of creative ``k`` on post ``i`` at zero
fatigue and ``c[k]`` its cost, is

    maximise   sum_ik x[i, k] r[i, k]
    subject to sum_k x[i, k] <= 1  (one creative per opportunity, or none),
               sum_ik x[i, k] c[k] <= B,  x >= 0.

One coupling constraint makes the Lagrangian dual one-dimensional and convex:

    g(lam) = lam B + sum_i max(0, max_k r[i, k] - lam c[k]),   lam >= 0,

and every ``g(lam)`` is an upper bound of the LP (weak duality), equal to its optimum at
the minimiser ``lam*`` (strong duality). ``g`` is piecewise linear with kinks where a
post's best option changes: the breakpoints of each post's upper envelope of the lines
``r[i, k] - lam c[k]``. They do not depend on the episode, so `HindsightLP` computes them
once per stream; solving an episode sorts the breakpoints of its posts (at most ``T K``)
and finds where the spend of the per-post best options crosses ``B``: O(T K log(T K)),
in practice about one breakpoint per post.
The bound is then evaluated as ``g(lam*)`` directly from the rewards, so it is a valid
bound even if the breakpoint search were off by rounding (any ``lam >= 0`` is one).

This is the Lagrangian relaxation of the multiple-choice knapsack problem (Sinha &
Zoltners, *The Multiple-Choice Knapsack Problem*, Operations Research 27(3), 1979), the
offline benchmark of online allocation with one budget (Balseiro, Lu & Mirrokni, *Dual
Mirror Descent for Online Allocation Problems*, ICML 2020).
"""

from __future__ import annotations

import numpy as np


class HindsightLP:
    """Per-post envelopes of zero-fatigue expected rewards; solves each episode's LP.

    Args:
        rewards: ``(n_posts, K)`` expected reward of each creative on each post.
        costs: ``(K,)`` cost per impression of each creative (>= 0).
    """

    def __init__(self, rewards: np.ndarray, costs: np.ndarray) -> None:
        rewards = np.asarray(rewards, dtype=np.float64)
        costs = np.asarray(costs, dtype=np.float64)
        if rewards.ndim != 2 or costs.shape != (rewards.shape[1],):
            raise ValueError(
                f"rewards, costs: need shapes (n, K) and (K,) (got {rewards.shape}, {costs.shape})"
            )
        if np.any(costs < 0) or not np.all(np.isfinite(costs)):
            raise ValueError(f"costs: must be finite and >= 0 (got {costs.tolist()})")
        self.rewards, self.costs = rewards, costs
        free = costs == 0
        # Zero-cost creatives never touch the budget: a post's floor is its best free option.
        base = np.zeros(len(rewards))
        if free.any():
            base = np.maximum(base, rewards[:, free].max(axis=1))
        self.base = base
        lam, dc = self._breakpoints(rewards[:, ~free], costs[~free], base)
        # Keep only real switches, flattened in post order (CSR): most posts have one or
        # two, so an episode sorts about T of them rather than T K.
        live = dc > 0
        self.lam, self.dc = lam[live], dc[live]
        self.ptr = np.concatenate([[0], np.cumsum(live.sum(axis=1))])

    @staticmethod
    def _breakpoints(
        r: np.ndarray, c: np.ndarray, base: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Walk each post's upper envelope from ``lam = inf`` (no spend) down to 0.

        Returns ``(n, P)`` arrays: the multiplier at which the post's best option switches
        to a costlier one, and the extra spend of that switch (0 where no switch remains).
        """
        n, p = r.shape
        lam, dc = np.zeros((n, p)), np.zeros((n, p))
        if p == 0:
            return lam, dc
        order = np.argsort(-c, kind="stable")  # ties in slope: the costlier option wins
        r, c = r[:, order], c[order]
        cur_r, cur_c = base.copy(), np.zeros(n)
        rows = np.arange(n)
        for step in range(p):
            gain, extra = r - cur_r[:, None], c[None, :] - cur_c[:, None]
            ok = (gain > 0) & (extra > 0)
            ratio = np.where(ok, gain / np.where(ok, extra, 1.0), -np.inf)
            j = ratio.argmax(axis=1)
            best = ratio[rows, j]
            live = best > -np.inf
            if not live.any():
                break
            lam[live, step] = best[live]
            dc[live, step] = extra[rows, j][live]
            cur_r = np.where(live, r[rows, j], cur_r)
            cur_c = np.where(live, c[j], cur_c)
        return lam, dc

    def dual(self, lo: int, hi: int, lam: float, budget: float) -> float:
        """``g(lam)`` for posts ``lo .. hi - 1``: an upper bound on the LP for any ``lam >= 0``."""
        net = (self.rewards[lo:hi] - lam * self.costs).max(axis=1)
        return float(lam * budget + np.maximum(net, self.base[lo:hi]).sum())

    def solve(self, lo: int, hi: int, budget: float) -> tuple[float, float]:
        """The LP optimum and its multiplier ``lam*`` for posts ``lo .. hi - 1``.

        Args:
            lo: First post of the episode.
            hi: One past its last post.
            budget: The episode's budget ``B``.

        Returns:
            ``(bound, lam*)``: ``bound = g(lam*)``, the optimum of the relaxation.
        """
        a, b = self.ptr[lo], self.ptr[hi]
        lam, dc = self.lam[a:b], self.dc[a:b]
        total = float(dc.sum())
        if total <= budget:
            return self.dual(lo, hi, 0.0, budget), 0.0  # the budget does not bind
        order = np.argsort(lam)
        spent_below = np.cumsum(dc[order])  # spend given up once lam passes each breakpoint
        j = int(np.searchsorted(spent_below, total - budget, side="left"))
        star = float(lam[order[min(j, len(order) - 1)]])
        return self.dual(lo, hi, star, budget), star
