"""The TraceSetting and LogSettings RPCs over the server's shared settings.

The settings themselves (state, defaults, the rules both protocols share) are in
``tritonlite.core.settings``; this module only turns the protobuf messages into those
calls and back, with the gRPC frontend's texts (Triton 2.51 ``src/grpc/grpc_server.cc``
RegisterTrace / RegisterLogging).
"""

from __future__ import annotations

from collections.abc import Mapping

from tritonclient.grpc import service_pb2

from tritonlite.core.errors import ErrorKind, InferenceServerError, invalid_arg
from tritonlite.core.settings import (
    LOG_FILE_UNSUPPORTED,
    LOG_FORMATS,
    TRACE_NUMBERS,
    LogSettings,
    TraceSettings,
    parse_trace_levels,
    parse_trace_number,
)

__all__ = ["log_response", "trace_response", "update_log", "update_trace"]


def update_trace(
    settings: TraceSettings,
    model: str,
    request: Mapping[str, service_pb2.TraceSettingRequest.SettingValue],
) -> None:
    """Apply a TraceSettingRequest's settings. An empty value list clears a field."""
    if "trace_file" in request:
        settings.update(model, {"trace_file": None})  # raises UNSUPPORTED
    changes: dict[str, tuple[str, ...] | None] = {}
    levels = request.get("trace_level")
    if levels is not None:
        changes["trace_level"] = parse_trace_levels(list(levels.value)) if levels.value else None
    for key in TRACE_NUMBERS:
        values = request.get(key)
        if values is None:
            continue
        if not values.value:
            changes[key] = None
        elif len(values.value) == 1:
            changes[key] = (parse_trace_number(key, values.value[0]),)
        else:
            raise invalid_arg(f"expect only 1 value for '{key}'")
    settings.update(model, changes)


def trace_response(settings: TraceSettings, model: str = "") -> service_pb2.TraceSettingResponse:
    response = service_pb2.TraceSettingResponse()
    for key, values in settings.get(model).items():
        response.settings[key].value.extend(values)
    return response


def update_log(
    settings: LogSettings, request: Mapping[str, service_pb2.LogSettingsRequest.SettingValue]
) -> None:
    """Apply settings in Triton's order; like Triton, the ones before an invalid one stay
    applied."""
    if "log_file" in request:
        raise InferenceServerError(ErrorKind.UNSUPPORTED, LOG_FILE_UNSUPPORTED)
    for key in ("log_info", "log_warning", "log_error"):
        if key in request:
            param = request[key]
            if param.WhichOneof("parameter_choice") != "bool_param":
                raise invalid_arg(f"expect boolean for '{key}'")
            settings.set(key, param.bool_param)
    if "log_verbose_level" in request:
        param = request["log_verbose_level"]
        if param.WhichOneof("parameter_choice") != "uint32_param":
            raise invalid_arg("expect int32 for 'log_verbose_level'")
        settings.set("log_verbose_level", param.uint32_param)
    if "log_format" in request:
        param = request["log_format"]
        if param.WhichOneof("parameter_choice") != "string_param":
            raise invalid_arg("expect string for 'log_format'")
        if param.string_param not in LOG_FORMATS:
            raise invalid_arg(f"invalid argument for log_format, got: {param.string_param}")
        settings.set("log_format", param.string_param)


def log_response(settings: LogSettings) -> service_pb2.LogSettingsResponse:
    response = service_pb2.LogSettingsResponse()
    for key, value in settings.values.items():
        setting = response.settings[key]
        if isinstance(value, bool):
            setting.bool_param = value
        elif isinstance(value, int):
            setting.uint32_param = value
        else:
            setting.string_param = value
    return response
