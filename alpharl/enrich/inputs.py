"""Posts as an Arrow table of `POST_SCHEMA`: from `Post` objects, replay records or a source.

The enrichment pipeline and the enriched-stream cache work on whole tables. These
functions build them column by column (no per-row dicts), and read a source through its
columnar path where it has one: a `ReplayStream` hands over its validated records
(`ReplayStream.read`) without building a `Post` per record; any other `StreamSource` is
iterated once, and a post it yields that Arrow cannot store (a lone surrogate, a NUL, no
visible text) goes to its dead-letter file instead of failing the batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pyarrow as pa

from alpharl.schema import POST_SCHEMA, Post
from alpharl.streams.base import DeadLetterWriter, StreamSource, StreamStats
from alpharl.streams.records import COUNT_FIELDS, EPOCH, RecordColumns
from alpharl.streams.replay import ReplayStream
from alpharl.textcheck import string_problem, text_problem

_ANNOTATIONS = POST_SCHEMA.field("annotations").type
_TS = POST_SCHEMA.field("created_at").type
_ONE_US = timedelta(microseconds=1)


def _annotation_array(rows: Sequence[Mapping[str, float] | None]) -> pa.Array:
    lengths = np.fromiter((len(a) if a else 0 for a in rows), dtype=np.int32, count=len(rows))
    offsets = np.zeros(len(rows) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    keys = [k for a in rows if a for k in a]
    items = [v for a in rows if a for v in a.values()]
    return pa.MapArray.from_arrays(
        pa.array(offsets, pa.int32()),
        pa.array(keys, pa.string()),
        pa.array(items, pa.float64()),
        type=_ANNOTATIONS,
    )


def _table(
    ids: Sequence[str],
    created_us: np.ndarray,
    platforms: Sequence[str],
    authors: Sequence[str],
    texts: Sequence[str],
    langs: Sequence[str | None],
    counts: np.ndarray,
    annotations: Sequence[Mapping[str, float] | None],
) -> pa.Table:
    arrays = [
        pa.array(ids, pa.string()),
        pa.array(np.asarray(created_us, dtype=np.int64), pa.int64()).cast(_TS),
        pa.array(platforms, pa.string()),
        pa.array(authors, pa.string()),
        pa.array(texts, pa.string()),
        pa.array(langs, pa.string()),
        *(pa.array(np.ascontiguousarray(counts[:, j]), pa.int64()) for j in range(4)),
        _annotation_array(annotations),
    ]
    return pa.Table.from_arrays(arrays, schema=POST_SCHEMA)


def records_table(records: RecordColumns) -> pa.Table:
    """Validated replay records (`ReplayStream.read`) as a `POST_SCHEMA` table."""
    return _table(
        records.ids,
        records.created_us,
        records.platforms,
        records.authors,
        records.texts,
        records.langs,
        np.asarray(records.counts, dtype=np.int64).reshape(-1, len(COUNT_FIELDS)),
        records.annotations,
    )


def posts_table(posts: Iterable[Post]) -> pa.Table:
    """`Post` objects as a `POST_SCHEMA` table (same content as `posts_to_table`, faster)."""
    items = posts if isinstance(posts, Sequence) else list(posts)
    for i, p in enumerate(items):
        if not isinstance(p, Post):
            raise TypeError(f"posts[{i}]: must be an alpharl.schema.Post (got {type(p).__name__})")
    n = len(items)
    created = np.array([(p.created_at - EPOCH) // _ONE_US for p in items], dtype=np.int64).reshape(
        n
    )
    counts = np.array(
        [(p.like_count, p.reply_count, p.repost_count, p.quote_count) for p in items],
        dtype=np.int64,
    ).reshape(n, 4)
    return _table(
        [p.id for p in items],
        created,
        [p.platform for p in items],
        [p.author_id for p in items],
        [p.text for p in items],
        [p.lang for p in items],
        counts,
        [p.annotations for p in items],
    )


@dataclass
class SourcePosts:
    """One pass over a source, as a table, with what the source counted while reading it.

    Args:
        table: The posts, in the order the source yields them (`POST_SCHEMA`).
        stats: The source's counts for this pass (read, yielded, dead letters, reasons).
        description: ``repr`` of the source, for manifests and logs.
    """

    table: pa.Table
    stats: StreamStats = field(default_factory=StreamStats)
    description: str = ""


def read_source(source: StreamSource | pa.Table) -> SourcePosts:
    """Read one pass of ``source`` into a `POST_SCHEMA` table.

    A `ReplayStream` is read through its columnar path (no `Post` objects; its ``pace`` is
    not applied: one pass is read as fast as the file allows); other sources are reset and
    iterated once; a table is checked and taken as it is.

    Raises:
        ValueError: for a looping replay (it never ends), or a table that is not
            `POST_SCHEMA`-compatible (naming the column).
    """
    if isinstance(source, pa.Table):
        return SourcePosts(conform_posts(source), StreamStats(), "pyarrow.Table")
    if getattr(source, "loop", False):
        raise ValueError(
            f"source: {source!r} loops forever; enrich one pass (loop=false) and let the "
            "consumer loop over the enriched table"
        )
    source.reset()
    if isinstance(source, ReplayStream):
        records = source.read()
        table = records_table(records)
        source.stats.yielded += len(records)
    else:
        table = posts_table(_storable_posts(source))
    return SourcePosts(table, source.stats, repr(source))


def post_problem(post: Post) -> str | None:
    """Why a `Post` cannot be stored in Arrow (``field: reason``), or None when it can.

    `Post` checks types, not code points: a source that builds posts itself (not through
    `alpharl.streams.records`) may hand over a lone surrogate or a NUL, which `pa.array`
    would then refuse for the whole batch.
    """
    for name in ("id", "platform", "author_id", "lang"):
        value = getattr(post, name)
        problem = None if value is None else string_problem(value)
        if problem is not None:
            return f"{name}: {problem}"
    problem = text_problem(post.text)
    return None if problem is None else f"text: {problem}"


def _storable_posts(source: StreamSource) -> Iterator[Post]:
    """The source's posts, dead-lettering (and counting) the ones Arrow cannot store."""
    writer = getattr(source, "dead_letter", None)
    for i, post in enumerate(source):
        problem = post_problem(post)
        if problem is None:
            yield post
            continue
        source.stats.dead(problem)
        source.stats.yielded -= 1
        if isinstance(writer, DeadLetterWriter):
            writer.write(source.name, {"post": i}, problem, {"id": post.id, "text": post.text})


