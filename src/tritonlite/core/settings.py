"""Runtime log and trace settings: one copy per server, shared by every frontend.

``GET/POST /v2/logging`` and the gRPC ``LogSettings`` RPC read and change the same
:class:`LogSettings`; ``/v2[/models/<m>]/trace/setting`` and ``TraceSetting`` the same
:class:`TraceSettings`. Plain data: each frontend decodes its wire format into the typed
values these classes take and words its own type errors. The rules both protocols share
(Triton 2.51 ``src/tracer.cc`` and the logging handlers) live here.

tritonlite does not trace requests yet, so trace settings are kept, validated and
reported. Defaults are the reference's: trace level OFF, rate 1000, count -1,
log_frequency 0, no trace file, mode "triton"; all log levels on, verbose 0, format
"default".

Trace rules, as in Triton:

* A model's setting falls back, field by field, to the global one; clearing a field
  (``None``) falls back to the global value (the global one to the default).
* The trace file cannot be changed over the network (UNSUPPORTED).
* A level other than OFF needs a non-zero rate and a trace file, so with no trace file
  configured tracing cannot be switched on.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from tritonlite.core.errors import ErrorKind, InferenceServerError, invalid_arg

__all__ = [
    "LOG_FORMATS",
    "LogSettings",
    "ServerSettings",
    "TraceSettings",
    "parse_bool",
    "parse_trace_levels",
    "parse_trace_number",
]

LOG_FORMATS = ("default", "ISO8601")
TRACE_FILE_UNSUPPORTED = "trace file location can not be updated through network protocol"
LOG_FILE_UNSUPPORTED = "log file location can not be updated through network protocol"

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_UINT32_MAX = 2**32 - 1
_LEADING_INT = re.compile(r"\s*([+-]?\d+)")

_TRACE_DEFAULTS: dict[str, tuple[str, ...]] = {
    "trace_level": ("OFF",),
    "trace_rate": ("1000",),
    "trace_count": ("-1",),
    "log_frequency": ("0",),
}
TRACE_NUMBERS = ("trace_rate", "trace_count", "log_frequency")


def parse_bool(text: str) -> bool | None:
    """A boolean setting's text (command-line flags, ``--metrics-config``, model config
    parameters): true/1/yes/on or false/0/no/off, any case; None when it is neither."""
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    return None


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


def parse_trace_number(key: str, text: str, *, got: str = "got: ") -> str:
    """A ``trace_rate`` / ``trace_count`` / ``log_frequency`` value as Triton parses it;
    returns the normalized string. ``got`` is the separator of the "Expecting value >= -1"
    message (gRPC says ``got: -5``, HTTP ``got:-5``)."""
    if key == "trace_count":
        value = _stoi(key, text, -1, _INT32_MAX)
        if value < -1:
            raise invalid_arg(f"Unable to parse '{key}'. Expecting value >= -1, {got}{text}")
        return str(value)
    return str(_stoi(key, text, 0, _UINT32_MAX) & _UINT32_MAX)  # stored as uint32


def parse_trace_levels(levels: Sequence[str]) -> tuple[str, ...]:
    """A trace level list; unknown names are ignored (an all-unknown list changes nothing
    and gives ``()``)."""
    if "OFF" in levels:
        if len(levels) != 1:
            raise invalid_arg("Expect only one trace level 'OFF' is specified")
        return ("OFF",)
    return tuple(lv for lv in ("TIMESTAMPS", "TENSORS") if lv in levels)


class TraceSettings:
    """Global and per-model trace settings (values are strings, as on the wire)."""

    def __init__(self, trace_file: str = "") -> None:
        self.trace_file = trace_file
        self._global: dict[str, tuple[str, ...]] = {}
        self._models: dict[str, dict[str, tuple[str, ...]]] = {}

    def update(self, model: str, changes: Mapping[str, tuple[str, ...] | None]) -> None:
        """Apply parsed changes (``None`` clears a field; an empty level tuple changes
        nothing); raises with Triton's texts. ``trace_file`` may not be changed."""
        if "trace_file" in changes:
            raise InferenceServerError(ErrorKind.UNSUPPORTED, TRACE_FILE_UNSUPPORTED)
        target = dict(self._models.get(model, {}) if model else self._global)
        for key, value in changes.items():
            if value is None:
                target.pop(key, None)
            elif value:
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
        """The effective settings of ``model`` ("" = global), in response order."""
        values = {**_TRACE_DEFAULTS, **self._global, **self._models.get(model, {})}
        values["trace_file"] = (self.trace_file,)
        values["trace_mode"] = ("triton",)
        return values

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


LogValue = bool | int | str
LogListener = Callable[["LogSettings"], None]


class LogSettings:
    """The six log settings, in response order. Frontends decode and type-check values
    themselves (their error texts differ) and call :meth:`set`; listeners (e.g. something
    that applies the levels to Python logging) are told after each change."""

    def __init__(
        self,
        *,
        log_file: str = "",
        log_info: bool = True,
        log_warning: bool = True,
        log_error: bool = True,
        log_verbose_level: int = 0,
        log_format: str = "default",
    ) -> None:
        self.values: dict[str, LogValue] = {
            "log_file": log_file,
            "log_info": log_info,
            "log_warning": log_warning,
            "log_error": log_error,
            "log_verbose_level": log_verbose_level,
            "log_format": log_format,
        }
        self.listeners: list[LogListener] = []

    def set(self, key: str, value: LogValue) -> None:
        """Change one setting (already type-checked by the frontend)."""
        if key == "log_file":
            raise InferenceServerError(ErrorKind.UNSUPPORTED, LOG_FILE_UNSUPPORTED)
        if key not in self.values:
            raise KeyError(key)
        self.values[key] = value
        for listener in self.listeners:
            listener(self)


@dataclass(slots=True)
class ServerSettings:
    """The runtime settings every frontend of one server shares."""

    log: LogSettings = field(default_factory=LogSettings)
    trace: TraceSettings = field(default_factory=TraceSettings)
