"""The batched enrichment pipeline: posts in, `ENRICHED_POST_SCHEMA` table out.

A `Pipeline` runs its enrichers over batches of post texts, checks and merges their columns
(each enricher fills only the columns it declares; no two enrichers share one) and fills
the columns no enricher produced with neutral defaults: ``emotion_neutral = 1``,
``intent_other = 1``, ``sentiment_neu = 1``, topic ``other``, empty lists. Every row gets
``enricher_versions``, the ``{name: version}`` of the enrichers that ran.

With ``n_workers > 1`` batches are mapped, in order, over a process pool (``forkserver``
where the platform has it, else ``spawn``; never ``fork``, which would copy threads and
locks of the parent). Each worker builds the enrichers once, in its initializer, from a
picklable spec: the enricher's config mapping when the pipeline was given one, else the
pickled enricher (an enricher may define ``__reduce__`` to be rebuilt from its arguments
instead of copied). The output is identical to ``n_workers=1``: the same batches go
through the same enrichers.
"""

from __future__ import annotations

import multiprocessing as mp
import pickle
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tqdm.auto import tqdm

from alpharl.enrich.base import Columns, Enricher
from alpharl.enrich.inputs import conform_posts, posts_table
from alpharl.schema import (
    EMOTION_COLUMNS,
    ENRICHED_POST_SCHEMA,
    ENRICHMENT_FIELDS,
    INTENT_COLUMNS,
    POST_SCHEMA,
    SENTIMENT_COLUMNS,
    TOPICS,
    Entity,
    Post,
)

SCHEMA_VERSION = "1"
"""Version of what the pipeline itself does to the enrichers' output (merging, defaults,
checks). Bump it when that changes; the enriched-stream cache is keyed by it."""

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

EnricherSpec = Enricher | Mapping[str, Any]
"""An enricher, or its config: a mapping with a ``_target_`` (Hydra instantiates it)."""


class EnrichmentError(RuntimeError):
    """An enricher failed or returned columns that break the contract; says which and where."""


# --------------------------------------------------------------------------- building


def _build(spec: EnricherSpec, index: int) -> Enricher:
    if isinstance(spec, Mapping):
        if "_target_" not in spec:
            raise ValueError(f"enrichers[{index}]: a config mapping needs a '_target_'")
        from hydra.utils import instantiate

        built: Enricher = instantiate(dict(spec), _convert_="all")
        return built
    return spec


def _check_enrichers(enrichers: Sequence[Any]) -> None:
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


_WORKER_ENRICHERS: list[Enricher] = []


def _init_worker(spec: bytes) -> None:
    """Process-pool initializer: build the enrichers once per worker."""
    _WORKER_ENRICHERS[:] = [_build(s, i) for i, s in enumerate(pickle.loads(spec))]


def _work(job: tuple[int, list[str]]) -> dict[str, pa.Array]:
    offset, texts = job
    return run_enrichers(_WORKER_ENRICHERS, texts, offset)


def _default_array(column: str, n: int) -> pa.Array:
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


def _versions_array(versions: Mapping[str, str], n: int) -> pa.Array:
    k = len(versions)
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * k, pa.int32())
    # the k names and versions repeated n times, taken in C (a Python list of n * k strings
    # cost 0.3 us per post)
    repeat = pa.array(np.tile(np.arange(k, dtype=np.int32), n))
    keys = pc.take(pa.array(list(versions), pa.string()), repeat)
    items = pc.take(pa.array(list(versions.values()), pa.string()), repeat)
    return pa.MapArray.from_arrays(offsets, keys, items, type=_TYPES["enricher_versions"])


# --------------------------------------------------------------------------- the pipeline


