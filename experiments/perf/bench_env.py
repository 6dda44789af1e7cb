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
about 550 steps); with a budget that never binds (``budget=1e6``); with
``fatigue_cap``; and with defaults but the hindsight LP not solved at reset (this script
swaps in a solver that returns zeros: the difference to the defaults row is what the
bound's once-per-episode solve costs per step). The ``lean`` ratio is the strict one: the
floor's time per step is then mostly the driver's own, so the env's own cost is the
difference in us/step. Note that Gymnasium 1.x requires fresh observation and info
arrays on every step (``check_env`` tests it), which the floor does not pay for. Neither
driver goes through ``gymnasium.make``: every env is timed unwrapped.

Vector section (``--vector``, on by default): aggregate env-steps per second of N
campaigns, N = 1, 64 and 1,024, stepped three ways: `envs.AdDeliveryVectorEnv` (native,
numpy over arrays); ``gymnasium.vector.SyncVectorEnv`` of N single envs; and N single
envs stepped one after another in a Python loop. Actions are uniform over each mask,
drawn for all N at once from the batched ``info["action_mask"]`` (a cumsum trick, the
same for the native and the Sync env; the loop uses the lean driver per env). The N
single envs of the last two share one precomputed stream (shallow copies with their
own fatigue counters and generators), because 1,024 full builds would take minutes and
gigabytes; that sharing does not change a step's cost. Targets: at least 1,000,000
env-steps/s at N = 1,024 and at least 10x the single env's lean rate in the same run.

Usage: ``python experiments/perf/bench_env.py [--steps 100000] [--repeats 5]
[--source synthetic|tweets|random] [--vector-steps 200000] [--no-vector]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import copy  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from functools import partial  # noqa: E402
from typing import Any  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from alpharl.schema import ENRICHED_POST_SCHEMA, TOPICS  # noqa: E402
from envs import AdDeliveryEnv, AdDeliveryVectorEnv  # noqa: E402
from envs.click_models import FatigueCounter  # noqa: E402


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


class NoLP:
    """Stand-in for the hindsight LP solver (this benchmark only): returns zeros."""

    def solve(self, lo: int, hi: int, budget: float) -> tuple[float, float]:
        return 0.0, 0.0


def without_lp(env: AdDeliveryEnv) -> AdDeliveryEnv:
    """``env`` with the once-per-episode LP solve skipped (to time what it costs)."""
    env._hindsight = NoLP()  # type: ignore[assignment]
    return env


def lp_cost(table: pa.Table, episodes: int = 30) -> tuple[float, float]:
    """Best-of-5 us per hindsight LP solve, and mean episode length under the greedy oracle."""
    env = AdDeliveryEnv(posts=table)
    lengths = []
    for seed in range(episodes):
        _, info = env.reset(seed=seed)
        steps, done = 0, False
        while not done:
            _, _, terminated, truncated, info = env.step(info["best_action"])
            steps, done = steps + 1, terminated or truncated
        lengths.append(steps)
    starts = np.random.default_rng(0).integers(0, env.n_posts - env.horizon, 50)
    best = np.inf
    for _ in range(5):
        t0 = time.perf_counter()
        for s in starts:
            env._hindsight.solve(int(s), int(s) + env.horizon, env.budget)
        best = min(best, (time.perf_counter() - t0) / len(starts))
    return best * 1e6, float(np.mean(lengths))


def clone(env: AdDeliveryEnv) -> AdDeliveryEnv:
    """A single env sharing ``env``'s precomputed stream, with its own mutable state."""
    other = copy.copy(env)
    other._fatigue = FatigueCounter(
        len(env.user_ids), env.n_creatives + 1, env._fatigue.half_life_s
    )
    other._over_clip = set()
    other._np_random = None
    return other


def sample(masks: np.ndarray, u: np.ndarray) -> np.ndarray:
    """One uniform eligible action per row of ``masks`` from uniforms ``u``."""
    counts = masks.cumsum(axis=1)
    return (counts > (u * counts[:, -1])[:, None]).argmax(axis=1)


def drive_vector(env: Any, vec_steps: int, seed: int = 0) -> float:
    """Aggregate env-steps/s of a vector env (native or Sync) over ``vec_steps`` steps."""
    n = env.num_envs
    u = np.random.default_rng(seed).random((vec_steps, n))
    _, info = env.reset(seed=seed)
    start = time.perf_counter()
    for t in range(vec_steps):
        _, _, _, _, info = env.step(sample(info["action_mask"], u[t]))
    return vec_steps * n / (time.perf_counter() - start)


def drive_loop(envs: list[AdDeliveryEnv], vec_steps: int, seed: int = 0) -> float:
    """Aggregate env-steps/s of N single envs stepped in turn (lean driver each)."""
    u = np.random.default_rng(seed).random((vec_steps, len(envs)))
    infos = [env.reset(seed=seed + j)[1] for j, env in enumerate(envs)]
    start = time.perf_counter()
    for t in range(vec_steps):
        for j, env in enumerate(envs):
            eligible = np.flatnonzero(infos[j]["action_mask"])
            _, _, terminated, truncated, infos[j] = env.step(
                int(eligible[int(u[t, j] * len(eligible))])
            )
            if terminated or truncated:
                _, infos[j] = env.reset()
    return vec_steps * len(envs) / (time.perf_counter() - start)


def vector_section(table: pa.Table, total: int, repeats: int, single_rate: float) -> None:
    """Print the vector rows: native vector env, SyncVectorEnv, N single envs in a loop."""
    print(f"\nvector envs: aggregate env-steps/s, about {total} env-steps per run")
    print(f"{'N':>5s} {'way':36s} {'steps/s':>11s} {'x single':>8s}")
    template = AdDeliveryEnv(posts=table)
    native_1024 = 0.0
    for n in (1, 64, 1024):
        vec_steps = max(total // n, 20)
        native = AdDeliveryVectorEnv(n, posts=table)
        singles = [clone(template) for _ in range(n)]
        sync = gym.vector.SyncVectorEnv([partial(clone, template) for _ in range(n)])
        ways: dict[str, Callable[[], float]] = {
            "AdDeliveryVectorEnv (native)": partial(drive_vector, native, vec_steps),
            "SyncVectorEnv of single envs": partial(drive_vector, sync, max(vec_steps // 10, 5)),
            "N single envs, Python loop": partial(drive_loop, singles, max(vec_steps // 10, 5)),
        }
        for way, run in ways.items():
            rate = max(run() for _ in range(repeats))
            if n == 1024 and way.endswith("(native)"):
                native_1024 = rate
            print(f"{n:5d} {way:36s} {rate:11.0f} {rate / single_rate:8.1f}")
    ok = "meets" if native_1024 >= 1_000_000 else "misses"
    ok10 = "meets" if native_1024 >= 10 * single_rate else "misses"
    print(f"native N=1024: {native_1024:,.0f} env-steps/s ({ok} the 1,000,000 target); ")
    print(f"{native_1024 / single_rate:.1f}x the single env's lean rate ({ok10} the 10x target)")


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
    parser.add_argument("--vector-steps", type=int, default=200_000)
    parser.add_argument("--no-vector", action="store_true")
    args = parser.parse_args()
    table = posts(args.source)
    configs: dict[str, dict[str, Any]] = {
        "AdDeliveryEnv (defaults)": {},
        "AdDeliveryEnv (budget never binds)": {"budget": 1e6},
        "AdDeliveryEnv (fatigue_cap=2)": {"fatigue_cap": 2.0},
    }
    envs = {name: AdDeliveryEnv(posts=table, **kw) for name, kw in configs.items()}
    envs["AdDeliveryEnv (defaults, LP skipped)"] = without_lp(AdDeliveryEnv(posts=table))
    first = next(iter(envs.values()))
    dim, n_actions = first.feature_spec.dim, first.n_creatives + 1
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
        if driver == "lean":
            single_rate = best["AdDeliveryEnv (defaults)"]
            lp_share = 1 - single_rate / best["AdDeliveryEnv (defaults, LP skipped)"]
    for driver, ratio in ratios.items():
        verdict = "meets" if ratio >= 0.5 else "is below"
        print(
            f"ratio AdDeliveryEnv/trivial, {driver} driver = {ratio:.2f} ({verdict} the 0.5 target)"
        )
    solve_us, episode = lp_cost(table)
    direct = solve_us / episode / (1e6 / single_rate)
    verdict = "within" if direct <= 0.10 else "over"
    print(
        f"hindsight LP: {solve_us:.0f} us per episode solve, episodes of {episode:.0f} steps "
        f"(greedy oracle): {direct:.1%} of a lean step ({verdict} the 10% budget); "
        f"rate difference with the LP skipped: {lp_share:.1%} (noisier)"
    )
    if not args.no_vector:
        vector_section(table, args.vector_steps, args.repeats, single_rate)


if __name__ == "__main__":
    main()
