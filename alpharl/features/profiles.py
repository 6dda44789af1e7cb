"""Per-user profiles: exponentially decayed emotion, sentiment and intent state.

A profile summarises what a person has posted, weighting recent posts more. Each post
contributes its enrichment vector ``x`` with weight 1; at time ``t`` the weight of a post
made at time ``s`` is ``0.5 ** ((t - s) / half_life)``. The profile at ``t`` is

- ``weight(t) = sum_j 0.5 ** ((t - s_j) / half_life)`` (a recency-weighted activity count),
- ``mean(t) = sum_j 0.5 ** ((t - s_j) / half_life) * x_j / weight(t)``,

over the posts made up to ``t``. `UserProfile` keeps this state for one person and updates
it one post at a time (serving); `decayed_profiles` computes it for every post of a
stream at once (simulation, training), without a per-post Python loop.

The profile's value vector follows `PROFILE_VALUE_COLUMNS`: the seven emotion
probabilities, the VADER compound score and the five intent probabilities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import pyarrow as pa

from alpharl.schema import EMOTION_COLUMNS, INTENT_COLUMNS, EnrichedPost

PROFILE_VALUE_COLUMNS: tuple[str, ...] = (*EMOTION_COLUMNS, "sentiment_compound", *INTENT_COLUMNS)
"""The enrichment columns a profile averages, in the order of its value vector."""

N_PROFILE_VALUES = len(PROFILE_VALUE_COLUMNS)

_LN2 = math.log(2.0)
_REBASE_EXPONENT = 300.0
"""Largest exponent used inside one cumulative-sum segment (exp(300) ~ 2e130)."""


def _check_half_life(half_life_s: float) -> float:
    if not (isinstance(half_life_s, int | float) and math.isfinite(half_life_s)):
        raise ValueError(f"half_life_s: must be a finite positive number (got {half_life_s!r})")
    if half_life_s <= 0:
        raise ValueError(f"half_life_s: must be a finite positive number (got {half_life_s!r})")
    return float(half_life_s)


def profile_values(table: pa.Table) -> np.ndarray:
    """The profile value vector of every row of an enriched table, ``(n, 13)`` float64.

    Args:
        table: An Arrow table with the columns of `PROFILE_VALUE_COLUMNS`.
    """
    missing = [c for c in PROFILE_VALUE_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"table: missing enrichment columns {missing}")
    cols = [table.column(c).to_numpy().astype(np.float64) for c in PROFILE_VALUE_COLUMNS]
    return np.stack(cols, axis=1) if cols[0].size else np.zeros((0, N_PROFILE_VALUES))


def post_profile_values(post: EnrichedPost) -> np.ndarray:
    """The profile value vector of one enriched post, ``(13,)`` float64."""
    return np.array(
        [
            *post.emotions.values(),
            post.sentiment.compound,
            *post.intents.values(),
        ],
        dtype=np.float64,
    )


@dataclass(frozen=True, slots=True)
class ProfileState:
    """A profile read at one moment.

    Args:
        mean: Weighted mean of the value vectors (zeros when ``weight`` is 0).
        weight: Total decayed weight of the posts so far (0 for an unknown person).
    """

    mean: np.ndarray
    weight: float


@dataclass(slots=True)
class UserProfile:
    """One person's decayed profile, updated one post at a time.

    Args:
        half_life_s: Half-life of a post's weight, in seconds of event time.
        n_values: Length of the value vector.
        last_time: Event time (seconds) the state is expressed at; -inf before any post.
        weight: Total decayed weight at ``last_time``.
        sums: Decayed weighted sum of the value vectors at ``last_time``.
    """

    half_life_s: float
    n_values: int = N_PROFILE_VALUES
    last_time: float = -math.inf
    weight: float = 0.0
    sums: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        self.half_life_s = _check_half_life(self.half_life_s)
        if self.sums.size == 0:
            self.sums = np.zeros(self.n_values, dtype=np.float64)
        elif self.sums.shape != (self.n_values,):
            raise ValueError(f"sums: must have shape ({self.n_values},) (got {self.sums.shape})")

    def _decay(self, dt: float) -> float:
        return 0.5 ** (dt / self.half_life_s)

    def update(self, values: np.ndarray, t: float) -> ProfileState:
        """Fold in one post made at event time ``t`` (seconds) and return the state at ``t``.

        A post older than ``last_time`` (out of order) is folded in with the weight it has
        at ``last_time``, so the state stays exact and is still expressed at ``last_time``.

        Args:
            values: The post's value vector, ``(n_values,)``.
            t: The post's event time in seconds.
        """
        x = np.asarray(values, dtype=np.float64)
        if x.shape != (self.n_values,):
            raise ValueError(f"values: must have shape ({self.n_values},) (got {x.shape})")
        if not math.isfinite(t):
            raise ValueError(f"t: must be a finite time in seconds (got {t!r})")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"values: must be finite (got {x.tolist()})")
        if self.weight == 0.0 or t >= self.last_time:
            if self.weight > 0.0:
                d = self._decay(t - self.last_time)
                self.sums *= d
                self.weight *= d
            self.sums += x
            self.weight += 1.0
            self.last_time = float(t)
        else:
            w = self._decay(self.last_time - t)
            self.sums += w * x
            self.weight += w
        return self.state(self.last_time)

    def state(self, t: float) -> ProfileState:
        """The profile at event time ``t`` (seconds, not before ``last_time``)."""
        if self.weight == 0.0:
            return ProfileState(np.zeros(self.n_values), 0.0)
        if t < self.last_time:
            raise ValueError(
                f"t: the profile is at time {self.last_time}; cannot read it earlier (got {t})"
            )
        d = self._decay(t - self.last_time)
        weight = self.weight * d
        return ProfileState(self.sums / self.weight, weight)


@runtime_checkable
class ProfileStore(Protocol):
    """Profiles keyed by user id (in process here; a Redis store implements the same)."""

    def get(self, user_id: str, t: float | None = None) -> ProfileState:
        """The user's profile at ``t`` (at its last update when None; empty if unknown)."""
        ...

    def update(self, user_id: str, values: np.ndarray, t: float) -> ProfileState:
        """Fold in one of the user's posts at time ``t`` and return the profile at ``t``."""
        ...


