"""Per-user serving state: emotion profiles and creative fatigue, in process and thread-safe.

Profiles are `alpharl.features.profiles.InMemoryProfileStore` instances, one per profile
half-life in use (each policy's feature spec names its own), all updated with every post
so a version swap finds the history its spec expects. Fatigue is the decayed count of
impressions of each creative to each person: ``f(t) = sum_j 0.5 ** ((t - t_j) / h)`` over
the person's impressions ``t_j`` of that creative. Both live in this process only; a
multi-worker deployment needs a shared store (Redis) behind the same calls.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

import numpy as np

from alpharl.features.profiles import InMemoryProfileStore, ProfileState


class ProfileBook:
    """Profile stores by half-life, updated together under one lock."""

    def __init__(self) -> None:
        self._stores: dict[float, InMemoryProfileStore] = {}
        self._lock = threading.Lock()

    def ensure(self, half_life_hours: float) -> None:
        """Keep a store for this half-life from now on."""
        with self._lock:
            if half_life_hours not in self._stores:
                self._stores[half_life_hours] = InMemoryProfileStore(half_life_hours)

    def update(
        self, user_id: str, values: np.ndarray, t: float, half_life_hours: float
    ) -> ProfileState:
        """Fold a post into the user's profile in every store; return the state for one.

        Args:
            user_id: Whose profile.
            values: The post's profile value vector.
            t: The post's event time (unix seconds).
            half_life_hours: The half-life whose state to return.
        """
        with self._lock:
            if half_life_hours not in self._stores:
                self._stores[half_life_hours] = InMemoryProfileStore(half_life_hours)
            out: ProfileState | None = None
            for h, store in self._stores.items():
                state = store.update(user_id, values, t)
                if h == half_life_hours:
                    out = state
            assert out is not None
            return out


class FatigueTracker:
    """Decayed impression counts per (user, creative).

    Args:
        half_life_hours: Half-life of an impression's weight.
    """

    def __init__(self, half_life_hours: float = 24.0) -> None:
        if not (math.isfinite(half_life_hours) and half_life_hours > 0):
            raise ValueError(f"half_life_hours: must be positive (got {half_life_hours!r})")
        self.half_life_s = float(half_life_hours) * 3600.0
        self._state: dict[str, dict[str, tuple[float, float]]] = {}
        self._lock = threading.Lock()

    def vector(self, user_id: str | None, creative_ids: Sequence[str], t: float) -> np.ndarray:
        """The user's fatigue for each creative at time ``t``, ``(K,)`` float64."""
        out = np.zeros(len(creative_ids))
        if user_id is None:
            return out
        with self._lock:
            seen = self._state.get(user_id)
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
            seen = self._state.setdefault(user_id, {})
            value, t0 = seen.get(creative_id, (0.0, t))
            if t >= t0:
                seen[creative_id] = (value * 0.5 ** ((t - t0) / self.half_life_s) + 1.0, t)
            else:  # an impression older than the state: add it at its decayed weight
                seen[creative_id] = (value + 0.5 ** ((t0 - t) / self.half_life_s), t0)
