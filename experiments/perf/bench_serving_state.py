"""Memory of the in-process serving state after many distinct users, against a floor.

Every distinct ``user_id`` that reaches ``/v1/decide`` gets a profile (one per half-life
in use) and, when shown an ad, a fatigue count. This script feeds ``--users`` distinct
users (default 1,000,000) through the same `ProfileBook` and `FatigueTracker` the service
uses (one post and one impression each) and reports the growth of the process's resident
memory (RSS, allocator overhead included). Each variant runs in a fresh process. The floor,
measured in the same run, is a dict holding only the user-id strings: what any per-user
state must at least keep.

Variants: ``uncapped`` (every user kept: the behaviour before the cap existed) and
``cap`` (``--cap`` users, ``ALPHARL_SERVE_MAX_USERS_IN_PROCESS``; the least recently seen
are dropped).

Run: ``OMP_NUM_THREADS=1 .venv/bin/python experiments/perf/bench_serving_state.py
[--users 1000000] [--cap 100000]``
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time

HALF_LIFE_H = 24.0
T0 = 1.7e9


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _run_variant(variant: str, n: int, cap: int) -> dict[str, float]:
    import numpy as np

    from alpharl.features.profiles import N_PROFILE_VALUES
    from alpharl.serving.user_state import FatigueTracker, ProfileBook

    x = np.random.default_rng(0).random(N_PROFILE_VALUES)
    gc.collect()
    before = _rss_bytes()
    start = time.perf_counter()
    if variant == "floor":
        ids: dict[str, None] = {}
        for i in range(n):
            ids[f"user-{i:09d}"] = None
        held = len(ids)
    else:
        limit = n + 1 if variant == "uncapped" else cap
        book, fatigue = ProfileBook(limit), FatigueTracker(HALF_LIFE_H, limit)
        for i in range(n):
            user, t = f"user-{i:09d}", T0 + i * 0.01
            book.update(user, x, t, HALF_LIFE_H)
            fatigue.record(user, "c0", t)
        held = len(book)
    elapsed = time.perf_counter() - start
    gc.collect()
    return {"bytes": _rss_bytes() - before, "seconds": elapsed, "users_held": held}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--cap", type=int, default=100_000)
    parser.add_argument("--variant", choices=["floor", "uncapped", "cap"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(_run_variant(args.variant, args.users, args.cap)))
        return
    results = {}
    for variant in ("floor", "uncapped", "cap"):
        cmd = [sys.executable, __file__, "--variant", variant]
        cmd += ["--users", str(args.users), "--cap", str(args.cap)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results[variant] = json.loads(out.strip().splitlines()[-1])
    n = args.users
    floor = results["floor"]["bytes"]
    print(f"{n:,} distinct users, one post and one impression each; RSS growth; shared machine")
    print(f"{'variant':<22}{'users held':>12}{'MiB':>9}{'B/user':>9}{'x floor':>9}{'us/user':>9}")
    for variant, label in (
        ("floor", "floor (ids in a dict)"),
        ("uncapped", "serving, uncapped"),
        ("cap", f"serving, cap {args.cap:,}"),
    ):
        r = results[variant]
        print(
            f"{label:<22}{r['users_held']:>12,}{r['bytes'] / 2**20:>9,.1f}"
            f"{r['bytes'] / n:>9,.0f}{r['bytes'] / floor:>9.1f}{r['seconds'] / n * 1e6:>9.1f}"
        )


if __name__ == "__main__":
    main()
