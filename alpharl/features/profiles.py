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
from itertools import pairwise
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

_STEP_MIN_ELEMENTS = 512
"""Columns x segments of a bucket from which its running sums step position by position."""


def _check_half_life(half_life_s: float) -> float:
    if not (isinstance(half_life_s, int | float) and math.isfinite(half_life_s)):
        raise ValueError(f"half_life_s: must be a finite positive number (got {half_life_s!r})")
    if half_life_s <= 0:
        raise ValueError(f"half_life_s: must be a finite positive number (got {half_life_s!r})")
    return float(half_life_s)


def profile_values(table: pa.Table, dtype: type = np.float64) -> np.ndarray:
    """The profile value vector of every row of an enriched table, ``(n, 13)``.

    Args:
        table: An Arrow table with the columns of `PROFILE_VALUE_COLUMNS`.
        dtype: ``np.float64`` (default) or ``np.float32``, the enrichment's own precision
            (`decayed_profiles` computes in float64 either way).
    """
    missing = [c for c in PROFILE_VALUE_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"table: missing enrichment columns {missing}")
    out = np.empty((table.num_rows, N_PROFILE_VALUES), dtype=dtype)
    for j, name in enumerate(PROFILE_VALUE_COLUMNS):
        column_into(out[:, j], table.column(name))
    return out


