"""Benchmark: our LinUCB and linear Thompson sampling against MABWiser's, round by round.

Question: on the same synthetic linear problem, how many online rounds per second do
`agents.bandits.LinUCB` / `LinearThompsonSampling` process compared with MABWiser's
``LearningPolicy.LinUCB`` / ``LinTS`` (predict one row, then partial_fit it), and is our
cumulative regret no worse? Everything is measured in this run, single-threaded.

Protocol. Every learner sees the same contexts and the same noisy rewards. Before the
timed rounds each learner is warm-started identically with one round per arm (MABWiser
needs a ``fit`` before it can predict). Then, per round: decide on ``x_t``, receive the
reward of the chosen arm, update. Regret is ``max_a x_t' theta_a - x_t' theta_chosen``.

Rows:
  * ``numpy floor``: a bare LinUCB loop (scores, argmax, Sherman–Morrison) with no input
    checks, masks or propensities; the cost of the arithmetic alone.
  * ``ours, one at a time``: ``act(x)`` then ``update(x, a, r)``, the online protocol.
    Our act also returns a propensity, which MABWiser does not compute (LinTS: the
    action is drawn from the win frequencies of 1000 fixed score draws, so the logged
    propensity is exact).
  * ``ours, batches of B``: ``act_batch`` on B contexts, then ``update_batch``. This is
    *delayed feedback*, a different protocol (decisions in a batch do not see each
    other's rewards); shown for throughput, with its own regret.
  * ``MABWiser``: ``predict`` then ``partial_fit`` per round (it re-inverts A per fit).
  * ``reference LinTS``: the textbook algorithm, slow, for the regret comparison: MABWiser's
    LinTS gives every arm a copy of one generator, so its arms' draws are identical normals
    (checked and printed below) and its regret is that of a different, correlated sampler.
    Ours draws other random numbers than the reference, so their regrets agree only in
    distribution, not round by round; that our score sampling has the definition's action
    distribution is a test (tests/policy/test_thompson_exact.py), not this benchmark.
  * ``n_samples=100``: our LinTS with 100 draws defining its distribution, to show the
    share of the 1000-draw default's cost.

A second table times N independent learners (one per seed or campaign), each deciding
and learning one row per round: N single agents in a Python loop (``act`` then
``update``) against one `BatchedLinUCB` / `BatchedLinearThompsonSampling` (``act`` on
``(N, d)`` then ``update``), whose learner ``i`` makes the same decisions as single agent
``i`` (tests/agents/test_batched.py); the ratio is decisions/s batched over looped. Then
the same end to end on the default environment (`learn_loops`): N single ``learn`` loops
against `BatchedLinUCB.learn` on ``SyncVectorEnv`` and on the native vector env.

A last table documents why our LinTS samples each arm's score ``x' theta_a`` (one normal
per arm) instead of ``theta_a`` through a Cholesky factor of ``A_a^-1``: per-decision
sampling cost of the three ways, with the factor recomputed after every update or cached.

Usage: ``python experiments/perf/bench_bandits.py [--rounds 3000] [--seeds 3]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from functools import partial  # noqa: E402

import numpy as np  # noqa: E402

from agents.bandits import (  # noqa: E402
    BatchedLinearThompsonSampling,
    BatchedLinUCB,
    LinearThompsonSampling,
    LinUCB,
)


@dataclass(frozen=True)
class Problem:
    """Contexts, expected rewards and noisy rewards for every round and arm."""

    contexts: np.ndarray  # (k + rounds, d)
    expected: np.ndarray  # (k + rounds, k)
    rewards: np.ndarray  # (k + rounds, k)
    k: int


def make_problem(d: int, k: int, rounds: int, seed: int, noise: float) -> Problem:
    """x ~ N(0, I_d), theta_a ~ N(0, I_d / d), reward = x' theta_a + N(0, noise^2)."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, 1.0 / np.sqrt(d), (k, d))
    x = rng.normal(size=(k + rounds, d))
    expected = x @ theta.T
    return Problem(x, expected, expected + rng.normal(0.0, noise, expected.shape), k)