class InMemoryProfileStore:
    """A `ProfileStore` in a dict, for one process.

    Args:
        half_life_hours: Half-life of a post's weight in hours of event time.
        n_values: Length of the value vector.
    """

    def __init__(self, half_life_hours: float = 24.0, n_values: int = N_PROFILE_VALUES) -> None:
        if not (isinstance(half_life_hours, int | float) and half_life_hours > 0):
            raise ValueError(f"half_life_hours: must be positive (got {half_life_hours!r})")
        self.half_life_s = _check_half_life(float(half_life_hours) * 3600.0)
        self.n_values = n_values
        self._profiles: dict[str, UserProfile] = {}

    def __len__(self) -> int:
        return len(self._profiles)

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._profiles

    def get(self, user_id: str, t: float | None = None) -> ProfileState:
        """The user's profile at ``t`` (at its last update when None; empty if unknown)."""
        profile = self._profiles.get(user_id)
        if profile is None:
            return ProfileState(np.zeros(self.n_values), 0.0)
        return profile.state(profile.last_time if t is None else t)

    def update(self, user_id: str, values: np.ndarray, t: float) -> ProfileState:
        """Fold in one of the user's posts at time ``t`` and return the profile at ``t``."""
        profile = self._profiles.get(user_id)
        if profile is None:
            profile = UserProfile(self.half_life_s, self.n_values)
            self._profiles[user_id] = profile
        return profile.update(values, t)


