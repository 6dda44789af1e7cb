"""The ``alpharl`` command: ``alpharl <task> [hydra overrides]``.

Each task is a plain function in `alpharl.tasks` taking a composed config; this module only
hands Hydra the task's primary config (``configs/<task>.yaml``) and calls that function,
so ``--multirun``, ``--cfg job`` and every other Hydra flag work as documented by Hydra.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import Any

TASKS: dict[str, str] = {
    "enrich": "alpharl.tasks.enrich:main",
    "train": "alpharl.tasks.train:main",
    "compare": "alpharl.tasks.compare:main",
    "tune": "alpharl.tasks.tune:main",
    "evaluate": "alpharl.tasks.evaluate:main",
    "promote": "alpharl.tasks.promote:main",
    "serve": "alpharl.tasks.serve:main",
    "simulate": "alpharl.tasks.simulate:main",
    "train-emotion": "alpharl.enrich.emotion_training:main",
}

USAGE = "usage: alpharl {" + ",".join(TASKS) + "} [hydra overrides] [--multirun] [--help]"


def _single_threaded() -> None:
    # Small models on few cores: extra BLAS/torch threads only contend (README, "Speed").
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # MLflow's per-artifact progress bars would bury the task's own output.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def _load(spec: str) -> Callable[[Any], Any]:
    import importlib

    module, _, name = spec.partition(":")
    fn: Callable[[Any], Any] = getattr(importlib.import_module(module), name)
    return fn


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``alpharl`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        raise SystemExit(0 if argv else 2)
    task = argv.pop(0)
    if task not in TASKS:
        print(f"alpharl: unknown task {task!r}\n{USAGE}", file=sys.stderr)
        raise SystemExit(2)
    _single_threaded()
    import hydra

    from alpharl.config import config_dir, register_schemas

    register_schemas()
    task_main = _load(TASKS[task])
    hydra_main = hydra.main(config_path=str(config_dir()), config_name=task, version_base="1.3")(
        task_main
    )
    sys.argv = [f"alpharl {task}", *argv]
    logging.getLogger("alpharl").setLevel(logging.INFO)
    hydra_main()


if __name__ == "__main__":
    main()
