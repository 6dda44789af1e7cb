"""Fixtures for the environment tests: small enriched tables built with numpy.

``tests/`` is on ``sys.path`` (the root conftest's folder), so a bare ``import envs``
would find this folder as a namespace package and shadow the real ``envs`` package,
which the editable install serves only after ``sys.path`` is searched. Putting the
repository root on ``sys.path`` makes the regular package win (a regular package beats
namespace portions wherever it is on the path); a namespace ``envs`` imported before
that is dropped from ``sys.modules``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa
import pytest

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.append(str(_ROOT))
if getattr(sys.modules.get("envs"), "__file__", "") is None:
    del sys.modules["envs"]
sys.path.insert(0, str(_ROOT / "tests" / "features"))

from enriched_tables import make_enriched_table  # noqa: E402


@pytest.fixture(scope="session")
def posts() -> pa.Table:
    """1,500 enriched posts by 60 people over a week."""
    return make_enriched_table(1500, 60, seed=0)


@pytest.fixture(scope="session")
def small_posts() -> pa.Table:
    """200 enriched posts by 10 people in a day (people post again soon: fatigue matters)."""
    return make_enriched_table(200, 10, seed=1, days=1.0)
