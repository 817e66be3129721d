"""The public surface of ``triton_python_backend_utils``: Triton's names, declared and documented.

The lists below were read from triton-inference-server/python_backend at commit
f9088ff60944cc5a2e97ff16baba55f1666852bc: the module-level names of
``src/resources/triton_python_backend_utils.py``, the names ``src/pb_stub.cc`` sets on
that module at start-up (``py::setattr`` / ``def``), and the classes and methods bound in
``PYBIND11_EMBEDDED_MODULE(c_python_backend_utils, ...)`` of the same file.
"""

from __future__ import annotations

import ast
import inspect
import sys
from pathlib import Path

import pytest

import triton_python_backend_utils as pb_utils
from tritonlite.backends.python import pb_utils as impl

# Module-level names of Triton's triton_python_backend_utils.py (incl. its imports).
TRITON_PY_NAMES = [
    "json",
    "struct",
    "np",
    "TRITON_STRING_TO_NUMPY",
    "serialize_byte_tensor",
    "deserialize_bytes_tensor",
    "get_input_tensor_by_name",
    "get_output_tensor_by_name",
    "get_input_config_by_name",
    "get_output_config_by_name",
    "using_decoupled_model_transaction_policy",
    "triton_to_numpy_type",
    "numpy_to_triton_type",
    "triton_string_to_numpy",
    "ModelConfig",
    "TRITONSERVER_REQUEST_FLAG_SEQUENCE_START",
    "TRITONSERVER_REQUEST_FLAG_SEQUENCE_END",
    "TRITONSERVER_RESPONSE_COMPLETE_FINAL",
    "TRITONSERVER_REQUEST_RELEASE_ALL",
    "TRITONSERVER_REQUEST_RELEASE_RESCHEDULE",
]

# Names pb_stub.cc injects into the module from c_python_backend_utils.
STUB_INJECTED_NAMES = [
    "TritonError",
    "TritonModelException",
    "Tensor",
    "InferenceRequest",
    "InferenceResponse",
    "Logger",
    "PreferredMemory",
    "TRITONSERVER_MEMORY_GPU",
    "TRITONSERVER_MEMORY_CPU",
    "MetricFamily",
    "load_model",
    "unload_model",
    "is_model_ready",
    "get_model_dir",
]

# c_python_backend_utils classes that models receive but Triton never puts on pb_utils
# (TRITON-BEHAVIOUR.md section 2.2); tritonlite exports them for type hints.
C_MODULE_ONLY_NAMES = ["InferenceResponseSender", "ResponseIterator", "Metric", "InferenceTrace"]

# Methods and attributes bound in c_python_backend_utils (pb_stub.cc).
TRITON_MEMBERS = {
    "TritonError": [
        "code",
        "message",
        "UNKNOWN",
        "INTERNAL",
        "NOT_FOUND",
        "INVALID_ARG",
        "UNAVAILABLE",
        "UNSUPPORTED",
        "ALREADY_EXISTS",
        "CANCELLED",
    ],
    "InferenceTrace": ["get_context"],
    "InferenceRequest": [
        "inputs",
        "request_id",
        "correlation_id",
        "flags",
        "set_flags",
        "timeout",
        "parameters",
        "trace",
        "exec",
        "async_exec",
        "requested_output_names",
        "get_response_sender",
        "is_cancelled",
        "set_release_flags",
    ],
    "Tensor": [
        "name",
        "as_numpy",
        "triton_dtype",
        "to_dlpack",
        "is_cpu",
        "shape",
        "from_dlpack",
        "__dlpack__",
        "__dlpack_device__",
    ],
    "InferenceResponse": ["output_tensors", "has_error", "error", "parameters"],
    "InferenceResponseSender": ["send", "is_cancelled"],
    "ResponseIterator": ["__iter__", "__next__", "cancel"],
    "Logger": [
        "LogLevel",
        "INFO",
        "WARNING",
        "ERROR",
        "VERBOSE",
        "log",
        "log_info",
        "log_warn",
        "log_error",
        "log_verbose",
    ],
    "Metric": ["increment", "set", "observe", "value"],
    "MetricFamily": ["Metric", "COUNTER", "GAUGE", "HISTOGRAM"],
    "ModelConfig": [
        "as_dict",
        "set_max_batch_size",
        "set_dynamic_batching",
        "add_input",
        "add_output",
        "set_model_transaction_policy",
    ],
}

