"""The one error type of the repository package.

Every problem with a model's configuration (text that does not parse, a field Triton
rejects, a directory layout it refuses) is a :class:`ConfigError`. It is an
:class:`~tritonlite.core.errors.InferenceServerError`, so it already carries the kind a
frontend maps to a status code, and the message is the text a client or the repository
index shows. Foreign exceptions (protobuf's ``ParseError``, ``OSError``) are translated
into it once, where they happen, with ``raise ... from exc``.
"""

from __future__ import annotations

import enum
import os

from tritonlite.core.errors import ErrorKind, InferenceServerError

__all__ = ["ConfigError", "Stage"]


class Stage(enum.Enum):
    """When the reference Triton reports a configuration problem.

    ``POLL``: while scanning the repository. The model never gets a version; the index
    lists it with its name only (or, for duplicates, with ``state``/``reason`` and no
    version). ``LOAD``: while creating a version. The version shows as ``UNAVAILABLE`` with
    ``reason`` ``"<Kind>: <message>"`` (for example ``"Invalid argument: ..."``).
    """

    POLL = "poll"
    LOAD = "load"


class ConfigError(InferenceServerError):
    """A model configuration that cannot be used.

    ``message`` is the complete text (for parse errors it starts with
    ``<path>:<line>:<column>: ``). ``path``, ``line``, ``column`` and ``field`` are there
    for callers that want to point somewhere; any of them may be ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind = ErrorKind.INVALID_ARG,
        stage: Stage = Stage.POLL,
        path: str | os.PathLike[str] | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(kind, message)
        self.stage = stage
        self.path = None if path is None else os.fspath(path)
        self.line = line
        self.column = column
        self.field = field

    def __repr__(self) -> str:
        return f"ConfigError({self.kind.name}, {self.message!r})"
