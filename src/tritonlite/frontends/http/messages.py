"""JSON bodies of the endpoints that are not inference: metadata, statistics, the
repository index, load/unload requests, log and trace settings. Pure functions over core
types; shapes and texts as Triton 2.51 serves them (``TRITONSERVER_MessageSerializeToJson``
of its protobuf messages, ``src/http_server.cc``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Any

import orjson

from tritonlite.core.errors import ErrorKind, InferenceServerError, internal, invalid_arg
from tritonlite.core.settings import (
    LOG_FORMATS,
    TRACE_NUMBERS,
    LogSettings,
    TraceSettings,
    parse_trace_levels,
    parse_trace_number,
)
from tritonlite.core.shared_memory import RegionStatus
from tritonlite.core.stats import BATCH_STAT_FIELDS, INFER_STAT_FIELDS, ModelStats, StatDuration
from tritonlite.core.types import ModelIndexEntry, ModelMetadata, ServerMetadata
from tritonlite.frontends.http import tritonjson as tj

__all__ = [
    "decode_index_request",
    "decode_load_request",
    "decode_shared_memory_register",
    "decode_unload_request",
    "encode_log_settings",
    "encode_model_metadata",
    "encode_model_statistics",
    "encode_repository_index",
    "encode_server_metadata",
    "encode_shared_memory_status",
    "encode_trace_settings",
    "update_log_settings",
    "update_trace_settings",
]



def encode_server_metadata(meta: ServerMetadata) -> bytes:
    return orjson.dumps(
        {"name": meta.name, "version": meta.version, "extensions": list(meta.extensions)}
    )


def encode_model_metadata(meta: ModelMetadata) -> bytes:
    def tensors(entries: Iterable[Any]) -> list[dict[str, Any]]:
        return [{"name": t.name, "datatype": t.datatype, "shape": list(t.shape)} for t in entries]

    return orjson.dumps(
        {
            "name": meta.name,
            "versions": list(meta.versions),
            "platform": meta.platform,
            "inputs": tensors(meta.inputs),
            "outputs": tensors(meta.outputs),
        }
    )


def _duration(value: StatDuration) -> dict[str, int]:
    return {"count": value.count, "ns": value.ns}


def encode_model_statistics(stats: Iterable[ModelStats]) -> bytes:
    models = []
    for s in stats:
        models.append(
            {
                "name": s.name,
                "version": s.version,
                "last_inference": s.last_inference_ms,
                "inference_count": s.inference_count,
                "execution_count": s.execution_count,
                "inference_stats": {
                    f: _duration(getattr(s.inference_stats, f)) for f in INFER_STAT_FIELDS
                },
                "response_stats": {},
                "batch_stats": [
                    {
                        "batch_size": size,
                        **{f: _duration(getattr(s.batch_stats[size], f))
                           for f in BATCH_STAT_FIELDS},
                    }
                    for size in sorted(s.batch_stats)
                ],
                "memory_usage": [],
            }
        )
    return orjson.dumps({"model_stats": models})


def encode_repository_index(entries: Iterable[ModelIndexEntry]) -> bytes:
    rows = []
    for e in entries:
        row = {"name": e.name}
        if e.version:
            row["version"] = e.version
        if e.state:
            row["state"] = e.state
        if e.reason:
            row["reason"] = e.reason
        rows.append(row)
    return orjson.dumps(rows)


# --------------------------------------------------------------------- repository bodies


def decode_index_request(body: bytes) -> bool:
    """``{"ready": bool}`` (an empty body means all models)."""
    if not body:
        return False
    document = tj.parse(body)
    if type(document) is dict and "ready" in document:
        return tj.as_bool(document["ready"])
    return False


def _b64decode(text: str) -> bytes:
    """Lenient base64, as libb64: characters outside the alphabet are skipped."""
    cleaned = "".join(c for c in text if c.isalnum() or c in "+/")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except binascii.Error:
        return base64.b64decode(cleaned[: len(cleaned) - len(cleaned) % 4])


def decode_load_request(body: bytes) -> dict[str, object]:
    """``{"parameters": {"config": "<json>", "file:<path>": "<base64>"}}``."""
    if not body:
        return {}
    document = tj.parse(body)
    if type(document) is not dict or "parameters" not in document:
        return {}
    params: dict[str, object] = {}
    for key, value in tj.members(document["parameters"]).items():
        text = tj.as_string(value)
        if key == "config":
            params[key] = text
        elif key.startswith("file:"):
            params[key] = _b64decode(text)
        else:
            raise internal("unexpected error on creating Triton parameter")
    return params


def decode_unload_request(body: bytes) -> bool:
    """``{"parameters": {"unload_dependents": bool}}``."""
    if not body:
        return False
    document = tj.parse(body)
    params = document.get("parameters") if type(document) is dict else None
    if type(params) is dict and "unload_dependents" in params:
        value = params["unload_dependents"]
        return tj.as_bool(value, "Unable to parse 'unload_dependents'")
    return False


# ---------------------------------------------------------------------- shared memory


def encode_shared_memory_status(regions: Iterable[RegionStatus]) -> bytes:
    """``[{"name","key","offset","byte_size"}, ...]`` (an empty list for CUDA)."""
    return orjson.dumps([
        {"name": r.name, "key": r.key, "offset": r.offset, "byte_size": r.byte_size}
        for r in regions
    ])


def decode_shared_memory_register(body: bytes) -> tuple[str, int, int]:
    """``{"key": str, "offset": uint (default 0), "byte_size": uint}`` -> its values,
    checked in Triton's order with its texts."""
    document = tj.parse(body)
    fields = document if type(document) is dict else {}
    if "key" not in fields:
        raise invalid_arg("Shared memory register request has no 'key' field")
    key = tj.as_string(fields["key"])
    offset = tj.as_uint(fields["offset"]) if "offset" in fields else 0
    if "byte_size" not in fields:
        raise invalid_arg("Shared memory register request has no 'byte_size' field")
    return key, offset, tj.as_uint(fields["byte_size"])


