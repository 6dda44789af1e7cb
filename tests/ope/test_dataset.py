"""The logged-feedback data contract: construction, checks, OBD CSVs, decision logs, splits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alpharl.ope import LoggedBanditFeedback


def _arrays(**overrides: Any) -> dict[str, Any]:
    arrays: dict[str, Any] = {
        "context": [[0.1, 1.0], [0.2, 0.0], [0.3, 1.0], [0.4, 0.0], [0.5, 1.0]],
        "action": [0, 1, 2, 3, 4],
        "reward": [1.0, 0.0, 0.0, 1.0, 0.0],
        "pscore": [0.2, 0.2, 0.5, 1.0, 0.25],
        "n_actions": 5,
    }
    arrays.update(overrides)
    return arrays


def test_valid_feedback_is_normalised_and_read_only() -> None:
    fb = LoggedBanditFeedback.from_arrays(**_arrays(policy_version=["v1"] * 5))
    assert fb.n_rounds == 5
    assert fb.dim_context == 2
    assert fb.context.dtype == np.float64
    assert fb.action.dtype == np.int64
    assert fb.position.tolist() == [0] * 5
    assert fb.len_list == 1
    assert fb.policy_version is not None
    assert fb.policy_version.tolist() == ["v1"] * 5
    assert fb.on_policy_value == pytest.approx(0.4)
    with pytest.raises(ValueError, match="read-only"):
        fb.reward[0] = 5.0


def test_constructor_copies_its_inputs() -> None:
    reward = np.array([1.0, 0.0, 0.0, 1.0, 0.0])
    fb = LoggedBanditFeedback(**_arrays(reward=reward))
    reward[0] = 9.0
    assert fb.reward[0] == 1.0
    assert reward.flags.writeable


def test_len_list_follows_positions_unless_given() -> None:
    fb = LoggedBanditFeedback(**_arrays(position=[0, 2, 1, 0, 2]))
    assert fb.len_list == 3
    fb = LoggedBanditFeedback(**_arrays(position=[0, 0, 1, 0, 0], len_list=3))
    assert fb.len_list == 3


def test_to_dict_has_obps_bandit_feedback_keys() -> None:
    fb = LoggedBanditFeedback(**_arrays())
    d = fb.to_dict()
    assert set(d) == {
        "n_rounds", "n_actions", "action", "position", "reward", "pscore", "context",
        "action_context",
    }  # fmt: skip
    assert d["n_rounds"] == 5
    assert d["n_actions"] == 5
    np.testing.assert_array_equal(d["action_context"], np.eye(5))
    np.testing.assert_array_equal(d["pscore"], [0.2, 0.2, 0.5, 1.0, 0.25])
    given = np.arange(10.0).reshape(5, 2)
    assert (
        LoggedBanditFeedback(**_arrays(action_context=given)).to_dict()["action_context"].tolist()
        == given.tolist()
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"pscore": [0.2, 0.2, 0.5, 0.0, 0.25]}, r"pscore\[3\]: must be in \(0, 1\] \(got 0.0\)"),
        ({"pscore": [0.2, 1.5, 0.5, 1.0, 0.25]}, r"pscore\[1\]: must be in \(0, 1\] \(got 1.5\)"),
        ({"pscore": [0.2, -0.1, 0.5, 1, 1]}, r"pscore\[1\]: must be in \(0, 1\] \(got -0.1\)"),
        ({"pscore": [0.2, np.nan, 0.5, 1, 1]}, r"pscore\[1\]: must be finite \(got nan\)"),
        ({"pscore": [0.2, 0.2]}, r"pscore: must have 5 rows, one per round \(got \(2,\)\)"),
        ({"action": [0, 1, 2, 9, 4]}, r"action\[3\]: is out of range for n_actions=5 \(got 9\)"),
        ({"action": [0, -1, 2, 3, 4]}, r"action\[1\]: must be >= 0 \(got -1\)"),
        ({"action": [0, 1.5, 2, 3, 4]}, r"action\[1\]: must be an integer \(got 1.5\)"),
        ({"action": ["a", "b", "c", "d", "e"]}, r"action: must hold integers"),
        ({"action": [True] * 5}, r"action: must hold integers \(got 'bool'\)"),
        ({"action": [0, 1, 2]}, r"action: must have 5 rows"),
        ({"action": [[0], [1], [2], [3], [4]]}, r"action: must be a 1-D array \(got \(5, 1\)\)"),
        ({"reward": [1, 0, np.nan, 1, 0]}, r"reward\[2\]: must be finite \(got nan\)"),
        ({"reward": [1, 0, 0, 1]}, r"reward: must have 5 rows"),
        ({"reward": ["x", 0, 0, 1, 0]}, r"reward: must be numeric"),
        ({"context": [1, 2, 3, 4, 5]}, r"context: must be a 2-D array \(got \(5,\)\)"),
        (
            {"context": [[0.1, 1], [0.2, np.inf], [0, 0], [0, 0], [0, 0]]},
            r"context\[1, 1\]: must be finite \(got inf\)",
        ),
        ({"context": np.zeros((0, 2))}, r"context: must have at least one round"),
        ({"n_actions": 0}, r"n_actions: must be an integer >= 1 \(got 0\)"),
        ({"n_actions": 5.0}, r"n_actions: must be an integer >= 1 \(got 5.0\)"),
        ({"n_actions": True}, r"n_actions: .*\(got True\)"),
        ({"position": [0, 0, -1, 0, 0]}, r"position\[2\]: must be >= 0 \(got -1\)"),
        ({"position": [0, 0, 1, 0]}, r"position: must have 5 rows"),
        (
            {"position": [0, 0, 3, 0, 0], "len_list": 3},
            r"position\[2\]: is out of range for len_list=3 \(got 3\)",
        ),
        ({"len_list": 0}, r"len_list: must be an integer >= 1 \(got 0\)"),
        ({"policy_version": ["v1"] * 4}, r"policy_version: must have 5 entries \(got 4\)"),
        ({"policy_version": ["v1", None, "v1", "v1", "v1"]}, r"policy_version\[1\]: .*string"),
        ({"action_context": np.eye(4)}, r"action_context: must have n_actions=5 rows"),
        ({"action_context": np.ones(5)}, r"action_context: must be a 2-D array"),
        ({"context_names": ("a",)}, r"context_names: must be 2 strings"),
        ({"n_excluded": -1}, r"n_excluded: must be an integer >= 0 \(got -1\)"),
    ],
)
def test_each_malformed_field_raises_naming_it(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LoggedBanditFeedback(**_arrays(**overrides))


def test_split_is_seeded_disjoint_and_keeps_order() -> None:
    n = 100
    fb = LoggedBanditFeedback(
        context=np.arange(n, dtype=float)[:, None],
        action=np.arange(n) % 3,
        reward=np.arange(n, dtype=float),
        pscore=np.full(n, 0.5),
        n_actions=4,
        position=np.arange(n) % 2,
        policy_version=np.array([f"v{i}" for i in range(n)]),
    )
    first, second = fb.split(0.3, seed=0)
    assert (first.n_rounds, second.n_rounds) == (30, 70)
    ids = np.concatenate([first.reward, second.reward])
    assert sorted(ids.tolist()) == list(range(n))
    assert np.all(np.diff(first.reward) > 0)
    assert first.context[:, 0].tolist() == first.reward.tolist()
    assert first.policy_version is not None
    assert first.policy_version.tolist() == [f"v{int(r)}" for r in first.reward]
    assert (first.n_actions, first.len_list) == (4, 2)
    again, _ = fb.split(0.3, seed=0)
    np.testing.assert_array_equal(again.reward, first.reward)
    other, _ = fb.split(0.3, seed=1)
    assert other.reward.tolist() != first.reward.tolist()


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5, 0.001, "half"])
def test_split_rejects_fractions_leaving_an_empty_part(fraction: Any) -> None:
    fb = LoggedBanditFeedback(**_arrays())
    with pytest.raises(ValueError, match=r"fraction: .*\(got"):
        fb.split(fraction, seed=0)


def _log_row(i: int, reward: float | None = 1.0, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "context": [float(i), 1.0],
        "action": i % 3,
        "reward": reward,
        "propensity": 0.5,
        "policy_version": "champion-3",
    }
    row.update(overrides)
    return row


def test_from_decision_log_excludes_and_counts_rows_without_reward() -> None:
    rows = [
        _log_row(0, 1.0),
        _log_row(1, None),
        _log_row(2, 0.0, policy_version="challenger-1"),
        {k: v for k, v in _log_row(3).items() if k != "reward"},
        _log_row(4, 0.25, position=1),
    ]
    fb = LoggedBanditFeedback.from_decision_log(rows, n_actions=3)
    assert fb.n_excluded == 2
    assert fb.n_rounds == 3
    assert fb.action.tolist() == [0, 2, 1]
    assert fb.reward.tolist() == [1.0, 0.0, 0.25]
    assert fb.context[:, 0].tolist() == [0.0, 2.0, 4.0]
    assert fb.position.tolist() == [0, 0, 1]
    assert fb.policy_version is not None
    assert fb.policy_version.tolist() == ["champion-3", "challenger-1", "champion-3"]
    assert fb.split(0.5, seed=0)[0].n_excluded == 2


def test_from_decision_log_infers_n_actions_from_kept_rows() -> None:
    fb = LoggedBanditFeedback.from_decision_log([_log_row(0), _log_row(2)])
    assert fb.n_actions == 3


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        (_log_row(1, propensity=0.0), r"rows\[1\]\.propensity: must be in \(0, 1\] \(got 0.0\)"),
        (_log_row(1, propensity="0.5"), r"rows\[1\]\.propensity: .*\(got '0.5'\)"),
        (_log_row(1, action=7), r"rows\[1\]\.action: is out of range for n_actions=3 \(got 7\)"),
        (_log_row(1, action=1.0), r"rows\[1\]\.action: must be an integer >= 0 \(got 1.0\)"),
        (_log_row(1, reward=float("nan")), r"rows\[1\]\.reward: must be a finite number"),
        (_log_row(1, context=[1.0]), r"rows\[1\]\.context: must have 2 features \(got 1\)"),
        (_log_row(1, context=[1.0, None]), r"rows\[1\]\.context\[1\]: must be finite"),
        (_log_row(1, policy_version=3), r"rows\[1\]\.policy_version: must be a string"),
        (_log_row(1, position=-1), r"rows\[1\]\.position: must be an integer >= 0"),
        ({"reward": 1.0, "action": 0}, r"rows\[1\]\.context: is missing"),
        ("not a row", r"rows\[1\]: must be a mapping"),
    ],
)
def test_from_decision_log_names_the_bad_row(bad_row: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LoggedBanditFeedback.from_decision_log([_log_row(0), bad_row], n_actions=3)


def test_from_decision_log_without_any_reward_raises() -> None:
    with pytest.raises(ValueError, match=r"rows: no row has a reward yet .*\(got 2\)"):
        LoggedBanditFeedback.from_decision_log([_log_row(0, None), _log_row(1, None)])


def test_from_decision_log_keeps_the_eligibility_masks() -> None:
    rows = [
        _log_row(0, mask=[True, False, True]),
        _log_row(1, None, mask=[False, True, True]),
        _log_row(2),  # no mask: every action was eligible
    ]
    fb = LoggedBanditFeedback.from_decision_log(rows)
    assert fb.n_actions == 3
    assert fb.action_mask is not None
    assert fb.action_mask.tolist() == [[True, False, True], [True, True, True]]
    assert fb.subset([1]).action_mask.tolist() == [[True, True, True]]  # type: ignore[union-attr]
    assert LoggedBanditFeedback.from_decision_log([_log_row(0)]).action_mask is None
    # A mask wider than the actions seen fixes n_actions when it is not given.
    wide = LoggedBanditFeedback.from_decision_log([_log_row(0, mask=[True] * 5)])
    assert wide.n_actions == 5


@pytest.mark.parametrize(
    ("mask", "message"),
    [
        ([True, True], r"rows\[1\]\.mask: must have n_actions=3 entries"),
        (["yes", True, True], r"rows\[1\]\.mask: must be a list of booleans"),
        ([False, True, True], r"action_mask\[1\]: must allow the logged action 0"),
    ],
)
def test_from_decision_log_names_a_bad_mask(mask: Any, message: str) -> None:
    rows = [_log_row(0), _log_row(3, mask=mask)]  # row 1 logged action 0
    with pytest.raises(ValueError, match=message):
        LoggedBanditFeedback.from_decision_log(rows, n_actions=3)


def test_action_mask_is_checked_and_read_only() -> None:
    mask = np.ones((5, 5), dtype=bool)
    fb = LoggedBanditFeedback(**_arrays(action_mask=mask))
    assert fb.action_mask is not None
    with pytest.raises(ValueError, match="read-only"):
        fb.action_mask[0, 0] = False
    with pytest.raises(ValueError, match=r"action_mask: must have shape \(5, 5\)"):
        LoggedBanditFeedback(**_arrays(action_mask=mask[:4]))
    mask[2, 2] = False
    with pytest.raises(ValueError, match=r"action_mask\[2\]: must allow the logged action 2"):
        LoggedBanditFeedback(**_arrays(action_mask=mask))


OBD_CSV = """\
,timestamp,item_id,position,click,propensity_score,user_feature_0,user_feature_1,\
user_feature_2,user_feature_3,user-item_affinity_0,user-item_affinity_1,user-item_affinity_2
0,2019-11-24 00:00:17.175982+00:00,2,3,0,0.0125,81ce123cbb5bd8ce818f60fb3586bba5,\
03a5648a76832f83c859d46bc06cb64a,2723d2eb8bba04e0362098011fa3997b,7,0.0,1.0,0.0
1,2019-11-24 00:00:29.543845+00:00,0,1,1,0.0125,cef3390ed299c09874189c387777674a,\
2d03db5543b14483e52d761760686b64,7bc94a2da491829b777c49c4b5e480f2,2,0.0,0.0,2.0
2,2019-11-24 00:00:31.671328+00:00,1,2,0,0.0125,81ce123cbb5bd8ce818f60fb3586bba5,\
03a5648a76832f83c859d46bc06cb64a,c2e4f76cdbabecd33b8c762aeef386b3,7,1.0,0.0,0.0
3,2019-11-24 00:00:37.058491+00:00,4,1,0,0.0125,6ff54aa1f7f4d4d4e1d1e5d8a0c8f6c0,\
2d03db5543b14483e52d761760686b64,2723d2eb8bba04e0362098011fa3997b,3,0.0,0.0,0.0
"""


def test_from_obd_csv_reads_obds_layout(tmp_path: Path) -> None:
    path = tmp_path / "all.csv"
    path.write_text(OBD_CSV)
    fb = LoggedBanditFeedback.from_obd_csv(path)
    assert fb.n_rounds == 4
    assert fb.n_actions == 5  # max(item_id) + 1
    assert fb.action.tolist() == [2, 0, 1, 4]
    assert fb.position.tolist() == [2, 0, 1, 0]  # OBD positions are 1-based
    assert fb.len_list == 3
    assert fb.reward.tolist() == [0.0, 1.0, 0.0, 0.0]
    assert fb.pscore.tolist() == [0.0125] * 4
    # user_feature_0 has 3 values (2 columns after dropping the first in sorted order),
    # user_feature_1 and _2 have 2 and 3 (1 and 2 columns), user_feature_3 is numeric.
    assert fb.context_names == (
        "user_feature_0=81ce123cbb5bd8ce818f60fb3586bba5",
        "user_feature_0=cef3390ed299c09874189c387777674a",
        "user_feature_1=2d03db5543b14483e52d761760686b64",
        "user_feature_2=7bc94a2da491829b777c49c4b5e480f2",
        "user_feature_2=c2e4f76cdbabecd33b8c762aeef386b3",
        "user_feature_3",
        "user-item_affinity_0",
        "user-item_affinity_1",
        "user-item_affinity_2",
    )
    np.testing.assert_array_equal(
        fb.context,
        [
            [1, 0, 0, 0, 0, 7, 0, 1, 0],
            [0, 1, 1, 1, 0, 2, 0, 0, 2],
            [1, 0, 0, 0, 1, 7, 1, 0, 0],
            [0, 0, 1, 0, 0, 3, 0, 0, 0],
        ],
    )
    assert LoggedBanditFeedback.from_obd_csv(path, n_actions=80).n_actions == 80


def test_from_obd_csv_errors_name_the_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(OBD_CSV.replace("propensity_score", "pscore"))
    with pytest.raises(ValueError, match=r"columns: .*missing 'propensity_score'"):
        LoggedBanditFeedback.from_obd_csv(path)
    path.write_text(OBD_CSV.replace(",2,3,0,0.0125,", ",2,0,0,0.0125,"))
    with pytest.raises(ValueError, match=r"position\[0\]: must be >= 1 \(got 0\)"):
        LoggedBanditFeedback.from_obd_csv(path)
    path.write_text(OBD_CSV.replace(",1,1,0.0125,", ",1,1,0.0,"))
    with pytest.raises(ValueError, match=r"pscore\[1\]: must be in \(0, 1\] \(got 0.0\)"):
        LoggedBanditFeedback.from_obd_csv(path)
    path.write_text(OBD_CSV.replace(",4,1,0,", ",9,1,0,"))
    with pytest.raises(ValueError, match=r"action\[3\]: is out of range for n_actions=5"):
        LoggedBanditFeedback.from_obd_csv(path, n_actions=5)
    path.write_text(OBD_CSV.replace("2d03db5543b14483e52d761760686b64,7bc9", ",7bc9"))
    with pytest.raises(ValueError, match=r"user_feature_1\[1\]: is missing"):
        LoggedBanditFeedback.from_obd_csv(path)