def column_into(out: np.ndarray, column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Copy an Arrow column into ``out`` chunk by chunk (cast to ``out``'s dtype; nulls of a
    float column become NaN), without first concatenating the chunks."""
    start = 0
    for chunk in column.chunks if isinstance(column, pa.ChunkedArray) else [column]:
        stop = start + len(chunk)
        out[start:stop] = chunk.to_numpy(zero_copy_only=False)
        start = stop
    return out


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


def _author_time_order(users: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stable order by (user, time, input position), and the user keys it sorted.

    Integer user ids spanning fewer than 2**16 values are sorted as ``uint16`` (NumPy's
    stable sort is then a radix sort). When the times are already in order (a stream
    replayed in event time), sorting by user alone is enough.
    """
    key = users
    if users.dtype.kind in "iu":
        lo, hi = int(users.min()), int(users.max())
        if hi - lo < 1 << 16:
            key = (users - lo).astype(np.uint16)
    if bool(np.all(t[1:] >= t[:-1])):
        return np.argsort(key, kind="stable"), key
    return np.lexsort((t, key)), key


@dataclass(frozen=True, slots=True)
class _Bucket:
    """Segments of similar length, summed side by side in one block of the padded buffer.

    The buffer is ``(padded, m)``: one row per slot, the weight and value columns side by
    side. The bucket holds ``count`` segments of up to ``width`` posts from row
    ``offset``. Stepped (many segments): position-major, post p of the r-th segment in
    row ``offset + p * count + r``, summed with one vectorised add per position.
    Otherwise segment-major (row ``offset + r * width + p``) and summed with
    ``np.cumsum`` along the segment, which avoids a long Python loop. Either way each
    segment is summed in post order, exactly as ``np.cumsum`` would.
    """

    segments: np.ndarray
    width: int
    offset: int
    stepped: bool

    def block(self, sums: np.ndarray) -> np.ndarray:
        """The bucket's view of ``sums``: ``(width, count, m)`` or ``(count, width, m)``."""
        c, w = self.segments.size, self.width
        block = sums[self.offset : self.offset + c * w]
        return block.reshape((w, c, -1) if self.stepped else (c, w, -1))  # contiguous: a view

    def running_sums(self, block: np.ndarray) -> None:
        """Replace each segment's values by their running sums, in place."""
        if self.width == 1:
            return
        if self.stepped:
            for prev, cur in pairwise(block):
                np.add(prev, cur, out=cur)
        else:
            np.cumsum(block, axis=1, out=block)

    def add_carry(self, block: np.ndarray, carry: np.ndarray) -> None:
        """Add each segment's carry (a row of ``carry``) to all its running sums."""
        mine = carry[self.segments]
        block += mine[None, :, :] if self.stepped else mine[:, None, :]


def _buckets(
    seg_len: np.ndarray, n_columns: int
) -> tuple[list[_Bucket], np.ndarray, np.ndarray, int]:
    """Padded layout of the segments: buckets by ``ceil(log2(length))`` (the padding at
    most doubles the size); per segment, the slot of its first post and the distance
    between its posts; and the padded size."""
    bucket = np.ceil(np.log2(seg_len)).astype(np.uint8)
    by_bucket = np.argsort(bucket, kind="stable")
    counts = np.bincount(bucket)
    counts = counts[counts > 0]
    first = np.cumsum(counts) - counts
    widths = np.maximum.reduceat(seg_len[by_bucket], first)
    slot = np.empty(seg_len.size, dtype=np.intp)
    stride = np.empty(seg_len.size, dtype=np.intp)
    buckets, offset = [], 0
    for f, c, w in zip(first.tolist(), counts.tolist(), widths.tolist(), strict=True):
        segs = by_bucket[f : f + c]
        stepped = n_columns * c >= _STEP_MIN_ELEMENTS
        rank = np.arange(c)
        slot[segs] = offset + (rank if stepped else rank * w)
        stride[segs] = c if stepped else 1
        buckets.append(_Bucket(segs, w, offset, stepped))
        offset += c * w
    return buckets, slot, stride, offset


def _sorted_decayed_profiles(
    users: np.ndarray, t: np.ndarray, values: np.ndarray, lam: float
) -> tuple[np.ndarray, np.ndarray]:
    """Each post's profile means ``(n, m)`` and weight ``(n,)``, both C-contiguous.

    Works in (user, time) order on segments laid out in a padded buffer (`_Bucket`); see
    `decayed_profiles` for the arithmetic, which the layout does not change.

    Args:
        users, t: ``(n,)`` user keys and times in seconds.
        values: ``(n, m)`` value vectors (float32 or float64).
        lam: Decay rate per second.
    """
    n = t.shape[0]
    order, key = _author_time_order(users, t)
    ts = t[order]
    us = key[order]
    new_user = np.empty(n, dtype=bool)
    new_user[0] = True
    np.not_equal(us[1:], us[:-1], out=new_user[1:])
    user_start = np.flatnonzero(new_user)
    a = lam * (ts - np.repeat(ts[user_start], np.diff(user_start, append=n)))
    # Segments: (user, floor(a / R)); each is rebased at its own lower bound R * k.
    seg_k = np.floor(a / _REBASE_EXPONENT)
    new_seg = new_user.copy()
    new_seg[1:] |= seg_k[1:] != seg_k[:-1]
    seg_start = np.flatnonzero(new_seg)
    seg_len = np.diff(seg_start, append=n)
    base = seg_k[seg_start] * _REBASE_EXPONENT
    local = np.exp(a - np.repeat(base, seg_len))  # in [1, e^R)

    m1 = values.shape[1] + 1
    buckets, slot, stride, padded = _buckets(seg_len, m1)
    position = np.arange(n) - np.repeat(seg_start, seg_len)
    dest = np.repeat(slot, seg_len) + position * np.repeat(stride, seg_len)
    source = np.zeros(padded, dtype=np.intp)  # padding reads post 0, weighted by 0
    source[dest] = order
    scale = np.zeros((padded, 1))
    scale[dest, 0] = local
    sums = np.empty((padded, m1))  # weight, then weight * value for each value
    sums[:, 0] = 1.0
    sums[:, 1:] = values.take(source, axis=0)  # float32 -> float64 is exact
    sums *= scale  # whole rows: one fast pass (padding rows: 0)
    blocks = [b.block(sums) for b in buckets]
    for b, block in zip(buckets, blocks, strict=True):
        b.running_sums(block)
    # Carry the previous segment of the same user (its total, rescaled to this base).
    seg_total = sums[slot + (seg_len - 1) * stride]
    carry = np.zeros_like(seg_total)
    prev = np.flatnonzero(~new_user[seg_start])
    if prev.size:
        rescale = np.exp(base[prev - 1] - base[prev])  # <= e^-R
        carry[prev] = seg_total[prev - 1] * rescale[:, None]
    for b, block in zip(buckets, blocks, strict=True):
        b.add_carry(block, carry)
    dest_of_input = np.empty(n, dtype=np.intp)
    dest_of_input[order] = dest
    local_of_input = np.empty((n, 1))
    local_of_input[order, 0] = local
    totals = sums.take(dest_of_input, axis=0)
    totals /= local_of_input
    weights = totals[:, 0].copy()
    return np.divide(totals[:, 1:], weights[:, None]), weights


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
    ``300`` in exponent, rebased to the segment's start, and summed in post order within
    the segment; a segment carries in the total of the user's previous segment, scaled to
    its base. Posts two or more segments back weigh less than ``exp(-300)`` relative to
    the current post (which has weight 1) and are dropped, far below float64 resolution.
    The relative error is a few ulps times the segment length.

    The posts are sorted once by (user, time); the segments are then summed side by side
    in a padded buffer with one row per post (its weight and weighted values), a bucket
    of many short segments by one vectorised add per position (`_Bucket`), and the
    results are gathered back into input order once. The floating-point operations are
    the ones above, in the same order, whatever the layout.

    Args:
        user_ids: ``(n,)`` user keys (any sortable dtype).
        times_s: ``(n,)`` event times in seconds.
        values: ``(n, m)`` value vectors (float32 values are used as they are, without
            a float64 copy; the products are float64 either way).
        half_life_s: Half-life in seconds.

    Returns:
        ``means`` ``(n, m)`` float64 and ``weights`` ``(n,)`` float64, in input order.
    """
    half_life_s = _check_half_life(half_life_s)
    users = np.asarray(user_ids)
    t = np.asarray(times_s, dtype=np.float64)
    x = np.asarray(values)
    n = users.shape[0]
    if users.ndim != 1 or t.shape != (n,) or x.ndim != 2 or x.shape[0] != n:
        raise ValueError(
            f"user_ids, times_s, values: shapes must be (n,), (n,), (n, m) "
            f"(got {users.shape}, {t.shape}, {x.shape})"
        )
    if not np.all(np.isfinite(t)):
        raise ValueError("times_s: must be finite")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError("values: must be finite")
    if n == 0:
        return np.zeros((0, x.shape[1])), np.zeros(0)
    return _sorted_decayed_profiles(users, t, x, _LN2 / half_life_s)
