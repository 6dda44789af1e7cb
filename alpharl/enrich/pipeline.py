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

import pyarrow as pa
from tqdm.auto import tqdm

from alpharl.enrich.base import Columns, Enricher
from alpharl.enrich.batch import (
    ENRICHER_COLUMNS,
    NEUTRAL_DEFAULTS,
    EnrichmentError,
    check_enrichers,
    default_array,
    run_enrichers,
    versions_array,
)
from alpharl.enrich.inputs import conform_posts, posts_table
from alpharl.schema import (
    ENRICHED_POST_SCHEMA,
    ENRICHMENT_FIELDS,
    POST_SCHEMA,
    Post,
)

SCHEMA_VERSION = "1"
"""Version of what the pipeline itself does to the enrichers' output (merging, defaults,
checks). Bump it when that changes; the enriched-stream cache is keyed by it."""

EnricherSpec = Enricher | Mapping[str, Any]
"""An enricher, or its config: a mapping with a ``_target_`` (Hydra instantiates it)."""


def _build(spec: EnricherSpec, index: int) -> Enricher:
    if isinstance(spec, Mapping):
        if "_target_" not in spec:
            raise ValueError(f"enrichers[{index}]: a config mapping needs a '_target_'")
        from hydra.utils import instantiate

        built: Enricher = instantiate(dict(spec), _convert_="all")
        return built
    return spec


_WORKER_ENRICHERS: list[Enricher] = []


def _init_worker(spec: bytes) -> None:
    """Process-pool initializer: build the enrichers once per worker."""
    _WORKER_ENRICHERS[:] = [_build(s, i) for i, s in enumerate(pickle.loads(spec))]


def _work(job: tuple[int, list[str]]) -> dict[str, pa.Array]:
    offset, texts = job
    return run_enrichers(_WORKER_ENRICHERS, texts, offset)


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
        check_enrichers(self.enrichers)
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
                out[f.name] = pa.chunked_array([versions_array(self.versions, n)])
            else:
                out[f.name] = pa.chunked_array([default_array(f.name, n)])
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
