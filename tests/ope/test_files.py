"""Logged feedback as .npz and .parquet files: round trips, hand-made layouts, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alpharl.ope import LoggedBanditFeedback
from alpharl.ope.files import read_logged, write_logged


def _feedback(with_extras: bool = True) -> LoggedBanditFeedback:
    rng = np.random.default_rng(0)
    n, k = 12, 4
    mask = np.ones((n, k), dtype=bool)
    mask[::3, 1] = False
    action = np.array([0, 2, 3, 0, 1, 3, 0, 1, 2, 3, 3, 0])
    return LoggedBanditFeedback.from_arrays(
        rng.normal(size=(n, 3)), action, rng.random(n), rng.uniform(0.1, 1.0, n),
        n_actions=k,
        policy_version=[str(i % 2 + 1) for i in range(n)] if with_extras else None,
        action_mask=mask if with_extras else None,
    )  # fmt: skip


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
@pytest.mark.parametrize("with_extras", [True, False])
def test_round_trip_keeps_every_field(tmp_path: Path, suffix: str, with_extras: bool) -> None:
    fb = _feedback(with_extras)
    back = read_logged(write_logged(fb, tmp_path / f"sub/log{suffix}"))
    assert back.n_actions == 4
    for name in ("context", "action", "reward", "pscore", "position"):
        np.testing.assert_array_equal(getattr(back, name), getattr(fb, name))
    if with_extras:
        assert back.policy_version is not None
        assert back.policy_version.tolist() == fb.policy_version.tolist()  # type: ignore[union-attr]
        np.testing.assert_array_equal(back.action_mask, fb.action_mask)  # type: ignore[arg-type]
    else:
        assert back.policy_version is None
        assert back.action_mask is None
        assert read_logged(tmp_path / f"sub/log{suffix}", n_actions=6).n_actions == 6


def test_hand_made_parquet_with_feature_columns(tmp_path: Path) -> None:
    table = pa.table(
        {
            "context_10": [5.0, 6.0],  # sorted by number, not by name
            "context_2": [1.0, 2.0],
            "action": [0, 1],
            "reward": [1.0, 0.0],
            "propensity": [0.5, 0.25],
        }
    )
    pq.write_table(table, tmp_path / "x.parquet")
    fb = read_logged(tmp_path / "x.parquet")
    assert fb.context.tolist() == [[1.0, 5.0], [2.0, 6.0]]
    assert fb.n_actions == 2
    assert fb.pscore.tolist() == [0.5, 0.25]


def test_errors_name_the_file_and_field(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.npz: no such file"):
        read_logged(tmp_path / "nope.npz")
    (tmp_path / "x.csv").write_text("a\n1\n")
    with pytest.raises(ValueError, match=r"path: must end in one of \['.npz', '.parquet'\]"):
        read_logged(tmp_path / "x.csv")
    pq.write_table(pa.table({"action": [0], "reward": [1.0]}), tmp_path / "y.parquet")
    with pytest.raises(ValueError, match=r"y.parquet: missing \['context', 'pscore'\]"):
        read_logged(tmp_path / "y.parquet")
    np.savez(tmp_path / "z.npz", context=np.zeros((2, 1)), action=[0, -1], reward=[0, 1],
             pscore=[1.0, 1.0])  # fmt: skip
    with pytest.raises(ValueError, match=r"z.npz: action\[1\]: must be >= 0"):
        read_logged(tmp_path / "z.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"not a readable \.npz archive"):
        read_logged(tmp_path / "bad.npz")
    with pytest.raises(ValueError, match="path: must end in one of"):
        write_logged(_feedback(), tmp_path / "out.txt")