@dataclass
class Result:
    seconds: float
    regret: float


Step = Callable[[np.ndarray, int], int]  # (context, round index) -> chosen arm


def run_online(p: Problem, decide_and_learn: Step) -> Result:
    """Time the online rounds after the warm start; sum the regret."""
    rounds = range(p.k, len(p.contexts))
    chosen = np.empty(len(rounds), dtype=np.int64)
    start = time.perf_counter()
    for i, t in enumerate(rounds):
        chosen[i] = decide_and_learn(p.contexts[t], t)
    seconds = time.perf_counter() - start
    exp = p.expected[p.k :]
    regret = float((exp.max(axis=1) - exp[np.arange(len(chosen)), chosen]).sum())
    return Result(seconds, regret)


def ours_online(p: Problem, agent: LinUCB | LinearThompsonSampling) -> Result:
    warm = np.arange(p.k)
    agent.update_batch(p.contexts[: p.k], warm, p.rewards[warm, warm])

    def step(x: np.ndarray, t: int) -> int:
        action, _propensity = agent.act(x)
        agent.update(x, action, float(p.rewards[t, action]))
        return action

    return run_online(p, step)


def ours_batched(p: Problem, agent: LinUCB | LinearThompsonSampling, batch: int) -> Result:
    warm = np.arange(p.k)
    agent.update_batch(p.contexts[: p.k], warm, p.rewards[warm, warm])
    n = len(p.contexts) - p.k
    chosen = np.empty(n, dtype=np.int64)
    start = time.perf_counter()
    for lo in range(p.k, len(p.contexts), batch):
        x = p.contexts[lo : lo + batch]
        actions, _propensities = agent.act_batch(x)
        agent.update_batch(x, actions, p.rewards[lo + np.arange(len(x)), actions])
        chosen[lo - p.k : lo - p.k + len(x)] = actions
    seconds = time.perf_counter() - start
    exp = p.expected[p.k :]
    return Result(seconds, float((exp.max(axis=1) - exp[np.arange(n), chosen]).sum()))


def numpy_floor(p: Problem, alpha: float) -> Result:
    """Bare LinUCB: the arithmetic with nothing around it."""
    d = p.contexts.shape[1]
    a_inv = np.tile(np.eye(d), (p.k, 1, 1))
    theta = np.zeros((p.k, d))
    flat = a_inv.reshape(p.k * d, d)

    def learn(x: np.ndarray, a: int, r: float) -> None:
        u = a_inv[a] @ x
        su = u / (1.0 + x @ u)
        theta[a] += (r - x @ theta[a]) * su
        a_inv[a] -= np.outer(u, su)

    for a in range(p.k):
        learn(p.contexts[a], a, p.rewards[a, a])

    def step(x: np.ndarray, t: int) -> int:
        width = np.sqrt((flat @ x).reshape(p.k, d) @ x)
        a = int(np.argmax(theta @ x + alpha * width))
        learn(x, a, p.rewards[t, a])
        return a

    return run_online(p, step)


def mabwiser_online(p: Problem, policy: object, seed: int) -> Result:
    from mabwiser.mab import MAB

    mab = MAB(arms=list(range(p.k)), learning_policy=policy, seed=seed)
    warm = np.arange(p.k)
    mab.fit(decisions=warm.tolist(), rewards=p.rewards[warm, warm], contexts=p.contexts[: p.k])

    def step(x: np.ndarray, t: int) -> int:
        row = x[None, :]
        arm = int(mab.predict(row))
        mab.partial_fit([arm], [p.rewards[t, arm]], row)
        return arm

    return run_online(p, step)


