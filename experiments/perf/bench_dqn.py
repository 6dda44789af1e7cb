"""SB3 DQN training speed on the ad-delivery env against CartPole-v1, in the same run.

Question: does our environment (and `DQNAgent`'s wrapper and per-step callback) slow
SB3's DQN down relative to a classic-control env? The floor is `model.learn` on
CartPole-v1 with identical DQN hyperparameters, measured in the same process; the
target is the env's fps >= 80% of that floor. Second question: how does `DQNAgent` scale
with ``n_envs`` sub-envs of a Gymnasium vector env (through `agents.sb3.GymnasiumVecEnv`)?

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python experiments/perf/bench_dqn.py            # AdDelivery
    OMP_NUM_THREADS=1 .venv/bin/python experiments/perf/bench_dqn.py --env CartPole-v1
    OMP_NUM_THREADS=1 .venv/bin/python experiments/perf/bench_dqn.py --n-envs 1,4,8

Each measurement first runs past ``learning_starts`` (untimed), then times
``model.learn(steps)`` (steady state: acting, storing and training every ``train_freq``
steps); the median of ``--repeats`` runs is reported. Three rows:

- ``cartpole``: raw SB3 DQN on CartPole-v1 (the floor);
- ``env raw``: raw SB3 DQN on the env (behind the agent's eligibility wrapper when the
  env publishes action masks, since SB3 would otherwise pick ineligible actions);
- ``env DQNAgent``: ``DQNAgent.learn`` with a per-step `StepRecord` callback (which
  computes the behaviour propensity: one extra forward pass per step).

With ``--n-envs``, a second table times ``DQNAgent.learn`` (with the callback) on
``gymnasium.make_vec(env, N, vectorization_mode=--vectorization)`` for each N, as a
ratio to N = 1 in the same run. Two columns: SB3's own semantics (``train_freq`` counts
vector steps, so N sub-envs take N times fewer gradient steps per env step) and
``gradient_steps=N`` (the same gradient steps per env step as N = 1).

Measured (December 2026, ``--n-envs 1,4,8 --steps 2000 --repeats 3``, two runs on two
cores shared with other jobs, so absolute fps are low and noisy; ratios are same-run):
N = 4: 3.1x and 4.4x N = 1, N = 8: 7.8x and 12.7x; with ``gradient_steps=N`` 1.5x/1.6x
(N = 4) and 1.7x/2.3x (N = 8). Most of the first column's gain is fewer gradient steps
and one batched forward pass per N env steps; the second is the batching alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import gymnasium as gym  # noqa: E402
import torch  # noqa: E402
from stable_baselines3 import DQN  # noqa: E402

from agents.base import StepRecord  # noqa: E402
from agents.sb3 import DQNAgent, EligibleActionWrapper  # noqa: E402

DQN_KWARGS: dict[str, Any] = {
    "learning_rate": 1e-3,
    "buffer_size": 50_000,
    "learning_starts": 500,
    "batch_size": 32,
    "train_freq": 4,
    "gradient_steps": 1,
    "target_update_interval": 500,
    "exploration_fraction": 0.3,
    "policy_kwargs": {"net_arch": [64, 64]},
}


def make_env(env_id: str, env_kwargs: dict[str, Any]) -> gym.Env[Any, Any]:
    """``gymnasium.make(env_id)``; our ids are registered by importing ``envs``."""
    if env_id.startswith("alpharl/"):
        try:
            import envs  # noqa: F401  (registers alpharl/* ids)
        except ImportError as exc:
            raise SystemExit(f"{env_id}: the envs package cannot be imported ({exc})") from exc
    try:
        return gym.make(env_id, **env_kwargs)
    except gym.error.Error as exc:
        raise SystemExit(f"{env_id}: not registered ({exc}); try --env CartPole-v1") from exc


def has_masks(env: gym.Env[Any, Any]) -> bool:
    """Whether the env publishes ``info["action_mask"]``."""
    _, info = env.reset(seed=0)
    return "action_mask" in info


def raw_fps(env: gym.Env[Any, Any], steps: int, seed: int) -> float:
    """Steps per second of SB3's ``DQN.learn`` after the warm-up."""
    model = DQN("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **DQN_KWARGS)
    model.learn(DQN_KWARGS["learning_starts"] + 100)
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - start)


def agent_fps(env: gym.Env[Any, Any], steps: int, seed: int) -> float:
    """Steps per second of ``DQNAgent.learn`` with a per-step callback, after warm-up."""
    agent = DQNAgent(algo_kwargs=DQN_KWARGS, seed=seed)
    records = 0

    def callback(record: StepRecord) -> None:
        nonlocal records
        records += 1

    agent.learn(env, DQN_KWARGS["learning_starts"] + 100, callback)
    start = time.perf_counter()
    agent.learn(env, steps, callback)
    return steps / (time.perf_counter() - start)


