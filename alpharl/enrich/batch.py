"""One batch through the enrichers: the column contract, checked and converted to Arrow.

`check_enrichers` checks a pipeline's enrichers against the protocol (known columns, no
column or name claimed twice, whole sentiment/emotion/intent groups); `run_enrichers` runs
them on one batch and turns each declared column into an Arrow array of
`ENRICHED_POST_SCHEMA`'s type, raising `EnrichmentError` with the enricher, column and row
of anything that breaks the contract; `default_array` and `versions_array` build the
columns the pipeline fills itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from alpharl.enrich.base import Enricher
from alpharl.schema import (
    EMOTION_COLUMNS,
    ENRICHMENT_FIELDS,
    INTENT_COLUMNS,
    SENTIMENT_COLUMNS,
    TOPICS,
    Entity,
)

ENRICHER_COLUMNS: tuple[str, ...] = tuple(
    f.name for f in ENRICHMENT_FIELDS if f.name != "enricher_versions"
)
"""The columns an enricher may declare (``enricher_versions`` is the pipeline's own)."""

NEUTRAL_DEFAULTS: dict[str, float | str] = {
    "sentiment_neu": 1.0,
    "emotion_neutral": 1.0,
    "intent_other": 1.0,
    "topic": "other",
}
"""Values of the columns no enricher fills that are not zero or an empty list."""

_TYPES: dict[str, pa.DataType] = {f.name: f.type for f in ENRICHMENT_FIELDS}
_GROUPS: dict[str, tuple[str, ...]] = {
    "sentiment": SENTIMENT_COLUMNS,
    "emotion": EMOTION_COLUMNS,
    "intent": INTENT_COLUMNS,
}
_PROBABILITY_GROUPS = ("emotion", "intent")
_SUM_TOLERANCE = 1e-3
_TOPICS = pa.array(TOPICS, pa.string())


class EnrichmentError(RuntimeError):
    """An enricher failed or returned columns that break the contract; says which and where."""


# --------------------------------------------------------------------------- building


def check_enrichers(enrichers: Sequence[Any]) -> None:
    """Raise naming the enricher (and column) that breaks the protocol or clashes."""
    if not enrichers:
        raise ValueError("enrichers: a pipeline needs at least one enricher")
    names: dict[str, int] = {}
    owner: dict[str, str] = {}
    for i, e in enumerate(enrichers):
        where = f"enrichers[{i}] ({type(e).__name__})"
        if not isinstance(e, Enricher):
            lacking = [a for a in ("name", "version", "columns", "enrich") if not hasattr(e, a)]
            raise TypeError(f"{where}: is not an Enricher; it lacks {lacking}")
        for attr in ("name", "version"):
            value = getattr(e, attr)
            if not isinstance(value, str) or not value:
                raise TypeError(f"{where}.{attr}: must be a non-empty string (got {value!r})")
        if e.name in names:
            raise ValueError(
                f"{where}: name {e.name!r} is already used by enrichers[{names[e.name]}]"
            )
        names[e.name] = i
        cols = e.columns
        if isinstance(cols, str) or not all(isinstance(c, str) for c in cols):
            raise TypeError(f"{where}.columns: must be a tuple of column names (got {cols!r})")
        if not cols:
            raise ValueError(f"{where}.columns: enricher {e.name!r} declares no columns")
        for c in cols:
            if c not in ENRICHER_COLUMNS:
                raise ValueError(
                    f"{where}.columns: {c!r} of enricher {e.name!r} is not an enrichment "
                    f"column of ENRICHED_POST_SCHEMA; known: {list(ENRICHER_COLUMNS)}"
                )
            if c in owner:
                raise ValueError(
                    f"{where}.columns: {c!r} is claimed by both {owner[c]!r} and {e.name!r}"
                )
            owner[c] = e.name
        for group, members in _GROUPS.items():
            claimed = [c for c in members if c in cols]
            if claimed and len(claimed) != len(members):
                missing = [c for c in members if c not in cols]
                raise ValueError(
                    f"{where}.columns: enricher {e.name!r} fills {claimed} but not {missing}; "
                    f"an enricher fills all {group} columns or none"
                )


# --------------------------------------------------------------------------- running


def _entity_values(values: Any) -> Any:
    return [[(x.text, x.label) if isinstance(x, Entity) else x for x in row] for row in values]


def _where(enricher: Enricher, column: str, offset: int, row: int | None = None) -> str:
    at = f", row {offset + row}" if row is not None else f", batch at row {offset}"
    return f"enricher {enricher.name!r} column {column!r}{at}"


def _to_array(
    enricher: Enricher, column: str, values: Any, texts: Sequence[str], offset: int
) -> pa.Array:
    typ = _TYPES[column]
    try:
        if pa.types.is_floating(typ):
            arr = pa.array(np.asarray(values, dtype=np.float32).reshape(-1), typ)
        else:
            if column == "entities":
                values = _entity_values(values)
            arr = pa.array(values, typ)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise EnrichmentError(
            f"{_where(enricher, column, offset)}: cannot be read as {typ} ({exc})"
        ) from None
    if len(arr) != len(texts):
        raise EnrichmentError(
            f"{_where(enricher, column, offset)}: has {len(arr)} values for {len(texts)} texts"
        )
    if arr.null_count:
        row = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
        raise EnrichmentError(
            f"{_where(enricher, column, offset, row)}: is null (text {texts[row][:60]!r})"
        )
    if pa.types.is_floating(typ):
        x = arr.to_numpy()
        if not np.isfinite(x).all():
            row = int(np.flatnonzero(~np.isfinite(x))[0])
            raise EnrichmentError(
                f"{_where(enricher, column, offset, row)}: is {x[row]} (text {texts[row][:60]!r})"
            )
    elif column == "topic" and not pc.all(pc.is_in(arr, value_set=_TOPICS)).as_py():
        row = int(np.flatnonzero(~pc.is_in(arr, value_set=_TOPICS).to_numpy(False))[0])
        raise EnrichmentError(
            f"{_where(enricher, column, offset, row)}: {arr[row].as_py()!r} is not one of "
            f"{list(TOPICS)}"
        )
    return arr


def _check_probabilities(
    enricher: Enricher, group: str, arrays: Mapping[str, pa.Array], offset: int
) -> None:
    probs = np.column_stack([arrays[c].to_numpy() for c in _GROUPS[group]]).astype(np.float64)
    bad_value = (probs < 0.0) | (probs > 1.0 + _SUM_TOLERANCE)
    if bad_value.any():
        row, j = (int(v[0]) for v in np.nonzero(bad_value))
        raise EnrichmentError(
            f"{_where(enricher, _GROUPS[group][j], offset, row)}: {probs[row, j]} is not a "
            "probability"
        )
    sums = probs.sum(axis=1)
    off = np.abs(sums - 1.0) > _SUM_TOLERANCE
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise EnrichmentError(
            f"enricher {enricher.name!r}, row {offset + row}: the {group} probabilities sum "
            f"to {sums[row]:.6f}, not 1"
        )


def run_enrichers(
    enrichers: Sequence[Enricher], texts: Sequence[str], offset: int = 0
) -> dict[str, pa.Array]:
    """Run each enricher on one batch and check its columns.

    Args:
        enrichers: Checked enrichers (as `Pipeline` holds them).
        texts: The batch.
        offset: Row number of the batch's first text, for error messages.

    Returns:
        ``{column: Arrow array of the schema's type}`` for every declared column.

    Raises:
        EnrichmentError: naming the enricher, the column and the row.
    """
    out: dict[str, pa.Array] = {}
    for e in enrichers:
        try:
            cols = e.enrich(texts)
        except Exception as exc:
            raise EnrichmentError(
                f"enricher {e.name!r} failed on rows {offset}..{offset + len(texts) - 1}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(cols, Mapping):
            raise EnrichmentError(
                f"enricher {e.name!r}: enrich() must return {{column: values}} "
                f"(got {type(cols).__name__})"
            )
        missing = [c for c in e.columns if c not in cols]
        extra = [c for c in cols if c not in e.columns]
        if missing or extra:
            raise EnrichmentError(
                f"enricher {e.name!r}: enrich() returned columns {sorted(cols)}; "
                f"missing {missing}, undeclared {extra}"
            )
        arrays = {c: _to_array(e, c, cols[c], texts, offset) for c in e.columns}
        for group in _PROBABILITY_GROUPS:
            if _GROUPS[group][0] in arrays:
                _check_probabilities(e, group, arrays, offset)
        out.update(arrays)
    return out


def default_array(column: str, n: int) -> pa.Array:
    typ = _TYPES[column]
    value = NEUTRAL_DEFAULTS.get(column)
    if pa.types.is_floating(typ):
        fill = np.full(n, float(value or 0.0), dtype=np.float32)
        return pa.array(fill, typ)
    if column == "topic":
        return pa.repeat(pa.scalar(value, typ), n)
    assert pa.types.is_list(typ), column
    offsets = pa.array(np.zeros(n + 1, dtype=np.int32), pa.int32())
    return pa.ListArray.from_arrays(offsets, pa.array([], typ.value_type), type=typ)


def versions_array(versions: Mapping[str, str], n: int) -> pa.Array:
    k = len(versions)
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * k, pa.int32())
    # the k names and versions repeated n times, taken in C (a Python list of n * k strings
    # cost 0.3 us per post)
    repeat = pa.array(np.tile(np.arange(k, dtype=np.int32), n))
    keys = pc.take(pa.array(list(versions), pa.string()), repeat)
    items = pc.take(pa.array(list(versions.values()), pa.string()), repeat)
    return pa.MapArray.from_arrays(offsets, keys, items, type=_TYPES["enricher_versions"])
