from __future__ import annotations

import numpy as np

from tritonlite.core.classification import classify
from tritonlite.core.tensor import Tensor


def test_batched_top_n_with_labels() -> None:
    t = Tensor.from_numpy("OUT", np.array([[1, 6, 2, 8]], np.float32))
    out = classify(t, 2, ["a", "b", "c"], batched=True)
    assert out.shape == (1, 2)
    assert out.as_numpy().tolist() == [[b"8.000000:3", b"6.000000:1:b"]]


def test_unbatched_over_whole_tensor() -> None:
    t = Tensor.from_numpy("OUT", np.array([3, 1, 2], np.int32))
    out = classify(t, 5, [], batched=False)
    assert out.shape == (3,)
    assert out.as_numpy().tolist() == [b"3:0", b"2:2", b"1:1"]
