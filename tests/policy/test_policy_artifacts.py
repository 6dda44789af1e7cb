"""Saving and loading policies: the file layout, round trips, and errors naming the file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import alpharl.policy as policy_pkg
from alpharl.policy import (
    POLICY_KINDS,
    ArtifactError,
    BasePolicy,
    EpsilonGreedyRule,
    LinearPolicy,
    RandomPolicy,
    TabularPolicy,
    ThompsonPolicy,
    ThompsonRule,
    UCBRule,
    load_policy,
)

A, D = 4, 3
REPO = Path(__file__).resolve().parents[2]


def _examples() -> dict[str, BasePolicy]:
    rng = np.random.default_rng(0)
    m = rng.normal(size=(A, D, D))
    cov = m @ np.swapaxes(m, 1, 2) + 0.1 * np.eye(D)
    theta = rng.normal(size=(A, D))
    return {
        "linear": LinearPolicy(theta, cov, UCBRule(0.3)),
        "thompson": ThompsonPolicy(theta, np.linalg.cholesky(cov), ThompsonRule(0.7, 300, 5)),
        "tabular": TabularPolicy(rng.normal(size=A), None, EpsilonGreedyRule(0.2), n_features=D),
        "random": RandomPolicy(A, D),
    }


def test_every_kind_has_an_example() -> None:
    assert set(_examples()) == set(POLICY_KINDS)


@pytest.mark.parametrize("kind", sorted(POLICY_KINDS))
def test_round_trip_gives_identical_decisions(kind: str, tmp_path: Path) -> None:
    policy = _examples()[kind]
    folder = policy.save(tmp_path / kind)
    manifest = json.loads((folder / "policy.json").read_text())
    assert manifest["kind"] == kind
    assert manifest["version"] == 1
    assert (manifest["n_actions"], manifest["n_features"]) == (A, D)
    assert manifest["rule"] == policy.rule.to_config()
    for name, arr in policy._arrays().items():
        assert manifest["arrays"][name]["shape"] == list(arr.shape)
    loaded = load_policy(folder)
    assert type(loaded) is type(policy)
    assert loaded.rule == policy.rule
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, D))
    masks = rng.random((64, A)) < 0.6
    np.testing.assert_array_equal(
        loaded.action_probabilities(x, masks), policy.action_probabilities(x, masks)
    )
    for a, b in zip(policy.decide(x, masks, rng=9), loaded.decide(x, masks, rng=9), strict=True):
        np.testing.assert_array_equal(a, b)
    assert type(policy).load(folder).n_actions == A


def test_class_load_rejects_another_kind(tmp_path: Path) -> None:
    RandomPolicy(A).save(tmp_path)
    with pytest.raises(ArtifactError, match=r"policy\.json: kind is 'random', not 'linear'"):
        LinearPolicy.load(tmp_path)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return _examples()["linear"].save(tmp_path / "p")


def _edit(folder: Path, **changes: object) -> None:
    path = folder / "policy.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def test_missing_files_are_named(saved: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="nowhere: no such directory"):
        load_policy(tmp_path / "nowhere")
    (saved / "arrays.npz").unlink()
    with pytest.raises(ArtifactError, match=r"arrays\.npz: file not found"):
        load_policy(saved)
    (saved / "policy.json").unlink()
    with pytest.raises(ArtifactError, match=r"policy\.json: file not found"):
        load_policy(saved)


def test_corrupt_files_are_named(saved: Path) -> None:
    (saved / "arrays.npz").write_bytes(b"\x00garbage")
    with pytest.raises(ArtifactError, match=r"arrays\.npz: cannot read arrays"):
        load_policy(saved)
    (saved / "policy.json").write_text("[1, 2]")
    with pytest.raises(ArtifactError, match=r"policy\.json: expected a JSON object, got list"):
        load_policy(saved)
    (saved / "policy.json").write_text('{"kind": ')
    with pytest.raises(ArtifactError, match=r"policy\.json: not valid JSON"):
        load_policy(saved)


def test_a_single_array_file_is_not_an_archive(saved: Path) -> None:
    with (saved / "arrays.npz").open("wb") as fh:
        np.save(fh, np.zeros(3))
    with pytest.raises(ArtifactError, match=r"arrays\.npz: not an \.npz archive"):
        load_policy(saved)


def test_truncated_arrays_are_named(saved: Path) -> None:
    data = (saved / "arrays.npz").read_bytes()
    (saved / "arrays.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match=r"arrays\.npz: cannot read arrays"):
        load_policy(saved)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "bogus"}, r"policy\.json: unknown policy kind 'bogus'"),
        ({"version": 2}, r"policy\.json: format version 2 is not supported"),
        ({"rule": {"name": "ucb", "alpha": -1}}, r"policy\.json: bad 'rule': alpha must be"),
        ({"rule": {"name": "thompson"}}, r"policy\.json: inconsistent policy: .*supports rules"),
        ({"n_actions": 7}, r"declares \(n_actions, n_features\)=\(7, 3\)"),
        ({"arrays": {"theta": {"shape": [4, 3]}}}, "manifest declares"),
        ({"arrays": {"theta": {"shape": [4, 3]}, "a_inv": {"shape": [4, 3, 2]}}}, "has shape"),
    ],
)
def test_inconsistent_manifest_is_rejected(saved: Path, changes: dict, message: str) -> None:
    _edit(saved, **changes)
    with pytest.raises(ArtifactError, match=message):
        load_policy(saved)


def test_missing_keys_are_listed(saved: Path) -> None:
    manifest = json.loads((saved / "policy.json").read_text())
    del manifest["rule"], manifest["kind"]
    (saved / "policy.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"missing keys \['kind', 'rule'\]"):
        load_policy(saved)


def test_qnetwork_kind_without_its_module_is_a_clear_error(
    saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        policy_pkg.LAZY_POLICY_KINDS, "qnetwork", ("alpharl.policy._no_such_module", "Q")
    )
    _edit(saved, kind="qnetwork")
    with pytest.raises(ArtifactError, match=r"kind 'qnetwork' needs the module .*_no_such_module"):
        load_policy(saved)


def test_loading_imports_neither_agents_nor_sb3_nor_torch(tmp_path: Path) -> None:
    for kind, policy in _examples().items():
        policy.save(tmp_path / kind)
    code = (
        "import sys\n"
        "from alpharl.policy import load_policy\n"
        f"for kind in {sorted(POLICY_KINDS)!r}:\n"
        f"    load_policy({str(tmp_path)!r} + '/' + kind).decide([[0.0, 1.0, 2.0]])\n"
        "bad = sorted(m for m in sys.modules"
        " if m.split('.')[0] in ('agents', 'stable_baselines3', 'torch', 'envs'))\n"
        "print(bad)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_saving_overwrites_atomically(tmp_path: Path) -> None:
    first, second = _examples()["linear"], _examples()["thompson"]
    first.save(tmp_path)
    second.save(tmp_path)
    assert isinstance(load_policy(tmp_path), ThompsonPolicy)
    assert not list(tmp_path.glob(".*.tmp"))
