"""The enriched stream a task works on: ``cfg.stream`` through ``cfg.enrich``, via the cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig


def enriched_stream(cfg: DictConfig) -> Any:
    """Enrich ``cfg.stream`` with ``cfg.enrich``, reading the cache when it holds the result.

    A miss is enriched by ``cfg.engine`` (`alpharl.enrich.engine`) where the config has
    one (``alpharl enrich engine=ray``), else in this process.

    Returns:
        The cache's result: ``table``, ``hit``, ``path`` and ``manifest``.
    """
    from alpharl.enrich.cache import cached_enrich

    source = instantiate(cfg.stream, _convert_="all")
    pipeline = instantiate(cfg.enrich, _convert_="all")
    engine_cfg = cfg.get("engine")
    engine = instantiate(engine_cfg, _convert_="all") if engine_cfg is not None else None
    try:
        return cached_enrich(
            source,
            pipeline,
            Path(cfg.paths.cache_dir),
            progress=bool(cfg.get("progress", False)),
            use_cache=bool(cfg.get("use_cache", True)),
            engine=engine,
        )
    finally:
        close = getattr(pipeline, "close", None)
        if close is not None:
            close()  # the process pool of n_workers > 1
