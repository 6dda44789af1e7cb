"""Saving and loading agents: exact continuation, dispatch, and clear errors on bad files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from agent_factories import FACTORIES, contexts, masks, train

from agents.bandits import UCB1, LinUCB
from agents.base import BanditAgent, load_agent
from agents.baselines import OracleAgent
from alpharl.policy import ArtifactError


def _same_state(a: BanditAgent, b: BanditAgent) -> None:
    assert a.n_updates == b.n_updates
    np.testing.assert_array_equal(a.action_counts, b.action_counts)
    for name, arr in a._state().items():
        np.testing.assert_array_equal(b._state()[name], arr)


def test_loaded_agent_continues_identically(agent_name: str, tmp_path: Path) -> None:
    agent = train(FACTORIES[agent_name](11))
    agent.act_batch(contexts(5, 1))  # advance the generator past its seed
    saved = agent.save(tmp_path / "agent")
    assert (saved / "agent.json").is_file()
    assert (saved / "state.npz").is_file()
    loaded = type(agent).load(saved)
    assert type(loaded) is type(agent)
    assert loaded.config() == agent.config()
    _same_state(agent, loaded)
    x, m = contexts(50, 2), masks(50, 3)
    for _ in range(3):
        a1, p1 = agent.act_batch(x, m)
        a2, p2 = loaded.act_batch(x, m)
        np.testing.assert_array_equal(a1, a2)
        np.testing.assert_array_equal(p1, p2)
        assert agent.act(x[0], m[0]) == loaded.act(x[0], m[0])
        train(agent, rounds=40, seed=int(a1[0]))
        train(loaded, rounds=40, seed=int(a2[0]))
        _same_state(agent, loaded)


def test_load_agent_dispatches_on_the_saved_class(agent_name: str, tmp_path: Path) -> None:
    agent = train(FACTORIES[agent_name](12))
    loaded = load_agent(agent.save(tmp_path))
    assert type(loaded) is type(agent)
    assert isinstance(loaded, BanditAgent)
    _same_state(agent, loaded)


def test_oracle_round_trips(tmp_path: Path) -> None:
    oracle = OracleAgent(4, 3)
    loaded = load_agent(oracle.save(tmp_path))
    assert isinstance(loaded, OracleAgent)
    assert loaded.config() == oracle.config()


def test_loading_as_the_wrong_class_names_both(tmp_path: Path) -> None:
    LinUCB(3, 2).save(tmp_path)
    with pytest.raises(ArtifactError, match=r"saved by 'LinUCB', not 'UCB1'"):
        UCB1.load(tmp_path)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return train(FACTORIES["linucb"](0), rounds=20).save(tmp_path / "agent")


def _edit_manifest(folder: Path, **changes: object) -> None:
    path = folder / "agent.json"
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def test_missing_folder_and_files_are_named(saved: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no such directory"):
        load_agent(tmp_path / "nowhere")
    (saved / "state.npz").unlink()
    with pytest.raises(ArtifactError, match=r"state\.npz: file not found"):
        load_agent(saved)
    (saved / "agent.json").unlink()
    with pytest.raises(ArtifactError, match=r"agent\.json: file not found"):
        load_agent(saved)


def test_corrupt_manifest_and_arrays_are_named(saved: Path) -> None:
    (saved / "state.npz").write_bytes(b"not a zip file")
    with pytest.raises(ArtifactError, match=r"state\.npz: cannot read arrays"):
        load_agent(saved)
    (saved / "agent.json").write_text("{broken")
    with pytest.raises(ArtifactError, match=r"agent\.json: not valid JSON"):
        load_agent(saved)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"class": "Nope"}, "unknown agent class 'Nope'"),
        ({"version": 99}, "format version 99 is not supported"),
        ({"config": {"n_actions": 5, "n_features": 4, "alpha": -1.0}}, "bad 'config'"),
        ({"config": {"n_actions": 5, "n_features": 3}}, "has shape"),
        ({"rng_state": {"bit_generator": "PCG64"}}, "agent.json: bad 'rng_state'"),
        ({"n_updates": -3}, "n_updates must be an integer >= 0"),
    ],
)
def test_inconsistent_manifest_is_rejected(saved: Path, changes: dict, message: str) -> None:
    _edit_manifest(saved, **changes)
    with pytest.raises(ArtifactError, match=message):
        load_agent(saved)


def test_arrays_that_disagree_with_the_manifest_are_rejected(saved: Path) -> None:
    with np.load(saved / "state.npz") as npz:
        arrays = dict(npz)
    del arrays["theta"]
    np.savez(saved / "state.npz", **arrays)
    with pytest.raises(ArtifactError, match="manifest declares"):
        load_agent(saved)
