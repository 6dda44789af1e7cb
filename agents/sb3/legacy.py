"""Loading folders saved by the single ``SB3Agent`` class of earlier versions.

That format has ``"class": "SB3Agent"``, an empty ``state.npz`` and the spaces only in
``model.zip``. `load_legacy` loads it as the family of its algorithm: the concrete
`SB3Agent` subclass whose ``algorithm_base`` the saved algorithm derives from.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agents.sb3.base import MODEL_FILE, SB3Agent
from agents.sb3.config import resolve_algorithm
from alpharl.policy.artifact import ArtifactError
from alpharl.policy.checks import check_size


def families(base: type = SB3Agent) -> list[Any]:
    """Every concrete subclass of ``base`` (the agent families), depth first."""
    out: list[Any] = []
    subclasses: list[type] = base.__subclasses__()
    for sub in subclasses:
        if not inspect.isabstract(sub):
            out.append(sub)
        out.extend(families(sub))
    return out


def load_legacy(path: str | os.PathLike[str], manifest: Mapping[str, Any]) -> SB3Agent:
    """Load a pre-family ``SB3Agent`` folder whose ``agent.json`` has been read."""
    where = Path(path) / "agent.json"
    zip_path = Path(path) / str(manifest.get("model", MODEL_FILE))
    if not zip_path.is_file():
        raise ArtifactError(f"{zip_path}: file not found")
    try:
        config = dict(manifest["config"])
        algo = resolve_algorithm(config["algo"])
        family = next(f for f in families() if issubclass(algo, f.algorithm_base))
        params = inspect.signature(family.__init__).parameters
        for key in ("n_actions", "n_features"):  # the spaces come from model.zip
            config.pop(key, None)
        for key in [k for k, v in config.items() if k not in params and v is None]:
            del config[key]  # an argument of another family, unset
        agent: SB3Agent = family(**config)
    except (KeyError, StopIteration, TypeError, ValueError) as exc:
        raise ArtifactError(f"{where}: bad 'config' ({type(exc).__name__}: {exc})") from exc
    agent._set_model(agent.algo_class.load(zip_path, device=agent.device))
    try:
        agent.n_updates = check_size("n_updates", manifest["n_updates"], 0)
        agent.rng.bit_generator.state = manifest["rng_state"]
    except (TypeError, ValueError, KeyError) as exc:
        raise ArtifactError(f"{where}: {type(exc).__name__}: {exc}") from exc
    return agent
