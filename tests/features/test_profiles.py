"""Decayed user profiles: closed-form values, sequential vs vectorised, extreme spans."""

from __future__ import annotations

import math

import numpy as np
import pytest
from enriched_tables import make_enriched_table

from alpharl.features import (
    PROFILE_VALUE_COLUMNS,
    InMemoryProfileStore,
    ProfileStore,
    UserProfile,
    decayed_profiles,
    post_profile_values,
    profile_values,
    profiles,
)
from alpharl.schema import table_to_enriched

H = 3600.0  # one hour, the half-life used below


def sequential(users: np.ndarray, times: np.ndarray, values: np.ndarray, half_life: float):
    """The reference: one `UserProfile` per user, updated post by post in input order."""
    profiles: dict[int, UserProfile] = {}
    means = np.zeros_like(values, dtype=np.float64)
    weights = np.zeros(len(users))
    for i, (u, t) in enumerate(zip(users.tolist(), times.tolist(), strict=True)):
        p = profiles.setdefault(u, UserProfile(half_life, values.shape[1]))
        state = p.update(values[i], t)
        means[i], weights[i] = state.mean, state.weight
    return means, weights


def test_user_profile_closed_form() -> None:
    p = UserProfile(H, 2)
    s1 = p.update(np.array([1.0, 0.0]), 0.0)
    assert s1.weight == 1.0
    np.testing.assert_array_equal(s1.mean, [1.0, 0.0])
    s2 = p.update(np.array([0.0, 1.0]), H)  # the first post now weighs 0.5
    assert s2.weight == pytest.approx(1.5)
    np.testing.assert_allclose(s2.mean, [0.5 / 1.5, 1.0 / 1.5])
    s3 = p.state(3 * H)  # two more half-lives: weight quarters, mean unchanged
    assert s3.weight == pytest.approx(1.5 / 4)
    np.testing.assert_allclose(s3.mean, s2.mean)


def test_out_of_order_update_is_exact() -> None:
    p = UserProfile(H, 1)
    p.update(np.array([1.0]), 2 * H)
    state = p.update(np.array([3.0]), H)  # one half-life older than the state's time
    assert p.last_time == 2 * H
    assert state.weight == pytest.approx(1.5)
    assert state.mean[0] == pytest.approx((1.0 + 0.5 * 3.0) / 1.5)


def test_reading_before_the_last_update_is_an_error() -> None:
    p = UserProfile(H, 1)
    p.update(np.array([1.0]), 10.0)
    with pytest.raises(ValueError, match="cannot read it earlier"):
        p.state(5.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"half_life_s": 0.0}, "half_life_s"),
        ({"half_life_s": float("nan")}, "half_life_s"),
    ],
)
def test_user_profile_rejects_bad_half_life(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        UserProfile(**kwargs)


def test_user_profile_rejects_bad_values() -> None:
    p = UserProfile(H, 2)
    with pytest.raises(ValueError, match=r"values: must have shape \(2,\)"):
        p.update(np.zeros(3), 0.0)
    with pytest.raises(ValueError, match="values: must be finite"):
        p.update(np.array([np.nan, 0.0]), 0.0)
    with pytest.raises(ValueError, match="t: must be a finite time"):
        p.update(np.zeros(2), float("inf"))


def test_vectorised_matches_closed_form() -> None:
    users = np.array([0, 1, 0, 0])
    times = np.array([0.0, 5.0, H, H])  # a tie at H: input order decides
    values = np.array([[1.0], [7.0], [0.0], [2.0]])
    means, weights = decayed_profiles(users, times, values, H)
    np.testing.assert_allclose(weights, [1.0, 1.0, 1.5, 2.5])
    np.testing.assert_allclose(means[:, 0], [1.0, 7.0, 0.5 / 1.5, 2.5 / 2.5])


@pytest.mark.parametrize("span_half_lives", [0.1, 10.0, 5000.0])
def test_vectorised_matches_sequential(span_half_lives: float) -> None:
    rng = np.random.default_rng(int(span_half_lives * 10))
    n = 2000
    users = rng.integers(0, 15, n)
    times = rng.uniform(0, span_half_lives * H, n)  # unsorted input
    values = rng.normal(size=(n, 4))
    means, weights = decayed_profiles(users, times, values, H)
    order = np.lexsort((np.arange(n), times))
    ref_means, ref_weights = sequential(users[order], times[order], values[order], H)
    assert np.all(np.isfinite(means))
    assert np.all(np.isfinite(weights))
    np.testing.assert_allclose(means[order], ref_means, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(weights[order], ref_weights, rtol=1e-9)


def test_thousands_of_half_lives_do_not_overflow() -> None:
    # One user posting every half-life for 20,000 half-lives: exp(lambda * t) would be
    # exp(13,863) without rebasing. The weight tends to 1 / (1 - 0.5) = 2.
    n = 20_000
    times = np.arange(n) * H
    values = np.ones((n, 1))
    means, weights = decayed_profiles(np.zeros(n, int), times, values, H)
    assert np.all(np.isfinite(weights))
    np.testing.assert_allclose(weights[-100:], 2.0, rtol=1e-12)
    np.testing.assert_allclose(means, 1.0, rtol=1e-12)
    # A dense burst long after: only the burst counts.
    later = np.concatenate([times, [1e7 * H, 1e7 * H + 1.0]])
    vals = np.concatenate([values, [[5.0], [3.0]]])
    m, w = decayed_profiles(np.zeros(n + 2, int), later, vals, H)
    assert w[-1] == pytest.approx(1.0 + 0.5 ** (1.0 / H))
    assert m[-1, 0] == pytest.approx((5.0 * 0.5 ** (1.0 / H) + 3.0) / w[-1])


def _stream(seed: int, n: int, n_users: int, span_half_lives: float):
    """Time-ordered posts of many users (no ties) spanning many rebasing segments."""
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0, span_half_lives * H, n))
    return rng.integers(0, n_users, n), times, rng.normal(size=(n, 5))


