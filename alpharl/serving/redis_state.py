"""Per-user serving state in Redis, shared by every worker: profiles and creative fatigue.

Layout (standalone Redis; the scripts touch two keys each, so not Redis Cluster):

- ``alpharl:profile:half_lives``: a set of the profile half-lives (hours) in use; a
  worker adds the ones its policies' feature specs name (`RedisProfileBook.ensure`).
- ``alpharl:profile:<user>``: a hash, one field per half-life, each holding the state of
  `alpharl.features.profiles.UserProfile` as packed little-endian float64:
  ``last_time, weight, sums[0..n)``.
- ``alpharl:fatigue:<user>``: a hash, one field per creative id, holding
  ``value, t0`` as packed float64 (see `alpharl.serving.user_state.FatigueTracker`).

Every update is one Lua script: Redis runs it atomically, so the read-decay-add-write of
one worker never interleaves with another's and no update is lost. The scripts do the
same float64 arithmetic as the in-process classes (``s * d + x`` with ``d = 0.5 ^ (dt /
h)``), so both give the same profiles. Reads decay the stored state in Python.

Every update also sets the key's time to live: ``idle_half_lives`` times the longest
profile half-life (a profile) or the fatigue half-life (fatigue), as the in-process store
drops idle users (see `alpharl.serving.user_state`); a user seen again before it runs out
starts the clock again.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from alpharl.features.profiles import N_PROFILE_VALUES, ProfileState

PREFIX = "alpharl"
HALF_LIVES_KEY = f"{PREFIX}:profile:half_lives"
MAX_TTL_S = 315_360_000
"""Longest time to live set on a key (ten years): Redis takes whole seconds that fit."""

_PROFILE_UPDATE = (
    f"local MAX_TTL_S = {MAX_TTL_S}\n"
    + """
-- KEYS[1] user's profile hash, KEYS[2] set of half-lives (hours, as strings)
-- ARGV[1] t, ARGV[2] the half-life to return, ARGV[3] packed values, ARGV[4] n,
-- ARGV[5] idle half-lives: the hash expires after that many of the longest half-life
redis.call('SADD', KEYS[2], ARGV[2])
local longest = 0.0
local t = tonumber(ARGV[1])
local n = tonumber(ARGV[4])
local fmt = '<' .. string.rep('d', n + 2)
local x = {struct.unpack('<' .. string.rep('d', n), ARGV[3])}
local out = false
for _, hs in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local h = tonumber(hs) * 3600.0
  if h > longest then longest = h end
  local packed = redis.call('HGET', KEYS[1], hs)
  local st
  if packed then
    st = {struct.unpack(fmt, packed)}
  else
    st = {-math.huge, 0.0}
    for i = 1, n do st[i + 2] = 0.0 end
  end
  if st[2] == 0.0 or t >= st[1] then
    if st[2] > 0.0 then
      local d = 0.5 ^ ((t - st[1]) / h)
      for i = 1, n do st[i + 2] = st[i + 2] * d end
      st[2] = st[2] * d
    end
    for i = 1, n do st[i + 2] = st[i + 2] + x[i] end
    st[2] = st[2] + 1.0
    st[1] = t
  else
    local w = 0.5 ^ ((st[1] - t) / h)
    for i = 1, n do st[i + 2] = st[i + 2] + w * x[i] end
    st[2] = st[2] + w
  end
  local new = struct.pack(fmt, unpack(st, 1, n + 2))
  redis.call('HSET', KEYS[1], hs, new)
  if hs == ARGV[2] then out = new end
end
local ttl = math.min(math.ceil(tonumber(ARGV[5]) * longest), MAX_TTL_S)
redis.call('EXPIRE', KEYS[1], string.format('%d', math.max(ttl, 1)))
return out
"""
)

_FATIGUE_RECORD = """
-- KEYS[1] user's fatigue hash; ARGV[1] creative id, ARGV[2] t, ARGV[3] half-life (s),
-- ARGV[4] seconds until the hash expires
local t = tonumber(ARGV[2])
local h = tonumber(ARGV[3])
local packed = redis.call('HGET', KEYS[1], ARGV[1])
local v, t0 = 0.0, t
if packed then v, t0 = struct.unpack('<dd', packed) end
if t >= t0 then
  v = v * 0.5 ^ ((t - t0) / h) + 1.0
  t0 = t
else
  v = v + 0.5 ^ ((t0 - t) / h)
end
redis.call('HSET', KEYS[1], ARGV[1], struct.pack('<dd', v, t0))
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


def connect(url: str) -> Any:
    """A `redis.Redis` client (thread-safe connection pool) for ``url``; checks it answers."""
    import redis

    from alpharl.serving.stores import redact_url

    client = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise RuntimeError(f"profile store {redact_url(url)}: cannot reach Redis ({exc})") from exc
    return client


@contextmanager
def _unavailable(what: str) -> Iterator[None]:
    """Turn a Redis failure into `UnavailableError` (a 503 naming the store), not a 500."""
    import redis

    try:
        yield
    except redis.RedisError as exc:
        from alpharl.serving.service import UnavailableError

        raise UnavailableError(f"profile store (Redis): {what} failed: {exc}") from exc


def _half_life_field(half_life_hours: float) -> str:
    h = float(half_life_hours)
    if not (math.isfinite(h) and h > 0):
        raise ValueError(f"half_life_hours: must be positive (got {half_life_hours!r})")
    return repr(h)


def _unpack_profile(packed: bytes, n: int) -> tuple[float, float, np.ndarray]:
    raw = np.frombuffer(packed, dtype="<f8")
    if raw.shape != (n + 2,):
        raise ValueError(f"stored profile has {raw.size - 2} values; this server uses {n}")
    return float(raw[0]), float(raw[1]), raw[2:].astype(np.float64)


