"""Benchmark: AdDeliveryEnv steps per second against a trivial numpy env, same run.

Question: how much does a step of `envs.AdDeliveryEnv` (the click model, fatigue,
budget, mask, info and observation) cost compared with the cheapest possible Gymnasium
env of the same shape? Target: at least half the trivial env's steps/s.

Protocol. Both envs are driven by the same loop: read ``info["action_mask"]``, pick an
eligible action uniformly at random, step, reset when the episode ends. Two drivers pick
the action: ``lean`` (``np.flatnonzero`` on the mask and a pre-drawn uniform; about 1 us)
and ``gymnasium`` (``env.action_space.sample(mask=...)``, the usual Gymnasium idiom; about
10 us). The floor is `TrivialEnv`: a ``gymnasium.Env`` with the same Box and ``Discrete(K+1)``
spaces whose ``step`` returns a preallocated random float32 vector, reward 0, never ends,
and an all-True preallocated mask (so the driver does the same work). Both are timed
unwrapped (no ``gymnasium.make`` checker wrappers). Each configuration is timed
``--repeats`` times, interleaved, and the best run is kept (the CPU is shared).

Rows: the floor; AdDeliveryEnv with defaults (budget 10: episodes end by budget after
about 550 steps); with a budget that never binds (``budget=1e6``); and with
``fatigue_cap``. The ``lean`` ratio is the strict one: the floor's time per step is then
mostly the driver's own, so the env's own cost is the difference in us/step. Note that
Gymnasium 1.x requires fresh observation and info arrays on every step (``check_env``
tests it), which the floor does not pay for.

Usage: ``python experiments/perf/bench_env.py [--steps 100000] [--repeats 5]
[--source synthetic|tweets|random]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from alpharl.schema import ENRICHED_POST_SCHEMA, TOPICS  # noqa: E402
from envs import AdDeliveryEnv  # noqa: E402


class TrivialEnv(gym.Env[np.ndarray, np.int64]):
    """The floor: same spaces, returns one preallocated random vector, reward 0."""

    def __init__(self, dim: int, n_actions: int) -> None:
        self.observation_space = gym.spaces.Box(0.0, 1.0, (dim,), np.float32)
        self.action_space = gym.spaces.Discrete(n_actions)
        self._obs = np.random.default_rng(0).random(dim, dtype=np.float32)
        self._info = {"action_mask": np.ones(n_actions, dtype=bool)}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        return self._obs, self._info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        return self._obs, 0.0, False, False, self._info


def drive(env: gym.Env[np.ndarray, Any], steps: int, driver: str, seed: int = 0) -> float:
    """Steps per second of the shared driver loop on ``env``."""
    u = np.random.default_rng(seed).random(steps)
    _, info = env.reset(seed=seed)
    env.action_space.seed(seed)
    lean = driver == "lean"
    start = time.perf_counter()
    for t in range(steps):
        if lean:
            eligible = np.flatnonzero(info["action_mask"])
            action = int(eligible[int(u[t] * len(eligible))])
        else:
            action = int(env.action_space.sample(mask=info["action_mask"].astype(np.int8)))
        _, _, terminated, truncated, info = env.step(action)
        if terminated or truncated:
            _, info = env.reset()
    return steps / (time.perf_counter() - start)


def random_table(n: int = 5000, n_users: int = 200, seed: int = 0) -> pa.Table:
    """A seeded enriched table filled with numpy (no enrichers), for ``--source random``."""
    rng = np.random.default_rng(seed)
    start = 1_704_067_200_000_000  # 2024-01-01 UTC, in microseconds
    cols: dict[str, Any] = {
        "created_at": pa.array(
            np.sort(rng.integers(0, 7 * 86_400_000_000, n)) + start,
            type=pa.timestamp("us", tz="UTC"),
        ),
        "author_id": pa.array([f"u{u}" for u in rng.integers(0, n_users, n)]),
        "topic": pa.array([TOPICS[i] for i in rng.integers(0, len(TOPICS), n)]),
    }
    for name, k in (("sentiment", 4), ("emotion", 7), ("intent", 5)):
        values = rng.dirichlet(np.ones(k), n).astype(np.float32)
        fields = [f.name for f in ENRICHED_POST_SCHEMA if f.name.startswith(name + "_")]
        for j, field in enumerate(fields):
            cols[field] = pa.array(values[:, j])
    return pa.table(cols)


def posts(source: str) -> pa.Table:
    """The enriched stream to replay."""
    if source == "random":
        return random_table()
    from envs import synthetic_posts, tweets_posts

    return synthetic_posts() if source == "synthetic" else tweets_posts()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--source", choices=("synthetic", "tweets", "random"), default="synthetic")
    args = parser.parse_args()
    table = posts(args.source)
    configs = {
        "AdDeliveryEnv (defaults)": {},
        "AdDeliveryEnv (budget never binds)": {"budget": 1e6},
        "AdDeliveryEnv (fatigue_cap=2)": {"fatigue_cap": 2.0},
    }
    envs = {name: AdDeliveryEnv(posts=table, **kw) for name, kw in configs.items()}
    first = next(iter(envs.values()))
    dim, n_actions = first.observation_space.shape[0], int(first.action_space.n)
    rows: dict[str, gym.Env[np.ndarray, Any]] = {
        "trivial numpy env (floor)": TrivialEnv(dim, n_actions)
    }
    rows.update(envs)
    floor_name = "trivial numpy env (floor)"
    print(f"source={args.source} posts={table.num_rows} obs dim={dim} actions={n_actions}")
    print(f"steps per run={args.steps} repeats={args.repeats} (best run kept)")
    ratios = {}
    for driver, steps in (("lean", args.steps), ("gymnasium", max(args.steps // 5, 1))):
        best = dict.fromkeys(rows, 0.0)
        for _ in range(args.repeats):
            for name, env in rows.items():
                best[name] = max(best[name], drive(env, steps, driver))
        floor = best[floor_name]
        print(f"\ndriver={driver} ({steps} steps per run)")
        print(f"{'env':40s} {'steps/s':>10s} {'us/step':>8s} {'ratio':>6s}")
        for name, rate in best.items():
            print(f"{name:40s} {rate:10.0f} {1e6 / rate:8.2f} {rate / floor:6.2f}")
        ratios[driver] = best["AdDeliveryEnv (defaults)"] / floor
    for driver, ratio in ratios.items():
        verdict = "meets" if ratio >= 0.5 else "is below"
        print(
            f"ratio AdDeliveryEnv/trivial, {driver} driver = {ratio:.2f} ({verdict} the 0.5 target)"
        )


if __name__ == "__main__":
    main()