def reference_lints(p: Problem, v: float, seed: int) -> Result:
    """Linear TS by the definition (Agrawal & Goyal, 2013): per round and arm, invert
    ``A_a``, draw ``theta_a ~ N(A_a^-1 b_a, v^2 A_a^-1)`` independently, play the best."""
    d = p.contexts.shape[1]
    rng = np.random.default_rng(10_000 + seed)
    big_a, b = np.tile(np.eye(d), (p.k, 1, 1)), np.zeros((p.k, d))

    def learn(x: np.ndarray, a: int, r: float) -> None:
        big_a[a] += np.outer(x, x)
        b[a] += r * x

    for a in range(p.k):
        learn(p.contexts[a], a, p.rewards[a, a])

    def step(x: np.ndarray, t: int) -> int:
        scores = []
        for a in range(p.k):
            cov = np.linalg.inv(big_a[a])
            theta = rng.multivariate_normal(cov @ b[a], v * v * cov, method="cholesky")
            scores.append(x @ theta)
        a = int(np.argmax(scores))
        learn(x, a, p.rewards[t, a])
        return a

    return run_online(p, step)


def mabwiser_arms_share_noise(seed: int) -> bool:
    """Whether MABWiser's fitted LinTS arm models draw identical normals.

    ``_Linear._fit_arm`` deep-copies each arm's model, generator included, so after
    ``fit`` every arm holds a copy of the same generator state and all arms' Thompson draws
    use the same ``z``: their sampled scores are correlated, not independent posteriors.
    """
    from mabwiser.mab import MAB, LearningPolicy

    rng = np.random.default_rng(seed)
    mab = MAB(arms=[0, 1, 2], learning_policy=LearningPolicy.LinTS(alpha=1.0), seed=seed)
    mab.fit(decisions=[0, 1, 2], rewards=[0.0, 1.0, 0.5], contexts=rng.normal(size=(3, 4)))
    draws = [m.rng.standard_normal(4) for m in mab._imp.arm_to_model.values()]
    return all(np.array_equal(draws[0], other) for other in draws[1:])


def batched_vs_looped(d: int, k: int, n: int, rounds: int, v: float, alpha: float) -> list:
    """Decisions/s of N single agents looped vs one batched learner, both algorithms."""
    rng = np.random.default_rng(0)
    theta = rng.normal(0.0, 1.0 / np.sqrt(d), (n, k, d))
    x = rng.normal(size=(rounds, n, d))
    noise = rng.normal(0.0, 0.5, (rounds, n))
    rows = []
    for algo, single, batched in [
        ("LinUCB", partial(LinUCB, k, d, alpha), partial(BatchedLinUCB, n, k, d, alpha)),
        (
            "LinTS",
            partial(LinearThompsonSampling, k, d, v),
            partial(BatchedLinearThompsonSampling, n, k, d, v),
        ),
    ]:
        agents = [single(seed=i) for i in range(n)]
        start = time.perf_counter()
        for t in range(rounds):
            for i, agent in enumerate(agents):
                a, _ = agent.act(x[t, i])
                agent.update(x[t, i], a, float(x[t, i] @ theta[i, a] + noise[t, i]))
        looped = rounds * n / (time.perf_counter() - start)
        learners = batched(seeds=list(range(n)))
        idx = np.arange(n)
        start = time.perf_counter()
        for t in range(rounds):
            acts, _ = learners.act(x[t])
            rewards = np.einsum("nd,nd->n", x[t], theta[idx, acts]) + noise[t]
            learners.update(x[t], acts, rewards)
        together = rounds * n / (time.perf_counter() - start)
        rows.append((algo, n, looped, together))
    return rows


def learn_loops(n: int, steps: int) -> dict[str, float]:
    """Decisions/s of N LinUCB learners on the default env, end to end (env included).

    ``N agent.learn``: N single agents, each ``learn`` on its own `AdDeliveryEnv`, one
    after the other; ``batched, SyncVectorEnv`` / ``batched, native vector env``:
    `BatchedLinUCB.learn` on Gymnasium's ``SyncVectorEnv`` of N single envs / on
    ``gym.make_vec(..., vectorization_mode="vector_entry_point")``. All three make the
    same decisions (tests/agents/test_batched.py).
    """
    import gymnasium as gym

    import envs

    posts = envs.synthetic_posts()
    out = {}
    start = time.perf_counter()
    for seed in range(n):
        env = envs.AdDeliveryEnv(posts)
        LinUCB(int(env.action_space.n), env.observation_space.shape[0], seed=seed).learn(env, steps)
    out["N agent.learn"] = n * steps / (time.perf_counter() - start)
    vectors = {
        "batched, SyncVectorEnv": gym.vector.SyncVectorEnv(
            [lambda: envs.AdDeliveryEnv(posts) for _ in range(n)]
        ),
        "batched, native vector env": gym.make_vec(
            envs.AD_DELIVERY_ID, num_envs=n, vectorization_mode="vector_entry_point", posts=posts
        ),
    }
    for name, venv in vectors.items():
        k, d = int(venv.single_action_space.n), venv.single_observation_space.shape[0]
        learners = BatchedLinUCB(n, k, d, seeds=list(range(n)))
        start = time.perf_counter()
        learners.learn(venv, steps)
        out[name] = n * steps / (time.perf_counter() - start)
    return out


