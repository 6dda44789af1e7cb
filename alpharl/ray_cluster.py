"""Where Ray work runs: a cluster given by address, or a local Ray started for this process.

The Ray enrichment engine (`alpharl.enrich.ray_engine`) and the Ray Tune sweeps
(`alpharl.tasks.tune`) both go through `ray_session`, so they find Ray the same way:

1. Ray already initialised in this process (a test fixture, a notebook): use it, leave it
   running afterwards.
2. An address: ``address`` from config, else ``$RAY_ADDRESS`` (Ray's own variable):
   ``ray://head:10001`` (Ray Client), ``auto`` or ``head:6379`` (a node of the cluster).
   ``num_cpus`` is not sent (a cluster has its own resources).
3. Neither: start a local Ray with ``num_cpus`` CPUs, stopped again when the block ends.

Every worker gets single-threaded numerics (``OMP_NUM_THREADS=1`` and friends, as the CLI
sets for itself) through the runtime environment, unless the config's ``runtime_env`` sets
them. On a cluster, AlphaRL must be importable on every node: install it there, or ship
it with ``runtime_env: {py_modules: [...]}`` or ``{pip: [...]}``.

Ray is an optional dependency (``pip install 'alpharl[ray]'``); it is imported here, on
first use, with an error saying how to install it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

ENV_ADDRESS = "RAY_ADDRESS"
SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_OFFLINE": "1",
}
"""Environment every Ray worker gets unless ``runtime_env.env_vars`` says otherwise."""


def import_ray() -> Any:
    """``import ray``, or an ImportError saying how to install the optional extra."""
    try:
        import ray
    except ImportError as exc:
        raise ImportError(
            "Ray is not installed; install the optional extra: pip install 'alpharl[ray]' "
            f"(or pip install 'ray[data,tune]') ({exc})"
        ) from exc
    return ray


@dataclass(frozen=True)
class RayConnection:
    """How `ray_session` reached Ray.

    Args:
        mode: ``existing`` (already initialised here), ``cluster`` (an address) or
            ``local`` (a Ray started for this session).
        address: The address connected to (None for a local or existing Ray).
        cpus: The CPUs Ray reports for the cluster.
    """

    mode: str
    address: str | None
    cpus: float


def _runtime_env(runtime_env: Mapping[str, Any] | None) -> dict[str, Any]:
    env = dict(runtime_env or {})
    env_vars = dict(env.get("env_vars") or {})
    for key, value in SINGLE_THREAD_ENV.items():
        env_vars.setdefault(key, os.environ.get(key, value))
    env["env_vars"] = {str(k): str(v) for k, v in env_vars.items()}
    return env


@contextmanager
def ray_session(
    address: str | None = None,
    num_cpus: int | None = None,
    runtime_env: Mapping[str, Any] | None = None,
) -> Iterator[RayConnection]:
    """Use Ray for the duration of the block (see the module docstring for the order).

    Args:
        address: A cluster's address; None reads ``$RAY_ADDRESS``, and without it a local
            Ray is started.
        num_cpus: CPUs of a local Ray (None lets Ray count the machine's).
        runtime_env: Ray runtime environment for the workers (``env_vars``, ``pip``,
            ``py_modules``, ``working_dir``...).

    Raises:
        ValueError: for a ``num_cpus`` that is not a positive integer.
        ImportError: when Ray is not installed.
    """
    if num_cpus is not None and (
        isinstance(num_cpus, bool) or not isinstance(num_cpus, int) or num_cpus < 1
    ):
        raise ValueError(f"num_cpus: must be a positive integer or null (got {num_cpus!r})")
    ray = import_ray()
    if ray.is_initialized():
        yield RayConnection("existing", None, float(ray.cluster_resources().get("CPU", 0)))
        return
    target = address or os.environ.get(ENV_ADDRESS) or None
    kwargs: dict[str, Any] = {"runtime_env": _runtime_env(runtime_env)}
    if target is not None:
        log.info("connecting to the Ray cluster at %s", target)
        ray.init(address=target, **kwargs)
        mode = "cluster"
    else:
        log.info("starting a local Ray with num_cpus=%s", num_cpus)
        # address="local": never attach to a Ray some other process happens to run here.
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, **kwargs)
        mode = "local"
    try:
        yield RayConnection(mode, target, float(ray.cluster_resources().get("CPU", 0)))
    finally:
        ray.shutdown()


__all__ = ["ENV_ADDRESS", "SINGLE_THREAD_ENV", "RayConnection", "import_ray", "ray_session"]