class RedisProfileBook:
    """`ProfileBook` in Redis: every half-life in use is updated by every worker.

    Args:
        client: A `redis.Redis` client (see `connect`).
        idle_half_lives: A profile expires after this many of the longest half-life unseen.
        n_values: Length of the profile value vector.
    """

    def __init__(
        self, client: Any, idle_half_lives: float = 32.0, n_values: int = N_PROFILE_VALUES
    ) -> None:
        if not (math.isfinite(idle_half_lives) and idle_half_lives > 0):
            raise ValueError(f"idle_half_lives: must be positive (got {idle_half_lives!r})")
        self.client = client
        self.idle_half_lives = float(idle_half_lives)
        self.n_values = n_values
        self._update = client.register_script(_PROFILE_UPDATE)

    @staticmethod
    def key(user_id: str) -> str:
        """The user's profile hash."""
        return f"{PREFIX}:profile:{user_id}"

    def ensure(self, half_life_hours: float) -> None:
        """Keep a store for this half-life from now on (for every worker)."""
        with _unavailable("registering a half-life"):
            self.client.sadd(HALF_LIVES_KEY, _half_life_field(half_life_hours))

    def half_lives(self) -> list[float]:
        """The half-lives (hours) in use, sorted."""
        return sorted(float(h) for h in self.client.smembers(HALF_LIVES_KEY))

    def update(
        self, user_id: str, values: np.ndarray, t: float, half_life_hours: float
    ) -> ProfileState:
        """Fold a post into the user's profile for every half-life; return one state.

        Args:
            user_id: Whose profile.
            values: The post's profile value vector.
            t: The post's event time (unix seconds).
            half_life_hours: The half-life whose state to return.
        """
        x = np.asarray(values, dtype=np.float64)
        if x.shape != (self.n_values,):
            raise ValueError(f"values: must have shape ({self.n_values},) (got {x.shape})")
        if not math.isfinite(t):
            raise ValueError(f"t: must be a finite time in seconds (got {t!r})")
        if not np.all(np.isfinite(x)):
            raise ValueError(f"values: must be finite (got {x.tolist()})")
        field = _half_life_field(half_life_hours)
        with _unavailable("updating a profile"):
            packed = self._update(
                keys=[self.key(user_id), HALF_LIVES_KEY],
                args=[
                    repr(float(t)),
                    field,
                    x.astype("<f8").tobytes(),
                    self.n_values,
                    repr(self.idle_half_lives),
                ],
            )
        _, weight, sums = _unpack_profile(packed, self.n_values)
        return ProfileState(sums / weight, weight)

    def get(self, user_id: str, half_life_hours: float, t: float | None = None) -> ProfileState:
        """The user's profile at ``t`` (at its last update when None; empty if unknown)."""
        field = _half_life_field(half_life_hours)
        with _unavailable("reading a profile"):
            packed = self.client.hget(self.key(user_id), field)
        if packed is None:
            return ProfileState(np.zeros(self.n_values), 0.0)
        last, weight, sums = _unpack_profile(packed, self.n_values)
        if weight == 0.0:
            return ProfileState(np.zeros(self.n_values), 0.0)
        if t is not None and t < last:
            raise ValueError(f"t: the profile is at time {last}; cannot read it earlier (got {t})")
        decay = 1.0 if t is None else 0.5 ** ((t - last) / (float(half_life_hours) * 3600.0))
        return ProfileState(sums / weight, weight * decay)


class RedisFatigueTracker:
    """`FatigueTracker` in Redis: decayed impression counts per (user, creative).

    Args:
        client: A `redis.Redis` client (see `connect`).
        half_life_hours: Half-life of an impression's weight.
        idle_half_lives: A user's counts expire after this many half-lives unseen.
    """

    def __init__(
        self, client: Any, half_life_hours: float = 24.0, idle_half_lives: float = 32.0
    ) -> None:
        if not (math.isfinite(half_life_hours) and half_life_hours > 0):
            raise ValueError(f"half_life_hours: must be positive (got {half_life_hours!r})")
        if not (math.isfinite(idle_half_lives) and idle_half_lives > 0):
            raise ValueError(f"idle_half_lives: must be positive (got {idle_half_lives!r})")
        self.client = client
        self.half_life_s = float(half_life_hours) * 3600.0
        self.ttl_s = min(max(1, math.ceil(idle_half_lives * self.half_life_s)), MAX_TTL_S)
        self._record = client.register_script(_FATIGUE_RECORD)

    @staticmethod
    def key(user_id: str) -> str:
        """The user's fatigue hash."""
        return f"{PREFIX}:fatigue:{user_id}"

    def vector(self, user_id: str | None, creative_ids: Sequence[str], t: float) -> np.ndarray:
        """The user's fatigue for each creative at time ``t``, ``(K,)`` float64."""
        out = np.zeros(len(creative_ids))
        if user_id is None or not creative_ids:
            return out
        with _unavailable("reading fatigue counts"):
            stored = self.client.hmget(self.key(user_id), list(creative_ids))
        for i, packed in enumerate(stored):
            if packed is not None:
                value, t0 = struct.unpack("<dd", packed)
                out[i] = value * 0.5 ** (max(t - t0, 0.0) / self.half_life_s)
        return out

    def record(self, user_id: str | None, creative_id: str | None, t: float) -> None:
        """Count one impression of ``creative_id`` (None = no ad: nothing to count)."""
        if user_id is None or creative_id is None:
            return
        if not math.isfinite(t):
            raise ValueError(f"t: must be a finite time in seconds (got {t!r})")
        with _unavailable("counting an impression"):
            self._record(
                keys=[self.key(user_id)],
                args=[creative_id, repr(float(t)), self.half_life_s, self.ttl_s],
            )