def test_running_sum_layouts_agree_bit_for_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    # 3,000 posts of 300 users over 2,000 half-lives: ~5 segments per user, carries, and
    # buckets of many short segments (stepped by default) as well as of a few long ones.
    users, times, values = _stream(4, 3000, 300, 2000.0)
    users[:400] = 7  # one heavy user
    results = []
    for threshold in (1, 10**9):  # every bucket stepped / every bucket by np.cumsum
        monkeypatch.setattr(profiles, "_STEP_MIN_ELEMENTS", threshold)
        means, weights = decayed_profiles(users, times, values, H)
        results.append(np.ascontiguousarray(means).tobytes() + weights.tobytes())
    assert results[0] == results[1]
    ref_means, ref_weights = sequential(users, times, values, H)
    np.testing.assert_allclose(means, ref_means, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(weights, ref_weights, rtol=1e-9)


def test_input_order_and_key_types_do_not_change_the_result() -> None:
    users, times, values = _stream(5, 2000, 40, 50.0)
    means, weights = decayed_profiles(users, times, values, H)
    perm = np.random.default_rng(6).permutation(len(users))  # not in time order
    m, w = decayed_profiles(users[perm], times[perm], values[perm], H)
    assert m.tobytes() == means[perm].tobytes()
    assert w.tobytes() == weights[perm].tobytes()
    for keys in (users * 100_003 - 5, np.array([f"user {u}" for u in users])):
        m, w = decayed_profiles(keys, times, values, H)  # wide ints, strings: same groups
        assert m.tobytes() == means.tobytes()
        assert w.tobytes() == weights.tobytes()
    f32 = values.astype(np.float32)
    m, w = decayed_profiles(users, times, f32, H)
    assert m.tobytes() == decayed_profiles(users, times, f32.astype(np.float64), H)[0].tobytes()


@pytest.mark.parametrize("n_users", [1, 50])
def test_single_posts_and_single_users(n_users: int) -> None:
    users = np.arange(50) % n_users  # one post each, or one person posting 50 times
    times = np.linspace(0.0, 40 * H, 50)
    values = np.random.default_rng(7).normal(size=(50, 3))
    means, weights = decayed_profiles(users, times, values, H)
    ref_means, ref_weights = sequential(users, times, values, H)
    np.testing.assert_allclose(means, ref_means, rtol=1e-12)
    np.testing.assert_allclose(weights, ref_weights, rtol=1e-12)
    one = decayed_profiles(users[:1], times[:1], values[:1], H)
    np.testing.assert_array_equal(one[0], values[:1])
    np.testing.assert_array_equal(one[1], [1.0])


def test_vectorised_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="shapes must be"):
        decayed_profiles(np.zeros(3), np.zeros(2), np.zeros((3, 1)), H)
    with pytest.raises(ValueError, match="times_s: must be finite"):
        decayed_profiles(np.zeros(2), np.array([0.0, np.inf]), np.zeros((2, 1)), H)
    with pytest.raises(ValueError, match="half_life_s"):
        decayed_profiles(np.zeros(2), np.zeros(2), np.zeros((2, 1)), -1.0)
    means, weights = decayed_profiles(np.zeros(0), np.zeros(0), np.zeros((0, 3)), H)
    assert means.shape == (0, 3)
    assert weights.shape == (0,)


def test_store_matches_vectorised_profiles_of_a_table() -> None:
    table = make_enriched_table(300, 12, seed=3)
    store = InMemoryProfileStore(half_life_hours=6.0)
    assert isinstance(store, ProfileStore)
    users = np.array(table.column("author_id").to_pylist())
    times = table.column("created_at").cast("int64").to_numpy() / 1e6
    means, weights = decayed_profiles(users, times, profile_values(table), 6 * H)
    for i, post in enumerate(table_to_enriched(table)):
        t = post.post.created_at.timestamp()
        state = store.update(post.post.author_id, post_profile_values(post), t)
        np.testing.assert_allclose(state.mean, means[i], rtol=1e-9, atol=1e-12)
        assert state.weight == pytest.approx(weights[i], rel=1e-9)
    assert len(store) == len(set(users.tolist()))
    unknown = store.get("nobody")
    assert unknown.weight == 0.0
    assert unknown.mean.shape == (len(PROFILE_VALUE_COLUMNS),)
    last = store.get(users[-1])
    later = store.get(users[-1], t + 2 * 6 * H)
    assert later.weight == pytest.approx(last.weight / 4)


def test_store_rejects_bad_half_life() -> None:
    with pytest.raises(ValueError, match="half_life_hours"):
        InMemoryProfileStore(half_life_hours=0)


def test_profile_values_layout() -> None:
    table = make_enriched_table(5, 2)
    values = profile_values(table)
    assert values.shape == (5, 13)
    np.testing.assert_array_equal(
        values[:, 7], table.column("sentiment_compound").to_numpy().astype(np.float64)
    )
    with pytest.raises(ValueError, match="missing enrichment columns"):
        profile_values(table.drop_columns(["emotion_joy"]))
    assert math.isclose(float(values[0, :7].sum()), 1.0, rel_tol=1e-5)
