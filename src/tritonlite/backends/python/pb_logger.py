"""``pb_utils.Logger``: model log lines in Triton's server-log format, on stderr.

A line looks like ``I1125 12:56:53.032429 6051 model.py:10] "message"``: level letter
(I, W, E; verbose is I), UTC month/day and time with microseconds, process id, the
caller's file name and line, then the message as a JSON string (Triton escapes log
messages unless ``TRITON_SERVER_ESCAPE_LOG_MESSAGES=0``). Verbose lines appear only at
verbose level >= 1. The worker stub sets the levels with ``_configure_logging``; until
then they come from the environment (``TRITONLITE_LOG_VERBOSE``, default 0).
"""

from __future__ import annotations

import enum
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Logger"]

LogSink = Callable[[str], None]


@dataclass
class _LogConfig:
    verbose_level: int
    log_info: bool
    log_warning: bool
    log_error: bool
    escape: bool
    sink: LogSink | None


def _env_verbose_level() -> int:
    try:
        return max(0, int(os.environ.get("TRITONLITE_LOG_VERBOSE", "0")))
    except ValueError:
        return 0


def _env_escape() -> bool:
    return os.environ.get("TRITON_SERVER_ESCAPE_LOG_MESSAGES") != "0"


_config = _LogConfig(_env_verbose_level(), True, True, True, _env_escape(), None)
_write_lock = threading.Lock()


def _configure_logging(
    verbose_level: int | None = None,
    log_info: bool = True,
    log_warning: bool = True,
    log_error: bool = True,
    *,
    sink: LogSink | None = None,
) -> None:
    """Stub side: set which levels are printed and where lines go.

    ``verbose_level`` None reads ``TRITONLITE_LOG_VERBOSE`` (default 0). ``sink`` receives
    each formatted line (without newline); None writes to ``sys.stderr``.
    """
    global _config
    level = _env_verbose_level() if verbose_level is None else max(0, int(verbose_level))
    _config = _LogConfig(level, log_info, log_warning, log_error, _env_escape(), sink)


def _caller() -> tuple[str, int]:
    """File basename and line of the first frame outside this module."""
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    return os.path.basename(frame.f_code.co_filename), frame.f_lineno


def _format_line(letter: str, message: str, filename: str, lineno: int, escape: bool) -> str:
    now_ns = time.time_ns()
    seconds, micros = divmod(now_ns // 1000, 1_000_000)
    tm = time.gmtime(seconds)
    text = json.dumps(message, ensure_ascii=False) if escape else message
    return (
        f"{letter}{tm.tm_mon:02d}{tm.tm_mday:02d} {tm.tm_hour:02d}:{tm.tm_min:02d}:"
        f"{tm.tm_sec:02d}.{micros:06d} {os.getpid()} {filename}:{lineno}] {text}"
    )


class Logger:
    """Log from a model into the server log: ``pb_utils.Logger.log_info("msg")``.

    Use the static methods ``log(message, level=Logger.INFO)``, ``log_info``,
    ``log_warn``, ``log_error`` and ``log_verbose``. Levels: ``Logger.INFO``,
    ``Logger.WARNING``, ``Logger.ERROR``, ``Logger.VERBOSE`` (members of
    ``Logger.LogLevel``). Verbose messages show only when the server's verbose level is
    at least 1.
    """

    class LogLevel(enum.IntEnum):
        """Log levels, with Triton's values."""

        INFO = 0
        WARNING = 1
        ERROR = 2
        VERBOSE = 3

    INFO = LogLevel.INFO
    WARNING = LogLevel.WARNING
    ERROR = LogLevel.ERROR
    VERBOSE = LogLevel.VERBOSE

    @staticmethod
    def log(message: str, level: Logger.LogLevel = LogLevel.INFO) -> None:
        """Log ``message`` at ``level`` (default INFO), tagged with the caller's file:line."""
        if not isinstance(message, str):
            raise TypeError(f"log(): message must be a str, got {type(message).__name__}")
        level = Logger.LogLevel(level)
        config = _config
        if level is Logger.LogLevel.INFO:
            enabled, letter = config.log_info, "I"
        elif level is Logger.LogLevel.WARNING:
            enabled, letter = config.log_warning, "W"
        elif level is Logger.LogLevel.ERROR:
            enabled, letter = config.log_error, "E"
        else:
            enabled, letter = config.verbose_level >= 1, "I"
        if not enabled:
            return
        filename, lineno = _caller()
        line = _format_line(letter, message, filename, lineno, config.escape)
        with _write_lock:
            if config.sink is not None:
                config.sink(line)
            else:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()

    @staticmethod
    def log_info(message: str) -> None:
        """Log ``message`` at INFO level."""
        Logger.log(message, Logger.LogLevel.INFO)

    @staticmethod
    def log_warn(message: str) -> None:
        """Log ``message`` at WARNING level."""
        Logger.log(message, Logger.LogLevel.WARNING)

    @staticmethod
    def log_error(message: str) -> None:
        """Log ``message`` at ERROR level."""
        Logger.log(message, Logger.LogLevel.ERROR)

    @staticmethod
    def log_verbose(message: str) -> None:
        """Log ``message`` at VERBOSE level (shown only with verbose level >= 1)."""
        Logger.log(message, Logger.LogLevel.VERBOSE)