# --------------------------------------------------------------------------- settings


def update_log_settings(settings: LogSettings, body: bytes) -> None:
    """Apply a ``POST v2/logging`` body in Triton's order; ``null`` values are ignored
    and the settings before an invalid one stay applied, as in Triton."""
    document = tj.parse(body)
    if type(document) is not dict:
        return
    if document.get("log_file") is not None:
        settings.set("log_file", "")  # raises UNSUPPORTED
    for key in ("log_info", "log_warning", "log_error"):
        if document.get(key) is not None:
            settings.set(key, tj.as_bool(document[key]))
    if document.get("log_verbose_level") is not None:
        level = tj.as_uint(document["log_verbose_level"])
        settings.set("log_verbose_level", level)
    if document.get("log_format") is not None:
        text = tj.as_string(document["log_format"])
        if text not in LOG_FORMATS:
            raise InferenceServerError(
                ErrorKind.UNAVAILABLE, f"invalid argument for --log_format, got: {text}"
            )
        settings.set("log_format", text)


def encode_log_settings(settings: LogSettings) -> bytes:
    return orjson.dumps(settings.values)


def update_trace_settings(settings: TraceSettings, model: str, body: bytes) -> None:
    """Apply a ``POST v2[/models/<m>]/trace/setting`` body. ``null`` clears a field; the
    numbers are strings, as in Triton's JSON."""
    document = tj.parse(body)
    if type(document) is not dict:
        settings.update(model, {})
        return
    if "trace_file" in document:
        settings.update(model, {"trace_file": None})  # raises UNSUPPORTED
    changes: dict[str, tuple[str, ...] | None] = {}
    if "trace_level" in document:
        levels = document["trace_level"]
        if levels is None:
            changes["trace_level"] = None
        else:
            names = [tj.as_string(v) for v in tj.member_array(document, "trace_level")]
            changes["trace_level"] = parse_trace_levels(names)
    for key in TRACE_NUMBERS:
        if key not in document:
            continue
        if document[key] is None:
            changes[key] = None
        else:
            changes[key] = (parse_trace_number(key, tj.as_string(document[key]), got="got:"),)
    settings.update(model, changes)


def encode_trace_settings(settings: TraceSettings, model: str = "") -> bytes:
    values = settings.get(model)
    out: dict[str, Any] = {"trace_level": list(values["trace_level"])}
    for key, value in values.items():
        if key != "trace_level":
            out[key] = value[0]
    return orjson.dumps(out)