class Pipeline:
    """Enriches posts in batches with a fixed list of enrichers.

    Args:
        enrichers: The enrichers, in the order they run: `Enricher` objects or their configs
            (mappings with a ``_target_``). Each must satisfy the protocol, declare only
            enrichment columns of `ENRICHED_POST_SCHEMA`, and share no column or name with
            another.
        batch_size: Texts per batch.
        n_workers: Processes enriching batches in parallel (1 = in this process).

    Raises:
        TypeError, ValueError: naming the enricher (and column) that does not fit.
    """

    def __init__(
        self, enrichers: Sequence[EnricherSpec], batch_size: int = 512, n_workers: int = 1
    ) -> None:
        for name, value in (("batch_size", batch_size), ("n_workers", n_workers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: must be a positive integer (got {value!r})")
        if isinstance(enrichers, Mapping | str) or not isinstance(enrichers, Sequence):
            raise TypeError(f"enrichers: must be a list (got {type(enrichers).__name__})")
        specs = list(enrichers)
        self.enrichers: list[Enricher] = [_build(s, i) for i, s in enumerate(specs)]
        _check_enrichers(self.enrichers)
        self.batch_size = batch_size
        self.n_workers = n_workers
        self.columns: tuple[str, ...] = tuple(c for e in self.enrichers for c in e.columns)
        self._specs: list[EnricherSpec] = [
            dict(s) if isinstance(s, Mapping) else e
            for s, e in zip(specs, self.enrichers, strict=True)
        ]
        self._worker_spec = self.worker_spec(f"n_workers={n_workers}") if n_workers > 1 else b""
        self._pool: ProcessPoolExecutor | None = None
        self._finalizer: weakref.finalize | None = None

    def __repr__(self) -> str:
        names = ", ".join(f"{k}@{v}" for k, v in self.versions.items())
        return f"Pipeline([{names}], batch_size={self.batch_size}, n_workers={self.n_workers})"

    def worker_spec(self, context: str = "worker processes") -> bytes:
        """The enrichers as a worker rebuilds them: their configs (else the objects), pickled.

        `Pipeline.from_worker_spec` builds the same pipeline from it in another process
        (the process pool's workers, the Ray engine's actors).

        Args:
            context: Who needs the spec, for the error message.

        Raises:
            TypeError: if an enricher given as an object cannot be pickled.
        """
        try:
            return pickle.dumps(self._specs)
        except Exception as exc:
            raise TypeError(
                f"{context}: the enrichers cannot be sent to worker processes "
                f"({type(exc).__name__}: {exc}); pass their configs (mappings with a "
                "'_target_') or use n_workers=1"
            ) from exc

    @classmethod
    def from_worker_spec(cls, spec: bytes, batch_size: int) -> Pipeline:
        """The pipeline of `worker_spec`, built here, running in this process."""
        return cls(pickle.loads(spec), batch_size=batch_size, n_workers=1)

    @property
    def versions(self) -> dict[str, str]:
        """``{enricher name: version}``, in run order."""
        return {e.name: e.version for e in self.enrichers}

    @property
    def schema_version(self) -> str:
        """`SCHEMA_VERSION` and a digest of `ENRICHED_POST_SCHEMA` (part of the cache key)."""
        import hashlib

        digest = hashlib.sha256(ENRICHED_POST_SCHEMA.to_string().encode()).hexdigest()
        return f"{SCHEMA_VERSION}-{digest[:12]}"

    # ------------------------------------------------------------------ public API

    def enrich_table(
        self, posts: pa.Table, progress: bool = False, row_offset: int = 0
    ) -> pa.Table:
        """Enrich a table of posts.

        Args:
            posts: Posts with the columns of `POST_SCHEMA` (extra columns are dropped).
            progress: Show a tqdm progress bar.
            row_offset: Row number of the first post in a larger input (a shard's place in
                the whole), for error messages.

        Returns:
            A table of `ENRICHED_POST_SCHEMA`, one row per post, in the same order.
        """
        table = conform_posts(posts)
        columns = self._enrich(table.column("text").to_pylist(), progress, row_offset)
        arrays: list[pa.ChunkedArray | pa.Array] = [table.column(n) for n in POST_SCHEMA.names]
        arrays += [columns[f.name] for f in ENRICHMENT_FIELDS]
        return pa.Table.from_arrays(arrays, schema=ENRICHED_POST_SCHEMA)

    def enrich_posts(self, posts: Sequence[Post]) -> pa.Table:
        """Enrich `Post` objects; a table of `ENRICHED_POST_SCHEMA` in the same order."""
        return self.enrich_table(posts_table(posts))

    def enrich_texts(self, texts: Sequence[str]) -> Columns:
        """Enrich bare texts.

        Returns:
            Every enrichment column of `ENRICHED_POST_SCHEMA` (defaults filled):
            float columns as float32 numpy arrays, the others as Python lists.
        """
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise TypeError(f"texts: must be a sequence of strings (got {type(texts).__name__})")
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}]: must be a string (got {type(t).__name__})")
        columns = self._enrich(list(texts), progress=False)
        return {
            name: col.to_numpy() if pa.types.is_floating(col.type) else col.to_pylist()
            for name, col in columns.items()
        }

    def close(self) -> None:
        """Stop the worker processes, if any were started (a later call starts new ones)."""
        if self._finalizer is not None:
            self._finalizer()
        self._pool = None
        self._finalizer = None

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_pool"] = None
        state["_finalizer"] = None
        return state

    # ------------------------------------------------------------------ internals

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
            self._pool = ProcessPoolExecutor(
                max_workers=self.n_workers,
                mp_context=mp.get_context(method),
                initializer=_init_worker,
                initargs=(self._worker_spec,),
            )
            self._finalizer = weakref.finalize(
                self, self._pool.shutdown, wait=True, cancel_futures=True
            )
        return self._pool

    def _enrich(
        self, texts: list[str], progress: bool, offset: int = 0
    ) -> dict[str, pa.ChunkedArray]:
        n, size = len(texts), self.batch_size
        jobs = [(offset + i, texts[i : i + size]) for i in range(0, n, size)]
        chunks: dict[str, list[pa.Array]] = {c: [] for c in self.columns}
        parallel = self.n_workers > 1 and len(jobs) > 1
        with tqdm(total=n, unit="post", desc="enrich", disable=not progress) as bar:
            results = (
                self._executor().map(_work, jobs)
                if parallel
                else (run_enrichers(self.enrichers, t, o) for o, t in jobs)
            )
            try:
                for (_, batch), result in zip(jobs, results, strict=True):
                    for c, arr in result.items():
                        chunks[c].append(arr)
                    bar.update(len(batch))
            except BrokenProcessPool as exc:
                self.close()
                raise EnrichmentError(
                    f"an enrichment worker process died ({exc}); check that every enricher "
                    "can be built in a fresh process"
                ) from exc
        out: dict[str, pa.ChunkedArray] = {}
        for f in ENRICHMENT_FIELDS:
            if f.name in chunks:
                out[f.name] = pa.chunked_array(chunks[f.name], type=f.type)
            elif f.name == "enricher_versions":
                out[f.name] = pa.chunked_array([_versions_array(self.versions, n)])
            else:
                out[f.name] = pa.chunked_array([_default_array(f.name, n)])
        return out