def vector_fps(
    env_id: str, env_kwargs: dict[str, Any], n: int, mode: str, steps: int, seed: int, same: bool
) -> float:
    """Env steps per second of ``DQNAgent.learn`` on N sub-envs (callback on), after warm-up.

    Args:
        same: Take ``gradient_steps=n`` so gradient steps per env step match N = 1.
    """
    venv = gym.make_vec(env_id, num_envs=n, vectorization_mode=mode, **env_kwargs)
    kwargs = {**DQN_KWARGS, "gradient_steps": n if same else 1}
    agent = DQNAgent(algo_kwargs=kwargs, seed=seed, n_envs=n)
    agent.learn(venv, DQN_KWARGS["learning_starts"] + 100, lambda record: None)
    start = time.perf_counter()
    summary = agent.learn(venv, steps, lambda record: None)
    return summary.steps / (time.perf_counter() - start)


def vector_table(args: argparse.Namespace, env_kwargs: dict[str, Any]) -> None:
    """Print `DQNAgent` fps per ``n_envs`` and the ratio to N = 1, measured in this run."""
    ns = [int(v) for v in args.n_envs.split(",")]
    if 1 not in ns:
        ns = [1, *ns]
    if args.env.startswith("alpharl/"):
        import envs  # noqa: F401  (registers alpharl/* ids)
    fps: dict[tuple[int, bool], list[float]] = {(n, s): [] for n in ns for s in (False, True)}
    for rep in range(args.repeats):  # interleaved, as above
        for n in ns:
            for same in (False, True):
                fps[n, same].append(
                    vector_fps(args.env, env_kwargs, n, args.vectorization, args.steps, rep, same)
                )
    med = {k: statistics.median(v) for k, v in fps.items()}
    print(f"\nDQNAgent on {args.vectorization} vector envs, {args.steps} timed env steps")
    print(f"{'n_envs':>6}{'fps':>10}{'x N=1':>8}{'fps (grad=N)':>14}{'x N=1':>8}")
    for n in ns:
        a, b = med[n, False], med[n, True]
        base_a, base_b = med[1, False], med[1, True]
        print(f"{n:>6}{a:>10.0f}{a / base_a:>8.2f}{b:>14.0f}{b / base_b:>8.2f}")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the table and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="alpharl/AdDelivery-v0")
    parser.add_argument("--env-kwargs", default="{}", help="JSON kwargs for gymnasium.make")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-envs", default="", help="comma-separated sub-env counts, e.g. 1,4,8")
    parser.add_argument(
        "--vectorization", default="sync", help="gymnasium.make_vec's vectorization_mode"
    )
    parser.add_argument("--skip-floor", action="store_true", help="only the n_envs table")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    env_kwargs = json.loads(args.env_kwargs)
    if args.n_envs:
        vector_table(args, env_kwargs)
    if args.skip_floor:
        return

    env = make_env(args.env, env_kwargs)
    masked = has_masks(env)
    rows: dict[str, list[float]] = {"cartpole": [], "env raw": [], "env DQNAgent": []}
    cartpole = gym.make("CartPole-v1")
    for rep in range(args.repeats):  # interleaved, so drifting machine load hits all rows
        rows["cartpole"].append(raw_fps(cartpole, args.steps, rep))
        rows["env raw"].append(
            raw_fps(EligibleActionWrapper(env) if masked else env, args.steps, rep)
        )
        rows["env DQNAgent"].append(agent_fps(env, args.steps, rep))
    med = {k: statistics.median(v) for k, v in rows.items()}

    print(f"SB3 DQN fps, {args.steps} timed steps, median of {args.repeats}; env={args.env}")
    print(f"torch threads={torch.get_num_threads()}, masks={'yes' if masked else 'no'}")
    print(f"{'row':<14}{'fps':>10}   runs")
    for key, values in rows.items():
        print(f"{key:<14}{med[key]:>10.0f}   {', '.join(f'{v:.0f}' for v in values)}")
    env_ratio = med["env raw"] / med["cartpole"]
    agent_ratio = med["env DQNAgent"] / med["cartpole"]
    overhead = med["env DQNAgent"] / med["env raw"]
    verdict = "PASS" if env_ratio >= 0.8 else "BELOW TARGET"
    print(f"env raw / cartpole       = {env_ratio:.2f}  (target >= 0.80: {verdict})")
    print(f"env DQNAgent / cartpole  = {agent_ratio:.2f}")
    print(f"DQNAgent / raw (same env) = {overhead:.2f}  (wrapper + StepRecord callback cost)")


if __name__ == "__main__":
    main()