def conform_posts(table: pa.Table) -> pa.Table:
    """``table``'s post columns, cast to `POST_SCHEMA` (extra columns are dropped).

    Raises:
        TypeError: if ``table`` is not a `pyarrow.Table`.
        ValueError: naming a missing column, one that cannot be cast, or one holding nulls
            where `POST_SCHEMA` allows none.
    """
    if not isinstance(table, pa.Table):
        raise TypeError(f"posts: must be a pyarrow.Table (got {type(table).__name__})")
    missing = [n for n in POST_SCHEMA.names if n not in table.column_names]
    if missing:
        raise ValueError(f"posts: missing columns {missing} of POST_SCHEMA")
    columns = []
    for f in POST_SCHEMA:
        col = table.column(f.name)
        if not col.type.equals(f.type):
            try:
                col = col.cast(f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValueError(
                    f"posts.{f.name}: cannot be read as {f.type} (got {col.type}: {exc})"
                ) from None
        if not f.nullable and col.null_count:
            raise ValueError(f"posts.{f.name}: has {col.null_count} null values")
        columns.append(col)
    return pa.Table.from_arrays(columns, schema=POST_SCHEMA)


def content_hash(table: pa.Table) -> str:
    """SHA-256 of a table's content (its Arrow IPC stream, chunks combined), hex."""
    digest = hashlib.sha256()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table.combine_chunks())
    digest.update(memoryview(sink.getvalue()))
    return digest.hexdigest()
