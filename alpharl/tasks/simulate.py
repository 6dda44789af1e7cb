"""`alpharl simulate`: simulated people from the environment use a running decision server.

The environment of ``cfg.env`` (the world a policy was trained in: the same stream, click
model and catalog) plays the people. At each ad opportunity the person's raw context and
the eligible creatives go to ``POST /v1/decide``; the served creative is shown, the person
clicks with the environment's *true* click probability of that creative, the click goes
to ``POST /v1/feedback``, and the environment moves on with the served action (so fatigue
and budget follow what the server chose). The server's decision log then holds real
served traffic for `alpharl evaluate` and ``alpharl promote if_better...``.

Returned with the summary are, per request, the context, eligibility and true click
probabilities of every action: a simulation knows each policy's true value on exactly
the traffic served (`SimulationResult.true_value`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf import DictConfig

from alpharl.config import ConfigError, check_targets
from alpharl.tasks.data import enriched_stream
from alpharl.tasks.train import build_env

log = logging.getLogger(__name__)


@dataclass
class SimulationResult:
    """The traffic sent and what the simulator knows about it.

    Args:
        contexts: ``(n, d)`` contexts sent.
        masks: ``(n, K + 1)`` eligibility sent (no ad always eligible).
        click_probs: ``(n, K + 1)`` true click probabilities (0 for no ad).
        actions: ``(n,)`` served actions.
        clicks: ``(n,)`` clicks drawn and sent as feedback (0 / 1).
        versions: ``(n,)`` policy versions that served.
        arms: ``(n,)`` arms that served.
    """

    contexts: np.ndarray
    masks: np.ndarray
    click_probs: np.ndarray
    actions: np.ndarray
    clicks: np.ndarray
    versions: np.ndarray
    arms: np.ndarray

    @property
    def n_requests(self) -> int:
        """Decisions asked for."""
        return int(self.actions.shape[0])

    @property
    def expected_ctr(self) -> float:
        """Mean true click probability of the served creatives (clicks per decision)."""
        return float(self.click_probs[np.arange(self.n_requests), self.actions].mean())

    def true_value(self, policy: Any) -> float:
        """A policy's exact expected clicks per decision on the traffic sent."""
        pi = policy.action_probabilities(self.contexts, self.masks)
        return float((pi * self.click_probs).sum(axis=1).mean())

    def render(self) -> str:
        """The summary the CLI prints."""
        served = ", ".join(
            f"{arm} v{ver}: {n}"
            for (arm, ver), n in zip(
                *np.unique(
                    np.stack([self.arms, self.versions], axis=1), axis=0, return_counts=True
                ),
                strict=True,
            )
        )
        return (
            f"requests       {self.n_requests:,} ({served})\n"
            f"clicks         {int(self.clicks.sum()):,} "
            f"(CTR {self.clicks.mean():.4f}; expected {self.expected_ctr:.4f})\n"
            f"no-ad share    {np.mean(self.actions == self.masks.shape[1] - 1):.3f}"
        )


def simulate(cfg: DictConfig, client: Any = None) -> SimulationResult:
    """Send ``cfg.n_requests`` decisions and their feedback to the server at ``cfg.url``.

    Args:
        cfg: A composed ``simulate`` config.
        client: An ``httpx.Client`` to use (default: a new one on ``cfg.url``).

    Raises:
        ConfigError: No API key in ``cfg.api_key_env`` while feedback is on.
        RuntimeError: The server refused a request (the message has its answer).
    """
    import httpx

    check_targets(cfg)
    key = os.environ.get(str(cfg.api_key_env)) if cfg.api_key_env else None
    if cfg.feedback and not key:
        raise ConfigError(
            f"api_key_env: ${cfg.api_key_env} is not set; /v1/feedback needs the server's key "
            "(or set feedback=false)"
        )
    env = build_env(cfg, enriched_stream(cfg).table)
    ids = [c.id for c in env.unwrapped.catalog]
    k = len(ids)
    rng = np.random.default_rng(int(cfg.seed))
    rows: dict[str, list[Any]] = {n: [] for n in ("x", "m", "p", "a", "c", "v", "arm")}
    own = client is None
    http = httpx.Client(base_url=str(cfg.url), timeout=float(cfg.timeout_s)) if own else client
    headers = {"X-API-Key": key} if key else {}
    obs, info = env.reset(seed=int(cfg.seed))
    try:
        for i in range(int(cfg.n_requests)):
            mask = np.asarray(info["action_mask"], dtype=bool)
            body = {
                "user_id": f"sim-{i}",
                "context": obs.astype(float).tolist(),
                "eligible_creatives": [ids[a] for a in range(k) if mask[a]],
            }
            decision = _post(http, "/v1/decide", body, {})
            action = int(decision["action"])
            probs = np.asarray(info["click_probs"], dtype=np.float64)
            clicked = bool(rng.random() < probs[action])
            if cfg.feedback:
                _post(http, "/v1/feedback", {"decision_id": decision["decision_id"],
                                             "click": clicked}, headers)  # fmt: skip
            for name, value in zip(rows, (obs.copy(), mask, probs, action, float(clicked),
                                          decision["policy_version"], decision["arm"]),
                                   strict=True):  # fmt: skip
                rows[name].append(value)
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                obs, info = env.reset()
    finally:
        if own:
            http.close()
    return SimulationResult(
        contexts=np.stack(rows["x"]).astype(np.float64),
        masks=np.stack(rows["m"]),
        click_probs=np.stack(rows["p"]),
        actions=np.array(rows["a"], dtype=np.int64),
        clicks=np.array(rows["c"]),
        versions=np.array(rows["v"], dtype=str),
        arms=np.array(rows["arm"], dtype=str),
    )


def _post(http: Any, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    answer = http.post(path, json=body, headers=headers)
    if answer.status_code != 200:
        raise RuntimeError(f"POST {path} answered {answer.status_code}: {answer.text[:500]}")
    return answer.json()


def main(cfg: DictConfig) -> Any:
    """Hydra entry point: simulate and print the summary."""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    result = simulate(cfg)
    print(result.render())
    return result