def sampling_costs(d: int, k: int, repeats: int = 3000) -> dict[str, float]:
    """Microseconds per Thompson decision for one context, three ways."""
    rng = np.random.default_rng(0)
    m = rng.normal(size=(k, d, d))
    a_inv = np.linalg.inv(m @ np.swapaxes(m, 1, 2) + d * np.eye(d))
    theta, x = rng.normal(size=(k, d)), rng.normal(size=d)
    chol = np.linalg.cholesky(a_inv)
    flat = a_inv.reshape(k * d, d)

    def fresh_factor() -> int:  # one arm was updated: refactor it, then sample every theta
        chol[0] = np.linalg.cholesky(a_inv[0])
        return cached_factor()

    def cached_factor() -> int:  # theta_a = mu_a + L_a z, scores x' theta_a
        z = rng.standard_normal((k, d))
        return int(np.argmax((theta + np.einsum("aij,aj->ai", chol, z)) @ x))

    def score_sampling() -> int:  # x' theta_a ~ N(x' mu_a, x' A_a^-1 x): one normal per arm
        width = np.sqrt((flat @ x).reshape(k, d) @ x)
        return int(np.argmax(theta @ x + width * rng.standard_normal(k)))

    out = {}
    for name, fn in [
        ("theta via Cholesky, refactored each update", fresh_factor),
        ("theta via cached Cholesky (refactor every k updates, k large)", cached_factor),
        ("score sampling (ours)", score_sampling),
    ]:
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        out[name] = (time.perf_counter() - start) / repeats * 1e6
    return out


def _summary(results: list[Result], rounds: int) -> tuple[float, float, float]:
    """Rounds/s of the fastest seed (least disturbed by other load, as timeit does),
    and the mean and sd of the cumulative regret over seeds."""
    per_s = rounds / min(r.seconds for r in results)
    regrets = [r.regret for r in results]
    sd = statistics.stdev(regrets) if len(regrets) > 1 else 0.0
    return per_s, statistics.mean(regrets), sd


