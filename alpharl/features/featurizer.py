"""The context featurizer: enriched posts, profiles and campaign state -> float32 vectors.

Two paths build the same vectors (bit for bit): the batch path works on the columns of an
enriched Arrow table (`Featurizer.post_block`, `Featurizer.profile_block`, ...,
`Featurizer.assemble`), the one-at-a-time path on an `EnrichedPost` (`Featurizer.vector`,
for serving). Both first canonicalise their input into `PostColumns` (float32 enrichment,
topic index, time in microseconds) and then run the same block functions, so they cannot
drift apart. The layout and bounds are those of the `FeatureSpec`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from alpharl.features.profiles import (
    N_PROFILE_VALUES,
    PROFILE_VALUE_COLUMNS,
    ProfileState,
    column_into,
    decayed_profiles,
    profile_values,
)
from alpharl.features.spec import ACTIVITY_CAP, FATIGUE_CLIP, POST_BLOCKS, FeatureSpec
from alpharl.schema import (
    EMOTION_COLUMNS,
    EMOTIONS,
    INTENT_COLUMNS,
    INTENTS,
    SENTIMENT_COLUMNS,
    EnrichedPost,
)

_US_PER_DAY = 86_400_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_COMPOUND = PROFILE_VALUE_COLUMNS.index("sentiment_compound")
_ASSEMBLE_ROWS = 8192
"""Rows `Featurizer.assemble` lays out at a time (a chunk of the matrix stays in cache)."""


@dataclass(frozen=True)
class CampaignState:
    """How much of the campaign is left, as fractions in [0, 1] (clipped when featurized).

    Args:
        budget_left_fraction: Budget left / total budget.
        time_left_fraction: Decisions (or time) left / campaign length.
    """

    budget_left_fraction: float
    time_left_fraction: float

    def __post_init__(self) -> None:
        for name in ("budget_left_fraction", "time_left_fraction"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value)):
                raise ValueError(f"{name}: must be a finite number (got {value!r})")


@dataclass(frozen=True)
class PostColumns:
    """The canonical per-post inputs of the post-derived blocks, for n posts.

    Args:
        sentiment: ``(n, 4)`` float32: compound, pos, neu, neg.
        emotions: ``(n, 7)`` float32 in `EMOTIONS` order.
        intents: ``(n, 5)`` float32 in `INTENTS` order.
        topic_index: ``(n,)`` int64 index into the spec's topics, -1 if not listed.
        time_us: ``(n,)`` int64 microseconds since the Unix epoch (UTC).
    """

    sentiment: np.ndarray
    emotions: np.ndarray
    intents: np.ndarray
    topic_index: np.ndarray
    time_us: np.ndarray

    def __len__(self) -> int:
        return int(self.time_us.shape[0])


def _column_f32(table: pa.Table, names: tuple[str, ...]) -> np.ndarray:
    """``(n, k)`` float32, column-major (each column contiguous, as the blocks read it)."""
    missing = [c for c in names if c not in table.column_names]
    if missing:
        raise ValueError(f"table: missing enrichment columns {missing}")
    out = np.empty((len(names), table.num_rows), dtype=np.float32)
    for row, name in zip(out, names, strict=True):
        column_into(row, table.column(name))
    return out.T


def time_us_of(table: pa.Table) -> np.ndarray:
    """The ``created_at`` column as int64 microseconds since the epoch (UTC)."""
    if "created_at" not in table.column_names:
        raise ValueError("table: missing column 'created_at'")
    col = table.column("created_at")
    if not pa.types.is_timestamp(col.type):
        raise ValueError(f"created_at: must be a timestamp column (got {col.type})")
    col = pc.cast(col, pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return np.asarray(col.to_numpy(), dtype=np.int64)


def user_codes(table: pa.Table) -> tuple[np.ndarray, list[str]]:
    """Integer code of each row's ``author_id`` and the distinct ids (code -> id)."""
    if "author_id" not in table.column_names:
        raise ValueError("table: missing column 'author_id'")
    encoded = table.column("author_id").combine_chunks().dictionary_encode()
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    return codes, encoded.dictionary.to_pylist()


