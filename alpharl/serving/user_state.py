"""Per-user serving state: emotion profiles and creative fatigue, in process, thread-safe, bounded.

Profiles are `alpharl.features.profiles.UserProfile` states, one per profile half-life in
use (each policy's feature spec names its own), all updated with every post so a version
swap finds the history its spec expects. Fatigue is the decayed count of impressions of
each creative to each person: ``f(t) = sum_j 0.5 ** ((t - t_j) / h)`` over the person's
impressions ``t_j`` of that creative. Both live in this process only; a multi-worker
deployment shares them through Redis behind the same calls (`alpharl.serving.redis_state`).

Bounded: users are kept in least-recently-updated order. A user whose state is
``idle_half_lives`` half-lives (the longest half-life in use) older than the newest update
the store has seen is dropped: by then its weight is ``2 ** -idle_half_lives`` of what it
was (``2 ** -32``, about 2.3e-10, by default), below what the float32 context a policy
reads can show next to one new post, so a returning user is served as a new one up to that
rounding. Time is the store's own (event time for profiles, decision time for fatigue), so
a replay of old posts ages users by its own clock. And at most ``max_users`` are held:
past that the least recently updated go first (they lose their history, which a flood of
new ids would otherwise turn into unbounded memory). Checks look at the oldest user only,
so they cost O(1) per update (amortised).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import numpy as np

from alpharl.features.profiles import N_PROFILE_VALUES, ProfileState, UserProfile

V = TypeVar("V")


class _LruUsers(Generic[V]):
    """Users' state in least-recently-updated order, with the idle and count limits (not locked).

    Args:
        max_users: Most users held.
        idle_s: A user whose state is this much older than ``now`` is dropped.
        seen: The time a user's state was last updated at.
    """

    def __init__(self, max_users: int, idle_s: float, seen: Callable[[V], float]) -> None:
        if max_users < 1:
            raise ValueError(f"max_users: must be at least 1 (got {max_users!r})")
        self.max_users = max_users
        self.idle_s = idle_s
        self.seen = seen
        self.items: OrderedDict[str, V] = OrderedDict()
        self.dropped_idle = 0
        self.dropped_full = 0

    def touch(self, user_id: str, make: Callable[[], V], now: float) -> V:
        """The user's state (made if new), moved to the newest end; drops what the limits say.

        Args:
            user_id: Whose state.
            make: Builds a new user's state.
            now: The time of this update (the idle limit is measured against it).
        """
        items = self.items
        value = items.get(user_id)
        if value is None:
            value = items[user_id] = make()
        else:
            items.move_to_end(user_id)
        while len(items) > 1:
            head = next(iter(items))
            if head == user_id or now - self.seen(items[head]) <= self.idle_s:
                break
            del items[head]
            self.dropped_idle += 1
        while len(items) > self.max_users:
            items.popitem(last=False)
            self.dropped_full += 1
        return value


def _profile_seen(profiles: list[UserProfile | None]) -> float:
    return max((p.last_time for p in profiles if p is not None), default=-math.inf)


class ProfileBook:
    """Profiles by user and half-life, updated together under one lock, bounded.

    Args:
        max_users: Most users held; the least recently updated are dropped first.
        idle_half_lives: A user this many of the longest half-life behind the newest post
            is dropped.
    """

    def __init__(self, max_users: int = 1_000_000, idle_half_lives: float = 32.0) -> None:
        if not (math.isfinite(idle_half_lives) and idle_half_lives > 0):
            raise ValueError(f"idle_half_lives: must be positive (got {idle_half_lives!r})")
        self.idle_half_lives = float(idle_half_lives)
        self._half_lives: list[float] = []
        self._users: _LruUsers[list[UserProfile | None]] = _LruUsers(
            max_users, math.inf, _profile_seen
        )
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._users.items)

    def _index(self, half_life_hours: float) -> int:
        if half_life_hours not in self._half_lives:
            self._half_lives.append(half_life_hours)
            self._users.idle_s = self.idle_half_lives * max(self._half_lives) * 3600.0
        return self._half_lives.index(half_life_hours)

    def ensure(self, half_life_hours: float) -> None:
        """Keep a profile for this half-life from now on."""
        with self._lock:
            self._index(half_life_hours)

    def get(self, user_id: str, half_life_hours: float, t: float | None = None) -> ProfileState:
        """The user's profile for one half-life at ``t`` (empty if unknown or dropped)."""
        with self._lock:
            profiles = self._users.items.get(user_id)
            i = (
                self._half_lives.index(half_life_hours)
                if half_life_hours in self._half_lives
                else -1
            )
            profile = None if profiles is None or not 0 <= i < len(profiles) else profiles[i]
            if profile is None:
                return ProfileState(np.zeros(N_PROFILE_VALUES), 0.0)
            return profile.state(profile.last_time if t is None else t)

    def update(
        self, user_id: str, values: np.ndarray, t: float, half_life_hours: float
    ) -> ProfileState:
        """Fold a post into the user's profile for every half-life; return the state for one.

        Args:
            user_id: Whose profile.
            values: The post's profile value vector.
            t: The post's event time (unix seconds).
            half_life_hours: The half-life whose state to return.
        """
        with self._lock:
            want = self._index(half_life_hours)
            profiles = self._users.touch(user_id, list, t)
            out: ProfileState | None = None
            for i, h in enumerate(self._half_lives):
                if i == len(profiles):
                    profiles.append(None)
                profile = profiles[i]
                if profile is None:
                    profile = profiles[i] = UserProfile(h * 3600.0, len(values))
                state = profile.update(values, t)
                if i == want:
                    out = state
            assert out is not None
            return out