def _segment_cumsum(cols: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Cumulative sums of ``cols`` (rows) restarting at each segment, without a row loop.

    A global cumsum minus each segment's offset would lose the precision of small
    segments next to large ones, so segments are laid out as rows of a padded matrix and
    summed along the row. Segments are bucketed by ``ceil(log2(length))`` so that the
    padding at most doubles the work; the Python loop runs over the <= 64 buckets.
    """
    out = np.empty_like(cols)
    bucket = np.ceil(np.log2(lengths)).astype(np.int64)
    for b in np.unique(bucket):
        segs = np.flatnonzero(bucket == b)
        width = int(lengths[segs].max())
        offs = np.arange(width)
        valid = offs[None, :] < lengths[segs][:, None]
        rows = np.minimum(starts[segs][:, None] + offs[None, :], len(cols) - 1)
        block = np.where(valid[:, :, None], cols[rows], 0.0)
        csum = np.cumsum(block, axis=1)
        out[rows[valid]] = csum[valid]
    return out


def decayed_profiles(
    user_ids: np.ndarray, times_s: np.ndarray, values: np.ndarray, half_life_s: float
) -> tuple[np.ndarray, np.ndarray]:
    """Every post's profile right after folding that post in, vectorised.

    For post ``i`` by user ``u`` at time ``t_i`` this is the state `UserProfile` reaches
    after updating with all of ``u``'s posts up to and including ``i`` (ties in time count
    in input order). With ``lam = ln 2 / half_life_s`` and ``a_j = lam * (t_j - t_u0)``
    measured from the user's first post, the weighted sum is
    ``S_i = exp(-a_i) * sum_{j <= i} exp(a_j) * x_j``: a per-user cumulative sum. So that
    ``exp(a_j)`` never overflows, each user's posts are cut into segments of at most
    ``300`` in exponent, rebased to the segment's start, and summed within the segment
    (`_segment_cumsum`); a segment carries in the total of the user's previous segment,
    scaled to its base. Posts two or more segments back weigh less than ``exp(-300)``
    relative to the current post (which has weight 1) and are dropped, far below float64
    resolution. The relative error is a few ulps times the segment length.

    Args:
        user_ids: ``(n,)`` user keys (any sortable dtype).
        times_s: ``(n,)`` event times in seconds.
        values: ``(n, m)`` value vectors.
        half_life_s: Half-life in seconds.

    Returns:
        ``means`` ``(n, m)`` float64 and ``weights`` ``(n,)`` float64, in input order.
    """
    half_life_s = _check_half_life(half_life_s)
    users = np.asarray(user_ids)
    t = np.asarray(times_s, dtype=np.float64)
    x = np.asarray(values, dtype=np.float64)
    n = users.shape[0]
    if users.ndim != 1 or t.shape != (n,) or x.ndim != 2 or x.shape[0] != n:
        raise ValueError(
            f"user_ids, times_s, values: shapes must be (n,), (n,), (n, m) "
            f"(got {users.shape}, {t.shape}, {x.shape})"
        )
    if not np.all(np.isfinite(t)):
        raise ValueError("times_s: must be finite")
    if not np.all(np.isfinite(x)):
        raise ValueError("values: must be finite")
    if n == 0:
        return np.zeros((0, x.shape[1])), np.zeros(0)
    lam = _LN2 / half_life_s
    order = np.lexsort((np.arange(n), t, users))
    us, ts, xs = users[order], t[order], x[order]
    new_user = np.empty(n, dtype=bool)
    new_user[0] = True
    new_user[1:] = us[1:] != us[:-1]
    user_start = np.flatnonzero(new_user)
    user_of = np.cumsum(new_user) - 1
    a = lam * (ts - ts[user_start][user_of])
    # Segments: (user, floor(a / R)); each is rebased at its own lower bound R * k.
    seg_k = np.floor(a / _REBASE_EXPONENT)
    new_seg = new_user.copy()
    new_seg[1:] |= seg_k[1:] != seg_k[:-1]
    seg_start = np.flatnonzero(new_seg)
    seg_of = np.cumsum(new_seg) - 1
    base = seg_k[seg_start] * _REBASE_EXPONENT
    local = np.exp(a - base[seg_of])  # in [1, e^R)
    cols = np.concatenate([local[:, None], local[:, None] * xs], axis=1)  # weight, sums
    seg_end = np.append(seg_start[1:], n) - 1
    seg_csum = _segment_cumsum(cols, seg_start, seg_end - seg_start + 1)
    # Carry the previous segment of the same user (its total, rescaled to this base).
    seg_total = seg_csum[seg_end]
    has_prev = ~new_user[seg_start]
    carry = np.zeros_like(seg_total)
    prev = np.flatnonzero(has_prev)
    if prev.size:
        scale = np.exp(base[prev - 1] - base[prev])  # <= e^-R
        carry[prev] = seg_total[prev - 1] * scale[:, None]
    totals = (seg_csum + carry[seg_of]) / local[:, None]
    weights_sorted = totals[:, 0]
    means_sorted = totals[:, 1:] / weights_sorted[:, None]
    means = np.empty_like(means_sorted)
    weights = np.empty_like(weights_sorted)
    means[order] = means_sorted
    weights[order] = weights_sorted
    return means, weights
