"""Server log lines in Triton's format: ``I1125 12:56:53.032429 6051 file.py:10] message``."""

from __future__ import annotations

import logging
import os
import sys
import time

from tritonlite.options import ServerOptions

_LETTER = {logging.DEBUG: "I", logging.INFO: "I", logging.WARNING: "W", logging.ERROR: "E",
           logging.CRITICAL: "E"}


class TritonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        lt = time.localtime(record.created)
        us = int((record.created % 1) * 1_000_000)
        letter = _LETTER.get(record.levelno, "I")
        head = (f"{letter}{lt.tm_mon:02d}{lt.tm_mday:02d} {lt.tm_hour:02d}:{lt.tm_min:02d}:"
                f"{lt.tm_sec:02d}.{us:06d} {os.getpid()} {record.filename}:{record.lineno}] ")
        msg = head + record.getMessage()
        if record.exc_info:
            msg += "\n" + self.formatException(record.exc_info)
        return msg


def configure_logging(opts: ServerOptions) -> None:
    level = logging.DEBUG if opts.log_verbose > 0 else (
        logging.INFO if opts.log_info else logging.WARNING if opts.log_warning else logging.ERROR)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TritonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("tritonlite").setLevel(level)
    os.environ["TRITONLITE_LOG_VERBOSE"] = str(opts.log_verbose)