def _fatigue_seen(seen: dict[str, tuple[float, float]]) -> float:
    return max((t0 for _, t0 in seen.values()), default=-math.inf)


class FatigueTracker:
    """Decayed impression counts per (user, creative), bounded like `ProfileBook`.

    Args:
        half_life_hours: Half-life of an impression's weight.
        max_users: Most users held; the least recently updated are dropped first.
        idle_half_lives: A user this many half-lives behind the newest impression is dropped.
    """

    def __init__(
        self,
        half_life_hours: float = 24.0,
        max_users: int = 1_000_000,
        idle_half_lives: float = 32.0,
    ) -> None:
        if not (math.isfinite(half_life_hours) and half_life_hours > 0):
            raise ValueError(f"half_life_hours: must be positive (got {half_life_hours!r})")
        if not (math.isfinite(idle_half_lives) and idle_half_lives > 0):
            raise ValueError(f"idle_half_lives: must be positive (got {idle_half_lives!r})")
        self.half_life_s = float(half_life_hours) * 3600.0
        self._users: _LruUsers[dict[str, tuple[float, float]]] = _LruUsers(
            max_users, idle_half_lives * self.half_life_s, _fatigue_seen
        )
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._users.items)

    def vector(self, user_id: str | None, creative_ids: Sequence[str], t: float) -> np.ndarray:
        """The user's fatigue for each creative at time ``t``, ``(K,)`` float64."""
        out = np.zeros(len(creative_ids))
        if user_id is None:
            return out
        with self._lock:
            seen = self._users.items.get(user_id)
            if not seen:
                return out
            for i, cid in enumerate(creative_ids):
                entry = seen.get(cid)
                if entry is not None:
                    value, t0 = entry
                    out[i] = value * 0.5 ** (max(t - t0, 0.0) / self.half_life_s)
        return out

    def record(self, user_id: str | None, creative_id: str | None, t: float) -> None:
        """Count one impression of ``creative_id`` (None = no ad: nothing to count)."""
        if user_id is None or creative_id is None:
            return
        with self._lock:
            seen = self._users.touch(user_id, dict, t)
            value, t0 = seen.get(creative_id, (0.0, t))
            if t >= t0:
                seen[creative_id] = (value * 0.5 ** ((t - t0) / self.half_life_s) + 1.0, t)
            else:  # an impression older than the state: add it at its decayed weight
                seen[creative_id] = (value + 0.5 ** ((t0 - t) / self.half_life_s), t0)
