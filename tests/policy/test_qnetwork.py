"""`QNetworkPolicy` and `ActorPolicy`: plain torch MLPs behind the policy protocol."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from alpharl.policy import ArtifactError, load_policy
from alpharl.policy.qnetwork import ActorPolicy, QNetworkPolicy, activation_name, build_mlp
from alpharl.policy.rules import (
    EpsilonGreedyRule,
    GreedyRule,
    SoftmaxRule,
    UCBRule,
    masked_softmax,
)

SIZES = (6, 16, 16, 5)


def _policy(rule: object = None, seed: int = 0) -> QNetworkPolicy:
    torch.manual_seed(seed)
    net = build_mlp(SIZES, "relu")
    return QNetworkPolicy(SIZES, "relu", net.state_dict(), rule)  # type: ignore[arg-type]


def _batch(n: int = 64, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, SIZES[0])).astype(np.float32)
    masks = rng.random((n, SIZES[-1])) < 0.6
    masks[:, -1] = True
    return x, masks


def test_build_mlp_layout() -> None:
    net = build_mlp((4, 8, 3), "tanh")
    assert [type(m) for m in net] == [torch.nn.Linear, torch.nn.Tanh, torch.nn.Linear]
    assert net[0].in_features == 4
    assert net[2].out_features == 3
    assert activation_name(net[1]) == "tanh"


def test_q_values_are_the_network_outputs() -> None:
    policy = _policy()
    x, _ = _batch()
    with torch.no_grad():
        expected = policy.network(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(policy.q_values(x), expected, rtol=0, atol=1e-7)
    assert policy.n_features == 6
    assert policy.n_actions == 5


def test_greedy_picks_best_eligible_action() -> None:
    policy = _policy()
    x, masks = _batch()
    actions, props = policy.decide(x, masks, rng=0)
    q = np.where(masks, policy.q_values(x), -np.inf)
    np.testing.assert_array_equal(actions, q.argmax(axis=1))
    np.testing.assert_array_equal(props, 1.0)
    assert masks[np.arange(len(x)), actions].all()
    assert actions.dtype == np.int64


def test_epsilon_greedy_propensities() -> None:
    eps = 0.2
    policy = _policy(EpsilonGreedyRule(eps))
    x, masks = _batch(200)
    probs = policy.action_probabilities(x, masks)
    greedy = np.where(masks, policy.q_values(x), -np.inf).argmax(axis=1)
    n_eligible = masks.sum(axis=1)
    rows = np.arange(len(x))
    np.testing.assert_allclose(probs[rows, greedy], 1 - eps + eps / n_eligible)
    assert (probs[~masks] == 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    actions, props = policy.decide(x, masks, rng=np.random.default_rng(3))
    np.testing.assert_allclose(props, probs[rows, actions])
    assert masks[rows, actions].all()


def test_softmax_rule_matches_manual_boltzmann() -> None:
    policy = _policy(SoftmaxRule(temperature=0.5))
    x, masks = _batch()
    q = policy.q_values(x)
    z = np.where(masks, np.exp((q - q.max(axis=1, keepdims=True)) / 0.5), 0.0)
    np.testing.assert_allclose(policy.action_probabilities(x, masks), z / z.sum(1, keepdims=True))
    # no mask: all actions eligible
    assert (policy.action_probabilities(x) > 0).all()


def test_masked_softmax_is_stable_for_large_scores() -> None:
    p = masked_softmax(np.array([[1e4, 1e4 - 1.0, 5.0]]), np.array([[False, True, True]]))
    assert p[0, 0] == 0.0
    np.testing.assert_allclose(p.sum(), 1.0)


def test_actor_policy_defaults_to_its_own_distribution() -> None:
    torch.manual_seed(0)
    net = build_mlp(SIZES, "tanh")
    actor = ActorPolicy(SIZES, state_dict=net.state_dict())
    assert actor.rule == SoftmaxRule(1.0)
    x, masks = _batch()
    logits = actor.logits(x)
    full = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    np.testing.assert_allclose(actor.action_probabilities(x), full, rtol=1e-12)
    masked = np.where(masks, full, 0.0)
    np.testing.assert_allclose(
        actor.action_probabilities(x, masks), masked / masked.sum(1, keepdims=True), rtol=1e-12
    )


@pytest.mark.parametrize(
    "rule", [GreedyRule(), EpsilonGreedyRule(0.1), SoftmaxRule(2.0)], ids=lambda r: r.name
)
def test_save_load_round_trip(tmp_path: Path, rule: object) -> None:
    policy = _policy(rule)
    policy.save(tmp_path / "p")
    manifest = json.loads((tmp_path / "p" / "policy.json").read_text())
    assert manifest["kind"] == "qnetwork"
    assert manifest["config"]["layer_sizes"] == list(SIZES)
    assert (tmp_path / "p" / "weights.pt").is_file()
    loaded = load_policy(tmp_path / "p")
    assert isinstance(loaded, QNetworkPolicy)
    assert loaded.rule == rule
    x, masks = _batch()
    np.testing.assert_array_equal(loaded.q_values(x), policy.q_values(x))
    a1, p1 = policy.decide(x, masks, rng=5)
    a2, p2 = loaded.decide(x, masks, rng=5)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(p1, p2)


def test_actor_round_trip_via_class(tmp_path: Path) -> None:
    actor = ActorPolicy((3, 4, 2), state_dict=build_mlp((3, 4, 2), "tanh").state_dict())
    actor.save(tmp_path)
    loaded = ActorPolicy.load(tmp_path)
    x = np.ones((2, 3), dtype=np.float32)
    np.testing.assert_array_equal(loaded.logits(x), actor.logits(x))
    with pytest.raises(ArtifactError, match="not 'qnetwork'"):
        QNetworkPolicy.load(tmp_path)


def test_weights_are_loaded_without_pickled_code(tmp_path: Path) -> None:
    policy = _policy()
    policy.save(tmp_path)
    # Unpickling an arbitrary class (code import) is refused by weights_only=True.
    torch.save({"0.weight": Path("x")}, tmp_path / "weights.pt")
    with pytest.raises(ArtifactError, match=r"weights\.pt: cannot read weights"):
        load_policy(tmp_path)
    torch.save([torch.zeros(1)], tmp_path / "weights.pt")
    with pytest.raises(ArtifactError, match="expected a state_dict of tensors"):
        load_policy(tmp_path)


def test_missing_or_mismatched_weights(tmp_path: Path) -> None:
    policy = _policy()
    policy.save(tmp_path)
    state = policy.state_dict()
    state["0.weight"] = torch.zeros(3, 3)
    torch.save(state, tmp_path / "weights.pt")
    with pytest.raises(ArtifactError, match=r"state_dict\['0.weight'\]: shape"):
        load_policy(tmp_path)
    (tmp_path / "weights.pt").unlink()
    with pytest.raises(ArtifactError, match="file not found"):
        load_policy(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"layer_sizes": (4,)}, ValueError, "layer_sizes"),
        ({"layer_sizes": (4, 0, 2)}, ValueError, "layer_sizes"),
        ({"layer_sizes": "42"}, ValueError, "layer_sizes"),
        ({"activation": "swish"}, ValueError, "activation: must be one of"),
        ({"state_dict": {"0.weight": torch.zeros(2, 4)}}, ValueError, "state_dict: keys"),
        ({"rule": UCBRule(1.0)}, ValueError, "supports rules"),
        ({"rule": {"name": "softmax", "temperature": 0}}, ValueError, "temperature"),
        ({"rule": {"name": "softmax", "tau": 1}}, ValueError, "unknown parameters"),
        ({"num_threads": 0}, ValueError, "num_threads"),
    ],
)
def test_bad_construction_names_the_field(
    kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    args: dict[str, object] = {"layer_sizes": (4, 8, 2), **kwargs}
    with pytest.raises(error, match=match):
        QNetworkPolicy(**args)  # type: ignore[arg-type]


def test_nan_weights_rejected() -> None:
    state = build_mlp((2, 2)).state_dict()
    state["0.bias"] = torch.tensor([float("nan"), 0.0])
    with pytest.raises(ValueError, match=r"state_dict\['0.bias'\]: has non-finite"):
        QNetworkPolicy((2, 2), state_dict=state)


def test_bad_contexts_are_rejected() -> None:
    policy = _policy()
    with pytest.raises(ValueError, match="contexts must have shape"):
        policy.decide(np.zeros((3, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="non-finite"):
        policy.decide(np.full((1, 6), np.nan, dtype=np.float32))


def test_one_torch_thread_by_default() -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        _policy()
        assert torch.get_num_threads() == 1
        QNetworkPolicy((2, 2), num_threads=None)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_loading_never_imports_sb3_or_agents(tmp_path: Path) -> None:
    _policy(EpsilonGreedyRule(0.05)).save(tmp_path)
    code = (
        "import sys, numpy as np\n"
        "from alpharl.policy import load_policy\n"
        f"p = load_policy({str(tmp_path)!r})\n"
        "p.decide(np.zeros((2, 6), dtype=np.float32), rng=0)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('stable_baselines3', 'agents')]\n"
        "print(type(p).__name__, bad)\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "QNetworkPolicy []"
