"""A Gymnasium `VectorEnv` as a Stable-Baselines3 `VecEnv`, with the eligibility fallback.

SB3's vector API differs from Gymnasium's in three ways this adapter bridges:

- **Autoreset.** SB3 expects the step that ends an episode to return the *next*
  episode's first observation, with the final one in ``info["terminal_observation"]``
  (and ``info["TimeLimit.truncated"]`` for a truncation). A Gymnasium vector env in
  ``SAME_STEP`` mode does that already (``info["final_obs"]``, ``info["final_info"]``);
  in ``NEXT_STEP`` (Gymnasium's default) or ``DISABLED`` mode the adapter resets the
  finished sub-envs at once through ``reset(options={"reset_mask": done})``, so no
  sub-env ever sees the placeholder step ``NEXT_STEP`` would otherwise insert.
- **Infos.** Gymnasium batches infos as a dict of arrays (with ``_key`` presence masks);
  SB3 wants one dict per sub-env. The info of an ending step is that step's own info
  (``final_info``), not the reset's.
- **Masks.** Under the ``"no_ad"`` strategy, an action ineligible under the sub-env's
  latest ``info["action_mask"]`` executes the fallback ("no ad", the last action), as
  `agents.sb3.env.EligibleActionWrapper` does for a single env. The chosen and executed
  actions and the masks of the last step are kept on the adapter.

The vector env must support ``reset(options={"reset_mask": ...})`` unless it autoresets
in ``SAME_STEP`` mode (Gymnasium's `SyncVectorEnv` and `AsyncVectorEnv` do).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)


def info_at(infos: Mapping[str, Any], i: int) -> dict[str, Any]:
    """Sub-env ``i``'s info from Gymnasium's batched dict of arrays (``_key`` masks honoured)."""
    out: dict[str, Any] = {}
    for key, value in infos.items():
        if key.startswith("_") or key in ("final_obs", "final_info"):
            continue
        present = infos.get(f"_{key}")
        if present is not None and not present[i]:
            continue
        out[key] = info_at(value, i) if isinstance(value, Mapping) else value[i]
    return out


def autoreset_mode(venv: VectorEnv[Any, Any, Any]) -> AutoresetMode:
    """The vector env's declared autoreset mode (Gymnasium's default, NEXT_STEP, if none)."""
    mode = venv.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    return mode if isinstance(mode, AutoresetMode) else AutoresetMode(mode)


class GymnasiumVecEnv(VecEnv):
    """SB3's `VecEnv` over a Gymnasium `VectorEnv` (see the module docstring).

    Args:
        venv: A Gymnasium vector env with a ``Discrete(K+1)`` single action space.
        fallback_ineligible: Execute the last action instead of an ineligible one
            (the ``"no_ad"`` strategy); False passes actions through unchanged.

    Raises:
        TypeError: For a vector env whose single action space is not ``Discrete``.
    """

    def __init__(self, venv: VectorEnv[Any, Any, Any], fallback_ineligible: bool = True) -> None:
        space = venv.single_action_space
        if not isinstance(space, gym.spaces.Discrete):
            raise TypeError(f"env.single_action_space: must be Discrete; got {space}")
        self.venv = venv
        self.mode = autoreset_mode(venv)
        self.fallback_ineligible = fallback_ineligible
        self.n_actions = int(space.n)
        self.fallback = self.n_actions - 1
        super().__init__(int(venv.num_envs), venv.single_observation_space, space)
        n = self.num_envs
        self.masks: np.ndarray | None = None
        self.last_chosen = np.full(n, -1, dtype=np.int64)
        self.last_executed = np.full(n, -1, dtype=np.int64)
        self.last_mask: np.ndarray | None = None
        self.n_remapped = 0
        self._actions = np.zeros(n, dtype=np.int64)

    def _read_masks(self, infos: Mapping[str, Any], rows: np.ndarray | None = None) -> None:
        """Update the masks of ``rows`` (all sub-envs if None) from ``infos``."""
        mask = infos.get("action_mask")
        if mask is None:
            if rows is None:
                self.masks = None
            return
        m = np.asarray(mask, dtype=bool)
        if m.shape != (self.num_envs, self.n_actions):
            raise ValueError(
                f"info['action_mask']: shape must be ({self.num_envs}, {self.n_actions}); "
                f"got {m.shape}"
            )
        present = infos.get("_action_mask")
        keep = np.ones(self.num_envs, dtype=bool) if present is None else np.asarray(present)
        if rows is not None:
            keep = keep & rows
        if self.masks is None:
            self.masks = np.ones((self.num_envs, self.n_actions), dtype=bool)
        self.masks[keep] = m[keep]

    def reset(self) -> VecEnvObs:
        """Reset every sub-env (with the seed given to `seed`, once).

        SB3's ``seed(s)`` seeds sub-env i with ``s + i``, as Gymnasium's ``reset(seed=s)``.
        """
        options = self._options[0] or None
        obs, infos = self.venv.reset(seed=self._seeds[0], options=options)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [info_at(infos, i) for i in range(self.num_envs)]
        self._read_masks(infos)
        return np.asarray(obs)

    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions, applying the fallback to ineligible ones."""
        chosen = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)
        executed = chosen
        if self.fallback_ineligible and self.masks is not None:
            ok = self.masks[np.arange(self.num_envs), chosen]
            if not ok.all():
                executed = np.where(ok, chosen, self.fallback)
                self.n_remapped += int((~ok).sum())
        self.last_chosen, self.last_executed = chosen, executed
        self.last_mask = None if self.masks is None else self.masks.copy()
        self._actions = executed

    def step_wait(self) -> VecEnvStepReturn:
        """Step every sub-env; reset the finished ones at once (SB3's convention)."""
        obs, rewards, terminated, truncated, infos = self.venv.step(self._actions)
        obs = np.array(obs)
        done = np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)
        out_infos = [info_at(infos, i) for i in range(self.num_envs)]
        if self.mode == AutoresetMode.SAME_STEP:
            self._read_masks(infos)  # an ended sub-env's mask is already its new episode's
            final_infos = infos.get("final_info", {})
            for i in np.flatnonzero(done):
                self.reset_infos[i] = out_infos[i]
                out_infos[i] = info_at(final_infos, int(i))
                out_infos[i]["terminal_observation"] = infos["final_obs"][i]
        else:
            self._read_masks(infos)
            if done.any():
                for i in np.flatnonzero(done):
                    out_infos[i]["terminal_observation"] = obs[i].copy()
                new_obs, reset_infos = self.venv.reset(options={"reset_mask": done.copy()})
                new_obs = np.asarray(new_obs)
                obs[done] = new_obs[done]
                for i in np.flatnonzero(done):
                    self.reset_infos[i] = info_at(reset_infos, int(i))
                self._read_masks(reset_infos, done)
        for i in np.flatnonzero(done):
            out_infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        return obs, np.asarray(rewards, dtype=np.float32), done, out_infos

    def close(self) -> None:
        """Close the vector env."""
        self.venv.close()

    def _sub_envs(self, indices: VecEnvIndices) -> list[Any]:
        envs = getattr(self.venv, "envs", None)
        if envs is None:
            raise AttributeError(f"{type(self.venv).__name__} does not expose its sub-envs")
        return [envs[i] for i in self._get_indices(indices)]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """A sub-env attribute per index (the vector env's own for a native vector env)."""
        if getattr(self.venv, "envs", None) is None:
            return [getattr(self.venv, attr_name)] * len(list(self._get_indices(indices)))
        return [env.get_wrapper_attr(attr_name) for env in self._sub_envs(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute on each indexed sub-env."""
        for env in self._sub_envs(indices):
            setattr(env, attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        """Call a method on each indexed sub-env."""
        return [
            env.get_wrapper_attr(method_name)(*method_args, **method_kwargs)
            for env in self._sub_envs(indices)
        ]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper[Any, Any, Any, Any]], indices: VecEnvIndices = None
    ) -> list[bool]:
        """Whether each indexed sub-env is wrapped in ``wrapper_class``."""
        from stable_baselines3.common.env_util import is_wrapped

        if getattr(self.venv, "envs", None) is None:
            return [False] * len(list(self._get_indices(indices)))
        return [is_wrapped(env, wrapper_class) for env in self._sub_envs(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        """No rendering through the adapter."""
        return [None] * self.num_envs
