"""Triton's classification extension: an output replaced by its top-N classes.

A requested output with parameter ``classification: N`` (HTTP ``class_count``) comes back
as a BYTES tensor of "value:index" strings (":label" appended when the output has a
``label_filename``), highest value first, ``%f``-formatted like Triton: for a batched
model per batch item (shape [batch, N]), else over the whole tensor (shape [N]). Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tritonlite.core.tensor import DataType, Tensor


def classify(tensor: Tensor, count: int, labels: Sequence[str], batched: bool) -> Tensor:
    arr = tensor.as_numpy()
    rows = arr.reshape(arr.shape[0], -1) if batched and arr.ndim > 0 else arr.reshape(1, -1)
    integral = np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_
    out = []
    for row in rows:
        values = row.astype(np.float64)
        order = np.argsort(-values, kind="stable")[: min(count, values.size)]
        items = []
        for i in order:
            value = str(int(row[i])) if integral else f"{values[i]:f}"  # as Triton prints
            text = f"{value}:{int(i)}"
            if int(i) < len(labels):
                text += f":{labels[int(i)]}"
            items.append(text.encode())
        out.append(items)
    n = len(out[0]) if out else 0
    result: np.ndarray = np.empty((len(out), n), dtype=np.object_)
    for r, items in enumerate(out):
        result[r, :] = items
    if not batched:
        result = result.reshape(n)
    return Tensor(tensor.name, DataType.BYTES, result.shape, array=result)
