"""One place that seeds Python, NumPy, PyTorch and TensorFlow and sets their determinism flags.

`import vxglib` must stay cheap, so frameworks that are not imported yet are not imported here:
each backend calls `apply_to_torch` / `apply_to_tensorflow` when it first loads.
"""
from __future__ import annotations

import os
import random
import sys

import numpy as np

from ._checks import check_int

_STATE = {"seed": 0, "threads": 1}

# TensorFlow reads these when it is first imported: silence its start-up log lines.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def seed(n: int = 0, threads: int = 1) -> int:
    """Seed every random source (Python, NumPy, PyTorch, TensorFlow) with `n`; return `n`.

    One thread by default (BLAS, PyTorch and TensorFlow intra-op): results then do not depend
    on the core count of the machine.
    """
    n = check_int("seed", n, minimum=0)
    threads = check_int("threads", threads, minimum=1)
    _STATE.update(seed=n, threads=threads)
    random.seed(n)
    np.random.seed(n)
    # NumPy's BLAS too: sums then run in one order on every machine, and small matrix products
    # stop fighting each other for cores (20x slower under load otherwise)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    os.environ["PYTHONHASHSEED"] = str(n)
    if "torch" in sys.modules:
        apply_to_torch()
    if "tensorflow" in sys.modules:
        apply_to_tensorflow()
    return n


def rng(offset: int = 0) -> np.random.Generator:
    """A NumPy Generator derived from the current seed (plus `offset` for independent streams)."""
    return np.random.default_rng(_STATE["seed"] + offset)


def current_seed() -> int:
    """The seed set by the last call to `seed`."""
    return _STATE["seed"]


def apply_to_torch() -> None:
    """Seed PyTorch and make it deterministic (called by the PyTorch backend on first use)."""
    import torch

    torch.manual_seed(_STATE["seed"])
    if torch.get_num_threads() != _STATE["threads"]:
        torch.set_num_threads(_STATE["threads"])
    torch.use_deterministic_algorithms(True)


def apply_to_tensorflow() -> None:
    """Seed TensorFlow/Keras and make it deterministic (called by the Keras backend on first use)."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    try:  # thread counts can only be set before TensorFlow starts its runtime
        tf.config.threading.set_intra_op_parallelism_threads(_STATE["threads"])
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass
    tf.config.experimental.enable_op_determinism()
    tf.random.set_seed(_STATE["seed"])
    import keras

    keras.utils.set_random_seed(_STATE["seed"])