def default_pipeline(**overrides: Any) -> Pipeline:
    """The offline default pipeline: ``configs/enrich/default.yaml``, instantiated.

    VADER sentiment, lexicon emotions, spaCy entities (blank English + EntityRuler), rule
    intents and topics. There is one definition, the YAML file: ``alpharl enrich`` and this
    function build the same pipeline.

    Args:
        **overrides: Top-level keys of that config to replace, e.g. ``n_workers=2``,
            ``batch_size=256`` or ``enrichers=[...]``.

    Raises:
        ValueError: naming an override the config does not have.
    """
    from hydra.utils import instantiate
    from omegaconf import DictConfig, OmegaConf

    from alpharl.config import config_dir

    cfg = OmegaConf.load(config_dir() / "enrich" / "default.yaml")
    assert isinstance(cfg, DictConfig)
    unknown = [k for k in overrides if k.startswith("_") or k not in cfg]
    if unknown:
        known = [str(k) for k in cfg if not str(k).startswith("_")]
        raise ValueError(f"default_pipeline: unknown override(s) {unknown}; known: {known}")
    pipeline = instantiate(cfg, _convert_="all", **overrides)
    assert isinstance(pipeline, Pipeline)
    return pipeline


__all__ = [
    "ENRICHER_COLUMNS",
    "NEUTRAL_DEFAULTS",
    "SCHEMA_VERSION",
    "EnricherSpec",
    "EnrichmentError",
    "Pipeline",
    "default_pipeline",
    "run_enrichers",
]
