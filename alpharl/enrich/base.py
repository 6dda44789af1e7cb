"""The enricher contract.

An enricher turns a batch of texts into columns of `alpharl.schema.ENRICHED_POST_SCHEMA`:
``enrich(texts) -> {column name: list or numpy array of len(texts)}``. Each enricher
fills only its own columns and declares them in ``columns``; the `Pipeline` merges the
outputs and fills the columns no enricher produced with neutral defaults. Working on
columns instead of record objects keeps batch enrichment fast and lets the output go
straight into Arrow and Parquet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

Columns = dict[str, Any]
"""Column name -> list or 1-d numpy array, one entry per input text."""


@runtime_checkable
class Enricher(Protocol):
    """Enriches a batch of texts.

    Attributes:
        name: Stable name (``vader``, ``emotion_lexicon``, ...), the key in
            ``enricher_versions``.
        version: Changes whenever the enricher's output for some input could change
            (code, lexicon, model, patterns); the enriched-stream cache is keyed by it.
        columns: The columns of `ENRICHED_POST_SCHEMA` it fills.
    """

    name: str
    version: str
    columns: tuple[str, ...]

    def enrich(self, texts: Sequence[str]) -> Columns: ...
