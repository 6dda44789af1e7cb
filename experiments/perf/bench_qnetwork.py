"""Inference time of an exported Q-network: torch (the default) vs onnxruntime vs numpy.

Question: is it worth serving `QNetworkPolicy` through onnxruntime instead of torch?
Times the bare network forward for a batch of 1 and of 256 contexts with each runtime
(one thread each), plus the whole ``policy.decide`` (input checks + epsilon-greedy rule)
on torch. The floor is a plain numpy forward of the same weights, measured in the same
run. onnxruntime and onnx are optional: install them (``pip install onnxruntime onnx``)
to get that row; the project does not depend on them.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python experiments/perf/bench_qnetwork.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import timeit
from collections.abc import Callable
from functools import partial
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from alpharl.policy.qnetwork import QNetworkPolicy, build_mlp  # noqa: E402
from alpharl.policy.rules import EpsilonGreedyRule  # noqa: E402

N_FEATURES, HIDDEN, N_ACTIONS = 48, 64, 6


def _time_us(fn: Callable[[], object], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def _onnx_forward(policy: QNetworkPolicy, folder: str) -> Callable[[np.ndarray], np.ndarray] | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    path = os.path.join(folder, "q.onnx")
    torch.onnx.export(
        policy.network,
        (torch.zeros(1, N_FEATURES),),
        path,
        input_names=["x"],
        output_names=["q"],
        dynamic_axes={"x": {0: "n"}, "q": {0: "n"}},
        dynamo=False,
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"x": x})[0]


def main() -> None:
    """Print the timings and the ratios to the numpy floor."""
    torch.manual_seed(0)
    sizes = (N_FEATURES, HIDDEN, HIDDEN, N_ACTIONS)
    policy = QNetworkPolicy(sizes, "relu", build_mlp(sizes).state_dict(), EpsilonGreedyRule(0.05))
    layers = [m for m in policy.network if isinstance(m, torch.nn.Linear)]
    weights = [(m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()) for m in layers]

    def numpy_forward(x: np.ndarray) -> np.ndarray:
        h = x
        for i, (w, b) in enumerate(weights):
            h = h @ w + b
            if i < len(weights) - 1:
                np.maximum(h, 0.0, out=h)
        return h

    def torch_forward(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out: np.ndarray = policy.network(torch.from_numpy(x)).numpy()
        return out

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        onnx_forward = _onnx_forward(policy, tmp)
        print(f"Q-network {sizes}, relu, 1 thread; microseconds per call (best of 5)")
        for n in (1, 256):
            x = rng.random((n, N_FEATURES), dtype=np.float32)
            masks = np.ones((n, N_ACTIONS), dtype=bool)
            number = 2000 if n == 1 else 300
            rows: dict[str, Callable[[], object]] = {
                "numpy forward (floor)": partial(numpy_forward, x),
                "torch forward": partial(torch_forward, x),
            }
            if onnx_forward is not None:
                assert np.allclose(onnx_forward(x), torch_forward(x), atol=1e-5)
                rows["onnxruntime forward"] = partial(onnx_forward, x)
            rows["policy.decide (torch)"] = partial(policy.decide, x, masks, rng)
            floor = _time_us(rows["numpy forward (floor)"], number)
            print(f"batch {n}:")
            for name, fn in rows.items():
                us = floor if name.startswith("numpy") else _time_us(fn, number)
                print(f"  {name:<24}{us:>8.1f} us   x{us / floor:.2f} of floor")
        if onnx_forward is None:
            print("onnxruntime not installed: its row is missing (pip install onnxruntime onnx)")


if __name__ == "__main__":
    main()
