"""Trace and log settings as the TraceSetting and LogSettings RPCs see them.

tritonlite does not trace requests, and its logging is configured elsewhere, so for now
the frontend just keeps these settings, validates updates the way Triton 2.51 does
(``src/grpc/grpc_server.cc`` RegisterTrace / RegisterLogging, ``src/tracer.cc``) and
echoes them. Defaults are the reference's: trace level OFF, rate 1000, count -1,
log_frequency 0, no trace file, mode "triton"; all log levels on, verbose 0, format
"default".

Trace rules, as in Triton:
* A model's setting falls back, field by field, to the global one; an empty value list
  clears the field (the global one falls back to the default).
* The trace file cannot be changed over the network (UNSUPPORTED).
* A level other than OFF needs a non-zero rate and a trace file, so with no trace file
  configured tracing cannot be switched on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from tritonclient.grpc import service_pb2

from tritonlite.core.errors import ErrorKind, InferenceServerError, invalid_arg

__all__ = ["LogSettings", "TraceSettings"]

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_UINT32_MAX = 2**32 - 1
_LEADING_INT = re.compile(r"\s*([+-]?\d+)")

_TRACE_DEFAULTS: dict[str, tuple[str, ...]] = {
    "trace_level": ("OFF",),
    "trace_rate": ("1000",),
    "trace_count": ("-1",),
    "log_frequency": ("0",),
}


def _stoi(setting: str, text: str, low: int, high: int) -> int:
    """C++ ``std::stoi`` as Triton uses it: a leading integer, range-checked as int32."""
    match = _LEADING_INT.match(text)
    if match is None:
        raise invalid_arg(f"Unable to parse '{setting}', got: {text}")
    value = int(match.group(1))
    if not _INT32_MIN <= value <= _INT32_MAX:
        raise invalid_arg(
            f"Unable to parse '{setting}', value is out of range [ {low}, {high} ], got: {text}"
        )
    return value


class TraceSettings:
    """Global and per-model trace settings (values are strings, as on the wire)."""

    def __init__(self, trace_file: str = "") -> None:
        self.trace_file = trace_file
        self._global: dict[str, tuple[str, ...]] = {}
        self._models: dict[str, dict[str, tuple[str, ...]]] = {}

    def update(self, model: str, settings: Mapping[str, Sequence[str]]) -> None:
        """Apply a TraceSettingRequest's settings; raises with Triton's texts."""
        if "trace_file" in settings:
            raise InferenceServerError(
                ErrorKind.UNSUPPORTED,
                "trace file location can not be updated through network protocol",
            )
        changes: dict[str, tuple[str, ...] | None] = {}  # None clears the field
        levels = settings.get("trace_level")
        if levels is not None:
            changes["trace_level"] = self._parse_level(levels) if levels else None
        for key in ("trace_rate", "trace_count", "log_frequency"):
            values = settings.get(key)
            if values is None:
                continue
            if not values:
                changes[key] = None
            elif len(values) == 1:
                changes[key] = (self._parse_number(key, values[0]),)
            else:
                raise invalid_arg(f"expect only 1 value for '{key}'")
        target = dict(self._models.get(model, {}) if model else self._global)
        for key, value in changes.items():
            if value is None:
                target.pop(key, None)
            elif value:  # a level list of unknown names changes nothing
                target[key] = value
        if model:
            self._validate({**_TRACE_DEFAULTS, **self._global, **target})
            if target:
                self._models[model] = target
            else:
                self._models.pop(model, None)
        else:
            self._validate({**_TRACE_DEFAULTS, **target})
            self._global = target

    def get(self, model: str = "") -> dict[str, tuple[str, ...]]:
        """The effective settings of ``model`` ("" = global), as the response lists them."""
        values = {**_TRACE_DEFAULTS, **self._global, **self._models.get(model, {})}
        values["trace_file"] = (self.trace_file,)
        values["trace_mode"] = ("triton",)
        return values

    @staticmethod
    def _parse_level(levels: Sequence[str]) -> tuple[str, ...]:
        if "OFF" in levels:
            if len(levels) != 1:
                raise invalid_arg("Expect only one trace level 'OFF' is specified")
            return ("OFF",)
        return tuple(lv for lv in ("TIMESTAMPS", "TENSORS") if lv in levels)

    @staticmethod
    def _parse_number(key: str, text: str) -> str:
        if key == "trace_count":
            value = _stoi(key, text, -1, _INT32_MAX)
            if value < -1:
                raise invalid_arg(f"Unable to parse '{key}'. Expecting value >= -1, got: {text}")
            return str(value)
        return str(_stoi(key, text, 0, _UINT32_MAX) & _UINT32_MAX)  # stored as uint32

    def _validate(self, effective: Mapping[str, tuple[str, ...]]) -> None:
        if effective["trace_level"] == ("OFF",):
            return  # the only invalid setting allowed is one that disables tracing
        if effective["trace_rate"] == ("0",):
            reason = "sample rate must be non-zero"
        elif not self.trace_file:
            reason = "trace file name is not given"
        else:
            return
        raise invalid_arg(f"Attempting to set invalid trace setting :{reason}")

    def respond(self, model: str = "") -> service_pb2.TraceSettingResponse:
        response = service_pb2.TraceSettingResponse()
        for key, values in self.get(model).items():
            response.settings[key].value.extend(values)
        return response


class LogSettings:
    """The six log settings of the LogSettings RPC."""

    def __init__(self) -> None:
        self.values: dict[str, bool | int | str] = {
            "log_file": "",
            "log_info": True,
            "log_warning": True,
            "log_error": True,
            "log_verbose_level": 0,
            "log_format": "default",
        }

    def update(self, settings: Mapping[str, service_pb2.LogSettingsRequest.SettingValue]) -> None:
        """Apply settings in Triton's order; like Triton, the ones before an invalid one
        stay applied."""
        if "log_file" in settings:
            raise InferenceServerError(
                ErrorKind.UNSUPPORTED,
                "log file location can not be updated through network protocol",
            )
        for key in ("log_info", "log_warning", "log_error"):
            if key in settings:
                param = settings[key]
                if param.WhichOneof("parameter_choice") != "bool_param":
                    raise invalid_arg(f"expect boolean for '{key}'")
                self.values[key] = param.bool_param
        if "log_verbose_level" in settings:
            param = settings["log_verbose_level"]
            if param.WhichOneof("parameter_choice") != "uint32_param":
                raise invalid_arg("expect int32 for 'log_verbose_level'")
            self.values["log_verbose_level"] = param.uint32_param
        if "log_format" in settings:
            param = settings["log_format"]
            if param.WhichOneof("parameter_choice") != "string_param":
                raise invalid_arg("expect string for 'log_format'")
            if param.string_param not in ("default", "ISO8601"):
                raise invalid_arg(f"invalid argument for log_format, got: {param.string_param}")
            self.values["log_format"] = param.string_param

    def respond(self) -> service_pb2.LogSettingsResponse:
        response = service_pb2.LogSettingsResponse()
        for key, value in self.values.items():
            setting = response.settings[key]
            if isinstance(value, bool):
                setting.bool_param = value
            elif isinstance(value, int):
                setting.uint32_param = value
            else:
                setting.string_param = value
        return response
