"""One local Ray (``num_cpus=2``) for the Ray tests, started once and shut down at the end.

Its workers get this folder on ``PYTHONPATH`` so they can import `ray_toys` (enrichers the
tests pass as objects, pickled by reference), and single-threaded numerics.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def ray_local() -> Iterator[Any]:
    """The ``ray`` module, initialised with a local 2-CPU Ray for the session."""
    ray = pytest.importorskip("ray")
    from alpharl.ray_cluster import SINGLE_THREAD_ENV

    if ray.is_initialized():  # pragma: no cover - another session-level user
        ray.shutdown()
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        runtime_env={"env_vars": {**SINGLE_THREAD_ENV, "PYTHONPATH": path}},
    )
    yield ray
    ray.shutdown()