def mabwiser_tables(args: argparse.Namespace) -> None:
    """The tables against MABWiser and the textbook LinTS (see the module docstring)."""
    warnings.filterwarnings("ignore")  # MABWiser/pandas deprecation chatter
    from mabwiser.mab import LearningPolicy

    d, k, n = args.features, args.arms, args.rounds
    problems = [make_problem(d, k, n, seed, args.noise) for seed in range(args.seeds)]
    linucb = LearningPolicy.LinUCB(alpha=args.alpha, l2_lambda=1.0)
    lints = LearningPolicy.LinTS(alpha=args.v, l2_lambda=1.0)
    rows: dict[str, dict[str, list[Result]]] = {"LinUCB": {}, "LinTS": {}}
    for seed, p in enumerate(problems):
        ucb = partial(LinUCB, k, d, args.alpha, seed=seed)
        ts = partial(LinearThompsonSampling, k, d, args.v, seed=seed)
        batched = f"ours, batches of {args.batch} (delayed)"
        runs: list[tuple[str, str, Callable[[], Result]]] = [
            ("LinUCB", "numpy floor", partial(numpy_floor, p, args.alpha)),
            ("LinUCB", "ours, one at a time", partial(ours_online, p, ucb())),
            ("LinUCB", batched, partial(ours_batched, p, ucb(), args.batch)),
            ("LinUCB", "MABWiser LinUCB", partial(mabwiser_online, p, linucb, seed)),
            ("LinTS", "ours, one at a time", partial(ours_online, p, ts())),
            (
                "LinTS",
                "ours, one at a time, n_samples=100",
                partial(ours_online, p, ts(n_samples=100)),
            ),
            ("LinTS", batched, partial(ours_batched, p, ts(), args.batch)),
            ("LinTS", "MABWiser LinTS", partial(mabwiser_online, p, lints, seed)),
            ("LinTS", "reference LinTS (definition)", partial(reference_lints, p, args.v, seed)),
        ]
        for algo, name, run in runs:
            rows[algo].setdefault(name, []).append(run())

    print(
        f"bench_bandits: d={d}, arms={k}, rounds={n} after a {k}-round warm start, "
        f"{args.seeds} problem seeds, noise sd {args.noise}, LinUCB alpha {args.alpha}, "
        f"LinTS v {args.v}, single thread; rounds/s is the best seed's"
    )
    for algo, table in rows.items():
        reference = next(name for name in table if name.startswith("MABWiser"))
        ref_per_s, ref_regret, _ = _summary(table[reference], n)
        print(f"\n{algo}")
        print(
            f"  {'learner':<34}{'rounds/s':>10}{'us/round':>10}{'x MABWiser':>12}"
            f"{'regret (mean +- sd)':>24}{'/ MABWiser':>12}"
        )
        for name, results in table.items():
            per_s, regret, sd = _summary(results, n)
            print(
                f"  {name:<34}{per_s:>10.0f}{1e6 / per_s:>10.1f}{per_s / ref_per_s:>12.1f}"
                f"{regret:>15.1f} +- {sd:<6.1f}{regret / ref_regret:>12.2f}"
            )

    print(
        "\nMABWiser LinTS: all arms draw the same normals after fit (deep-copied generator): "
        f"{mabwiser_arms_share_noise(0)}. Its Thompson scores are correlated across arms, so "
        "its regret differs from linear TS as defined; compare ours with the reference row."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--arms", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--alpha", type=float, default=1.0, help="LinUCB width multiplier")
    parser.add_argument("--v", type=float, default=0.5, help="LinTS posterior scale")
    parser.add_argument("--noise", type=float, default=0.5)
    parser.add_argument(
        "--learners", type=lambda v: [int(n) for n in v.split(",")], default=[1, 16, 256]
    )
    parser.add_argument("--learner-decisions", type=int, default=20_000)
    parser.add_argument("--skip-mabwiser", action="store_true", help="only the batched table")
    parser.add_argument(
        "--learn-steps", type=int, default=2000, help="decisions per learner in learn loops"
    )
    args = parser.parse_args()
    d, k = args.features, args.arms
    if not args.skip_mabwiser:
        mabwiser_tables(args)
    print(f"\nN independent learners, one row each per round (d={d}, arms={k}), decisions/s:")
    print(f"  {'learner':<8}{'N':>6}{'N agents looped':>18}{'batched':>12}{'x looped':>10}")
    for n_learners in args.learners:
        rounds = max(5, args.learner_decisions // n_learners)
        for algo, n_l, looped, together in batched_vs_looped(
            d, k, n_learners, rounds, args.v, args.alpha
        ):
            print(f"  {algo:<8}{n_l:>6}{looped:>18.0f}{together:>12.0f}{together / looped:>10.1f}")

    if args.learn_steps:
        print(f"\nLinUCB learn loops on the default env, {args.learn_steps} decisions each:")
        for n_learners in args.learners:
            rates = learn_loops(n_learners, args.learn_steps)
            floor = rates["N agent.learn"]
            for name, rate in rates.items():
                print(
                    f"  N={n_learners:<5}{name:<30}{rate:>10.0f} decisions/s{rate / floor:>7.1f}x"
                )

    print(f"\nThompson sampling cost per decision (one context, d={d}, arms={k}), us:")
    for name, us in sampling_costs(d, k).items():
        print(f"  {name:<64}{us:>8.1f}")


if __name__ == "__main__":
    main()
