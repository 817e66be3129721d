"""Inputs of the ``cancellable`` test model (``tests/e2e/models/cancellable``), which
works for SECONDS (sleeping, polling ``is_cancelled()``); shared by the e2e tests."""

from __future__ import annotations

import numpy as np
import tritonclient.grpc as grpcclient


def seconds(value: float) -> list[grpcclient.InferInput]:
    """The request that makes the model work for ``value`` seconds."""
    i = grpcclient.InferInput("SECONDS", [1], "FP32")
    i.set_data_from_numpy(np.array([value], np.float32))
    return [i]