class Featurizer:
    """Builds context vectors laid out by a `FeatureSpec`.

    Args:
        spec: The layout; its ``n_creatives`` sizes the ``fatigue`` block.
    """

    def __init__(self, spec: FeatureSpec) -> None:
        if not isinstance(spec, FeatureSpec):
            raise TypeError(f"spec: must be a FeatureSpec (got {type(spec).__name__})")
        self.spec = spec
        emo = spec.emotions if spec.emotion_features else ()
        self._emo_idx = np.array([EMOTIONS.index(e) for e in emo], dtype=np.int64)
        self._int_idx = np.array([INTENTS.index(i) for i in spec.intents], dtype=np.int64)
        self._topic_lookup = pa.array(list(spec.topics), type=pa.string())
        self._post_blocks = [b for b in spec.blocks if b in POST_BLOCKS]
        self._post_width = sum(len(spec.block_features(b)) for b in self._post_blocks)
        self._layout = self._copy_plan()
        self._profile_cols = np.concatenate(
            [self._emo_idx, [_COMPOUND], len(EMOTIONS) + 1 + self._int_idx]
        ).astype(np.int64)
        first = int(self._profile_cols[0])
        contiguous = np.array_equal(self._profile_cols, first + np.arange(self._profile_cols.size))
        self._profile_slice = slice(first, first + self._profile_cols.size) if contiguous else None

    # ------------------------------------------------------------ canonical inputs

    def post_columns(self, table: pa.Table) -> PostColumns:
        """Canonical inputs of every row of an enriched table."""
        if "topic" not in table.column_names:
            raise ValueError("table: missing column 'topic'")
        topic = pc.index_in(table.column("topic"), value_set=self._topic_lookup)
        topic_index = np.asarray(pc.fill_null(topic, -1).to_numpy(), dtype=np.int64)
        return PostColumns(
            sentiment=_column_f32(table, SENTIMENT_COLUMNS),
            emotions=_column_f32(table, EMOTION_COLUMNS),
            intents=_column_f32(table, INTENT_COLUMNS),
            topic_index=topic_index,
            time_us=time_us_of(table),
        )

    def post_columns_of(self, post: EnrichedPost) -> PostColumns:
        """Canonical inputs of one enriched post (n = 1)."""
        s = post.sentiment
        topics = self.spec.topics
        created = post.post.created_at
        time_us = (created - _EPOCH) // _ONE_US
        return PostColumns(
            sentiment=np.array([[s.compound, s.pos, s.neu, s.neg]], dtype=np.float32),
            emotions=np.array([list(post.emotions.values())], dtype=np.float32),
            intents=np.array([list(post.intents.values())], dtype=np.float32),
            topic_index=np.array([topics.index(post.topic) if post.topic in topics else -1]),
            time_us=np.array([time_us], dtype=np.int64),
        )

    # ------------------------------------------------------------ blocks

    def post_block(self, table: pa.Table | PostColumns) -> np.ndarray:
        """The post-derived blocks (``post``, ``topic``, ``time`` in spec order), ``(n, k)``.

        The array is column-major (each feature contiguous); `assemble` lays it out.

        Args:
            table: An enriched Arrow table, or its `PostColumns`.
        """
        cols = table if isinstance(table, PostColumns) else self.post_columns(table)
        out = np.empty((self._post_width, len(cols)), dtype=np.float32)  # feature-major
        row = 0
        for block in self._post_blocks:
            if block == "post":
                np.clip(cols.sentiment[:, 0], -1.0, 1.0, out=out[row])
                for j in range(1, 4):
                    np.clip(cols.sentiment[:, j], 0.0, 1.0, out=out[row + j])
                row += 4
                for values, idx in ((cols.emotions, self._emo_idx), (cols.intents, self._int_idx)):
                    for j in idx.tolist():
                        np.clip(values[:, j], 0.0, 1.0, out=out[row])
                        row += 1
            elif block == "topic":
                for t in range(len(self.spec.topics)):
                    np.equal(cols.topic_index, t, out=out[row])
                    row += 1
            else:  # time
                day = np.floor_divide(cols.time_us, _US_PER_DAY)
                tod = (cols.time_us - day * _US_PER_DAY).astype(np.float64)  # time_us mod day
                angle = (2.0 * np.pi / _US_PER_DAY) * tod
                np.sin(angle, out=out[row])
                np.cos(angle, out=out[row + 1])
                np.greater_equal((day + 3) % 7, 5, out=out[row + 2])  # 0 = Monday
                row += 3
        return out.T

    def profile_block(self, means: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """The ``profile`` block from profile means ``(n, 13)`` and weights ``(n,)``.

        Args:
            means: Profile value vectors in `PROFILE_VALUE_COLUMNS` order.
            weights: Profile weights (decayed post counts, >= 0).
        """
        m = np.asarray(means, dtype=np.float64)
        w = np.asarray(weights, dtype=np.float64)
        if m.ndim != 2 or m.shape[1] != N_PROFILE_VALUES or w.shape != (m.shape[0],):
            raise ValueError(
                f"means, weights: shapes must be (n, {N_PROFILE_VALUES}) and (n,) "
                f"(got {m.shape}, {w.shape})"
            )
        cols = self._profile_cols if self._profile_slice is None else self._profile_slice
        out = np.empty((m.shape[0], self._profile_cols.size + 1), dtype=np.float32)
        np.clip(m[:, cols], 0.0, 1.0, out=out[:, :-1])  # scalar bounds: one pass
        k = len(self._emo_idx)  # the compound score, in [-1, 1]
        out[:, k] = np.clip(m[:, _COMPOUND], -1.0, 1.0)
        activity = np.log1p(np.maximum(w, 0.0)) / math.log1p(ACTIVITY_CAP)
        out[:, -1] = np.clip(activity, 0.0, 1.0)
        return out

    def campaign_block(
        self, budget_left_fraction: np.ndarray, time_left_fraction: np.ndarray
    ) -> np.ndarray:
        """The ``campaign`` block ``(n, 2)`` from the two fractions (clipped to [0, 1])."""
        b = np.asarray(budget_left_fraction, dtype=np.float64).reshape(-1)
        t = np.asarray(time_left_fraction, dtype=np.float64).reshape(-1)
        if b.shape != t.shape:
            raise ValueError(
                f"budget_left_fraction, time_left_fraction: shapes {b.shape}, {t.shape}"
            )
        out = np.empty((b.shape[0], 2), dtype=np.float32)
        np.clip(b, 0.0, 1.0, out=out[:, 0])
        np.clip(t, 0.0, 1.0, out=out[:, 1])
        return out

    def fatigue_block(self, fatigue: np.ndarray) -> np.ndarray:
        """The ``fatigue`` block ``(n, K)`` from decayed impression counts (clipped)."""
        f = np.asarray(fatigue, dtype=np.float64)
        k = self.spec.n_creatives
        if f.ndim != 2 or f.shape[1] != k:
            raise ValueError(f"fatigue: shape must be (n, {k}) (got {f.shape})")
        return np.clip(f, 0.0, FATIGUE_CLIP, out=np.empty(f.shape, dtype=np.float32))

    # ------------------------------------------------------------ vectors

    def assemble(
        self,
        post: np.ndarray | None = None,
        profile: np.ndarray | None = None,
        campaign: np.ndarray | None = None,
        fatigue: np.ndarray | None = None,
    ) -> np.ndarray:
        """Lay the blocks out in spec order, ``(n, dim)`` float32.

        Args:
            post: `post_block` output (needed if any of ``post``/``topic``/``time`` is on).
            profile: `profile_block` output.
            campaign: `campaign_block` output.
            fatigue: `fatigue_block` output.
        """
        given = {"post": post, "profile": profile, "campaign": campaign, "fatigue": fatigue}
        widths = {
            "post": self._post_width,
            "profile": self._width("profile"),
            "campaign": self._width("campaign"),
            "fatigue": self._width("fatigue"),
        }
        needed = {
            "post": bool(self._post_blocks),
            **{b: b in self.spec.blocks for b in ("profile", "campaign", "fatigue")},
        }
        n = None
        for name, arr in given.items():
            if not needed[name]:
                continue
            if arr is None:
                raise ValueError(f"{name}: the spec's blocks {list(self.spec.blocks)} need it")
            if arr.ndim != 2 or arr.shape[1] != widths[name]:
                raise ValueError(f"{name}: shape must be (n, {widths[name]}) (got {arr.shape})")
            if n is None:
                n = arr.shape[0]
            elif arr.shape[0] != n:
                raise ValueError(f"{name}: has {arr.shape[0]} rows, expected {n}")
        out = np.empty((n or 0, self.spec.dim), dtype=np.float32)
        copies = [(dst, given[name], src) for name, dst, src in self._layout]
        # Row chunks that stay in cache: each block's copy then fills part of rows already
        # cached instead of streaming the whole matrix through memory once per block.
        for start in range(0, n or 0, _ASSEMBLE_ROWS):
            rows = slice(start, start + _ASSEMBLE_ROWS)
            for dst, arr, src in copies:
                assert arr is not None
                out[rows, dst] = arr[rows, src]
        return out

    def _width(self, block: str) -> int:
        return len(self.spec.block_features(block))

    def _copy_plan(self) -> list[tuple[str, slice, slice]]:
        """What `assemble` copies: (argument, columns of the vector, columns of the
        argument), with post-derived blocks adjacent in both merged into one copy."""
        plan: list[tuple[str, slice, slice]] = []
        col = 0
        for block in self.spec.blocks:
            dst = self.spec.slices[block]
            if block not in POST_BLOCKS:
                plan.append((block, dst, slice(None)))
                continue
            width = dst.stop - dst.start
            last = plan[-1] if plan else None
            if last and last[0] == "post" and last[1].stop == dst.start and last[2].stop == col:
                plan[-1] = (
                    "post",
                    slice(last[1].start, dst.stop),
                    slice(last[2].start, col + width),
                )
            else:
                plan.append(("post", dst, slice(col, col + width)))
            col += width
        return plan

    def vector(
        self,
        enriched_post: EnrichedPost,
        profile_state: ProfileState | None,
        campaign: CampaignState | None = None,
        fatigue: np.ndarray | None = None,
    ) -> np.ndarray:
        """The context vector of one decision, ``(dim,)`` float32 (serving path).

        Args:
            enriched_post: The post the person just made.
            profile_state: Their profile after folding this post in (`ProfileStore.update`).
            campaign: Budget and time left (needed with the ``campaign`` block).
            fatigue: ``(K,)`` decayed impressions of each creative to this person (needed
                with the ``fatigue`` block).
        """
        blocks = self.spec.blocks
        post = self.post_block(self.post_columns_of(enriched_post)) if self._post_blocks else None
        profile = None
        if "profile" in blocks:
            if profile_state is None:
                raise ValueError("profile_state: the spec's 'profile' block needs it")
            profile = self.profile_block(
                np.asarray(profile_state.mean)[None, :], np.array([profile_state.weight])
            )
        camp = None
        if "campaign" in blocks:
            if campaign is None:
                raise ValueError("campaign: the spec's 'campaign' block needs a CampaignState")
            camp = self.campaign_block(
                np.array([campaign.budget_left_fraction]), np.array([campaign.time_left_fraction])
            )
        fat = None
        if "fatigue" in blocks:
            if fatigue is None:
                raise ValueError("fatigue: the spec's 'fatigue' block needs a (K,) array")
            fat = self.fatigue_block(np.asarray(fatigue, dtype=np.float64).reshape(1, -1))
        return self.assemble(post, profile, camp, fat)[0]

    def table_profiles(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """Each row's profile after folding it in (`decayed_profiles` over the table)."""
        codes, _ = user_codes(table)
        times_s = time_us_of(table).astype(np.float64) / 1e6
        half_life_s = self.spec.half_life_hours * 3600.0
        values = profile_values(table, np.float32)  # decayed_profiles works in float64
        return decayed_profiles(codes, times_s, values, half_life_s)

    def featurize_table(
        self,
        table: pa.Table,
        campaign: np.ndarray | None = None,
        fatigue: np.ndarray | None = None,
    ) -> np.ndarray:
        """Context vectors of every row of an enriched table, ``(n, dim)`` float32.

        Profiles come from the table itself (each row's author's posts in it up to that row).

        Args:
            table: Enriched posts (`alpharl.schema.ENRICHED_POST_SCHEMA` columns).
            campaign: ``(n, 2)`` budget-left and time-left fractions (``campaign`` block).
            fatigue: ``(n, K)`` fatigue counts (``fatigue`` block).
        """
        post = self.post_block(table) if self._post_blocks else None
        profile = None
        if "profile" in self.spec.blocks:
            profile = self.profile_block(*self.table_profiles(table))
        camp = None
        if campaign is not None:
            c = np.asarray(campaign, dtype=np.float64)
            if c.ndim != 2 or c.shape[1] != 2:
                raise ValueError(f"campaign: shape must be (n, 2) (got {c.shape})")
            camp = self.campaign_block(c[:, 0], c[:, 1])
        fat = None if fatigue is None else self.fatigue_block(fatigue)
        return self.assemble(post, profile, camp, fat)
