"""tritonlite's ``triton_python_backend_utils``: the API a Triton Python-backend model uses.

Import it the Triton way, ``import triton_python_backend_utils as pb_utils``, in a model
run by tritonlite, or in a plain unit test: everything works without a server except BLS
(``InferenceRequest.exec``/``async_exec``) and model control (``load_model``,
``unload_model``, ``is_model_ready``), which raise ``TritonModelException`` until a
server handler is installed. Semantics follow Triton 2.51 plus python_backend main's
additions (``InferenceResponse(parameters=...)``, ``ResponseIterator.cancel``).

Differences from Triton, on purpose: ``Tensor.triton_dtype()`` works (it raises on
2.51); ``serialize_byte_tensor`` sends bytes-like elements as their bytes; BF16 tensors
are supported through DLPack without a framework; only CPU memory exists.

Private hooks for the worker stub (not part of the model API):
``_set_server_handler``, ``_set_metrics_handler``, ``_configure_logging``,
``_set_model_dir``, ``InferenceRequest._from_server``, ``InferenceResponse._from_server``,
``Tensor._from_array`` / ``_from_core`` / ``_to_core`` and the ``InferenceResponseSender``
and ``ResponseIterator`` server-side methods.
"""

from __future__ import annotations

# Triton's module imports these and models use them through pb_utils (pb_utils.np).
import json
import struct

import numpy as np

from tritonlite.backends.python.pb_dtypes import (
    TRITON_STRING_TO_NUMPY,
    deserialize_bytes_tensor,
    numpy_to_triton_type,
    serialize_byte_tensor,
    triton_string_to_numpy,
    triton_to_numpy_type,
)
from tritonlite.backends.python.pb_errors import TritonError, TritonModelException
from tritonlite.backends.python.pb_logger import Logger

# The worker stub's hooks, re-exported (explicitly, for mypy) so it imports one module.
from tritonlite.backends.python.pb_logger import _configure_logging as _configure_logging
from tritonlite.backends.python.pb_metrics import (
    Metric,
    MetricFamily,
    MetricKind,
    MetricsHandler,
)
from tritonlite.backends.python.pb_metrics import _set_metrics_handler as _set_metrics_handler
from tritonlite.backends.python.pb_model_config import (
    ModelConfig,
    get_input_config_by_name,
    get_output_config_by_name,
    using_decoupled_model_transaction_policy,
)
from tritonlite.backends.python.pb_request import (
    TRITONSERVER_MEMORY_CPU,
    TRITONSERVER_MEMORY_GPU,
    TRITONSERVER_REQUEST_FLAG_SEQUENCE_END,
    TRITONSERVER_REQUEST_FLAG_SEQUENCE_START,
    TRITONSERVER_REQUEST_RELEASE_ALL,
    TRITONSERVER_REQUEST_RELEASE_RESCHEDULE,
    InferenceRequest,
    InferenceTrace,
    MemoryType,
    PreferredMemory,
)
from tritonlite.backends.python.pb_response import (
    TRITONSERVER_RESPONSE_COMPLETE_FINAL,
    InferenceResponse,
    InferenceResponseSender,
    ResponseIterator,
)
from tritonlite.backends.python.pb_server import (
    ServerHandler,
    get_model_dir,
    is_model_ready,
    load_model,
    unload_model,
)
from tritonlite.backends.python.pb_server import _set_model_dir as _set_model_dir
from tritonlite.backends.python.pb_server import _set_server_handler as _set_server_handler
from tritonlite.backends.python.pb_tensor import Tensor

__all__ = [
    "TRITONSERVER_MEMORY_CPU",
    "TRITONSERVER_MEMORY_GPU",
    "TRITONSERVER_REQUEST_FLAG_SEQUENCE_END",
    "TRITONSERVER_REQUEST_FLAG_SEQUENCE_START",
    "TRITONSERVER_REQUEST_RELEASE_ALL",
    "TRITONSERVER_REQUEST_RELEASE_RESCHEDULE",
    "TRITONSERVER_RESPONSE_COMPLETE_FINAL",
    "TRITON_STRING_TO_NUMPY",
    "InferenceRequest",
    "InferenceResponse",
    "InferenceResponseSender",
    "InferenceTrace",
    "Logger",
    "MemoryType",
    "Metric",
    "MetricFamily",
    "MetricKind",
    "MetricsHandler",
    "ModelConfig",
    "PreferredMemory",
    "ResponseIterator",
    "ServerHandler",
    "Tensor",
    "TritonError",
    "TritonModelException",
    "deserialize_bytes_tensor",
    "get_input_config_by_name",
    "get_input_tensor_by_name",
    "get_model_dir",
    "get_output_config_by_name",
    "get_output_tensor_by_name",
    "is_model_ready",
    "json",
    "load_model",
    "np",
    "numpy_to_triton_type",
    "serialize_byte_tensor",
    "struct",
    "triton_string_to_numpy",
    "triton_to_numpy_type",
    "unload_model",
    "using_decoupled_model_transaction_policy",
]


def get_input_tensor_by_name(inference_request: InferenceRequest, name: str) -> Tensor | None:
    """The input tensor called ``name`` (sequence control inputs included), or None."""
    for tensor in inference_request.inputs():
        if tensor.name() == name:
            return tensor
    return None


def get_output_tensor_by_name(inference_response: InferenceResponse, name: str) -> Tensor | None:
    """The output tensor called ``name`` of a (BLS) response, or None."""
    for tensor in inference_response.output_tensors():
        if tensor.name() == name:
            return tensor
    return None