ALL_TRITON_NAMES = TRITON_PY_NAMES + STUB_INJECTED_NAMES + C_MODULE_ONLY_NAMES


@pytest.mark.parametrize("name", ALL_TRITON_NAMES)
def test_triton_name_is_exported(name: str) -> None:
    assert hasattr(pb_utils, name), name
    assert name in pb_utils.__all__, name


@pytest.mark.parametrize(("cls", "members"), sorted(TRITON_MEMBERS.items()))
def test_triton_members_exist(cls: str, members: list[str]) -> None:
    klass = getattr(pb_utils, cls)
    missing = [m for m in members if not hasattr(klass, m)]
    assert missing == []


def test_incidental_modules_are_the_real_ones() -> None:
    import json
    import struct

    import numpy

    assert pb_utils.json is json and pb_utils.struct is struct and pb_utils.np is numpy


def test_all_is_exact_and_resolvable() -> None:
    assert pb_utils.__all__ == impl.__all__
    assert len(set(pb_utils.__all__)) == len(pb_utils.__all__)
    for name in pb_utils.__all__:
        assert getattr(pb_utils, name) is getattr(impl, name)
    shim_public = {n for n in vars(pb_utils) if not n.startswith("_")}
    assert shim_public == set(pb_utils.__all__)
    impl_public = {n for n in vars(impl) if not n.startswith("_")} - {"annotations"}
    assert impl_public == set(impl.__all__)


def test_star_import_gives_every_name() -> None:
    namespace: dict[str, object] = {}
    exec("from triton_python_backend_utils import *", namespace)
    assert set(pb_utils.__all__) <= set(namespace)


def test_stub_hooks_are_reachable() -> None:
    for hook in ("_set_server_handler", "_set_metrics_handler", "_configure_logging"):
        assert callable(getattr(impl, hook))
    assert callable(impl._set_model_dir)
    assert callable(impl.InferenceRequest._from_server)


_DUNDERS_DOCUMENTED = ("__init__", "__iter__", "__next__", "__dlpack__", "__dlpack_device__")


def _public_callables() -> list[tuple[str, object]]:
    """Public classes and functions, and the methods each class itself defines."""
    found: list[tuple[str, object]] = []
    for name in impl.__all__:
        obj = getattr(impl, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if not obj.__module__.startswith("tritonlite."):
            continue
        found.append((name, obj))
        if not inspect.isclass(obj):
            continue
        for attr, value in vars(obj).items():
            if attr.startswith("_") and attr not in _DUNDERS_DOCUMENTED:
                continue
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if not (inspect.isfunction(value) or inspect.isclass(value)):
                continue
            if not value.__qualname__.startswith(obj.__qualname__ + "."):
                continue  # generated (e.g. a Protocol's __init__), not ours
            found.append((f"{name}.{attr}", value))
    return found


_CALLABLES = _public_callables()


@pytest.mark.parametrize(("name", "obj"), _CALLABLES, ids=[n for n, _ in _CALLABLES])
def test_public_api_is_documented(name: str, obj: object) -> None:
    assert inspect.getdoc(obj), f"{name} has no docstring"


def test_pb_modules_import_only_numpy_and_stdlib() -> None:
    """pb_utils must load in a bare model environment: no grpc, protobuf, HTTP or servers."""
    src = Path(impl.__file__).resolve().parents[3]
    files = sorted((src / "tritonlite/backends/python").glob("pb_*.py"))
    files += [
        src / "triton_python_backend_utils/__init__.py",
        src / "tritonlite/__init__.py",
        src / "tritonlite/backends/__init__.py",
        src / "tritonlite/backends/python/__init__.py",
        src / "tritonlite/core/__init__.py",
        src / "tritonlite/core/tensor.py",
        src / "tritonlite/core/errors.py",
    ]
    allowed_local = {"tritonlite.core.tensor", "tritonlite.core.errors",
                     "tritonlite.backends.python"}
    bad: list[str] = []
    for file in files:
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top == "__future__" or top == "numpy":
                    continue
                if module.startswith("tritonlite.backends.python.pb_") or module in allowed_local:
                    continue
                bad.append(f"{file.name}: {module}")
    assert bad == []
