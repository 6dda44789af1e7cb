"""Session-wide test setup: single-threaded numerics, offline model hubs, task configs."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from alpharl.config import config_dir, register_schemas  # noqa: E402

SMALL_STREAM = ["stream=synthetic", "stream.n_users=60", "stream.n_posts=1500", "stream.days=3"]
"""A synthetic stream small enough to enrich in a second or two."""


@pytest.fixture(scope="session")
def small_stream() -> list[str]:
    """`SMALL_STREAM`: overrides selecting a small synthetic stream."""
    return list(SMALL_STREAM)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One enrichment cache for the whole session: each stream is enriched once."""
    return tmp_path_factory.mktemp("cache")


Compose = Callable[..., DictConfig]


@pytest.fixture
def compose_task(tmp_path: Path, cache_dir: Path) -> Compose:
    """``compose_task(task, overrides, small=True)``: a composed config writing under tmp_path.

    ``small`` adds `SMALL_STREAM`; MLflow's store is ``tmp_path/runs/mlflow.db``.
    """
    register_schemas()

    def _compose(task: str, overrides: Sequence[str] = (), small: bool = True) -> DictConfig:
        paths = [
            f"paths.root_dir={tmp_path}",
            f"paths.cache_dir={cache_dir}",
            "progress=false",
        ]
        with initialize_config_dir(str(config_dir()), version_base="1.3"):
            return compose(
                task,
                overrides=[*paths, *(SMALL_STREAM if small else []), *overrides],
                return_hydra_config=False,
            )

    return _compose


@pytest.fixture(autouse=True)
def _no_tracking_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
