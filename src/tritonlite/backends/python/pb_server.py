"""The link from pb_utils to the server: BLS, model control and the model directory.

Inside a server, the worker stub installs a :class:`ServerHandler` with
``_set_server_handler`` and the version directory with ``_set_model_dir``. Without them
(a plain unit test), BLS and model-control calls raise ``TritonModelException`` saying a
running server is needed; tests can install a fake handler the same way the stub does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol

from tritonlite.backends.python.pb_errors import TritonModelException

if TYPE_CHECKING:
    from tritonlite.backends.python.pb_request import InferenceRequest
    from tritonlite.backends.python.pb_response import InferenceResponse, ResponseIterator

__all__ = ["ServerHandler", "get_model_dir", "is_model_ready", "load_model", "unload_model"]


class ServerHandler(Protocol):
    """What the worker stub provides for BLS and model control (one per process)."""

    def exec(
        self, request: InferenceRequest, decoupled: bool
    ) -> InferenceResponse | ResponseIterator:
        """Run ``request`` and block for its response (or a ResponseIterator if decoupled).

        Errors of the called model come back inside the response (``has_error()``);
        raise ``TritonModelException`` only for misuse, with Triton's texts, e.g.
        "BLS is only supported during the 'execute' function." from ``initialize``.
        """
        ...

    def async_exec(
        self, request: InferenceRequest, decoupled: bool
    ) -> Awaitable[InferenceResponse | ResponseIterator]:
        """Like ``exec`` but returns an awaitable, for ``async def execute``."""
        ...

    def load_model(self, name: str, config: str, files: dict[str, bytes]) -> None:
        """Load (or reload) model ``name``; ``config`` is JSON or ""; ``files`` may be {}."""
        ...

    def unload_model(self, name: str, unload_dependents: bool) -> None:
        """Unload model ``name`` (and its dependents if asked)."""
        ...

    def is_model_ready(self, name: str, version: int) -> bool:
        """Whether ``name`` is ready; ``version`` -1 lets the server pick the version."""
        ...


_handler: ServerHandler | None = None
_model_dir: str | None = None

_NO_SERVER = (
    "{what} needs a running tritonlite server: no server handler is installed in this "
    "process. To unit-test such code, install a fake handler with "
    "tritonlite.backends.python.pb_utils._set_server_handler()."
)


def _set_server_handler(handler: ServerHandler | None) -> ServerHandler | None:
    """Install (or with None, remove) the handler; returns the previous one."""
    global _handler
    previous, _handler = _handler, handler
    return previous


def _server_handler(what: str) -> ServerHandler:
    if _handler is None:
        raise TritonModelException(_NO_SERVER.format(what=what))
    return _handler


def _set_model_dir(path: str | os.PathLike[str] | None) -> None:
    """Set the directory ``get_model_dir()`` returns (the model's *version* directory)."""
    global _model_dir
    _model_dir = None if path is None else os.fspath(path)


def get_model_dir() -> str:
    """The directory holding this model's ``model.py`` (the version directory, ``<m>/1``).

    Raises ``TritonModelException`` when no server has set it (a unit test may call
    ``tritonlite.backends.python.pb_utils._set_model_dir(path)`` first).
    """
    if _model_dir is None:
        raise TritonModelException(
            "get_model_dir() is only available while a server runs the model: the model "
            "directory has not been set in this process."
        )
    return _model_dir


def load_model(model_name: str, config: str = "", files: dict[str, bytes] | None = None) -> None:
    """Load or reload ``model_name`` (EXPLICIT model-control mode, after startup).

    ``config`` is an optional JSON model config overriding ``config.pbtxt``; ``files``
    maps ``"file:<relative path>"`` to file contents (bytes) forming the model directory
    (``config`` is then required).
    """
    if files is not None and not isinstance(files, dict):
        raise TritonModelException(
            f"failed to load model '{model_name}', files should be a dictionary of file "
            "paths and file contents"
        )
    files_map: dict[str, bytes] = {}
    for key, value in (files or {}).items():
        if not isinstance(key, str) or not isinstance(value, bytes):
            raise TypeError(
                f"load_model(): files must map str paths to bytes, found "
                f"{type(key).__name__} -> {type(value).__name__}"
            )
        files_map[key] = value
    _server_handler("load_model()").load_model(model_name, config, files_map)


def unload_model(model_name: str, unload_dependents: bool = False) -> None:
    """Unload ``model_name``; with ``unload_dependents`` also the models that use it."""
    _server_handler("unload_model()").unload_model(model_name, bool(unload_dependents))


_LEADING_INT = re.compile(r"\s*[+-]?\d+")


def is_model_ready(model_name: str, model_version: str = "") -> bool:
    """Whether ``model_name`` (optionally a version given as a string, "1") is ready."""
    version = -1
    if model_version != "":
        # Triton parses with std::stol: leading blanks and trailing junk are tolerated.
        match = _LEADING_INT.match(model_version)
        if match is None:
            raise TritonModelException(
                "failed to get model version from specified version string "
                f"'{model_version}' (details: stol), version should be an integral value > 0"
            )
        version = int(match.group())
        if version < 0:
            raise TritonModelException(
                "failed to get model version from specified version string "
                f"'{model_version}', version should be an integral value > 0"
            )
    return bool(_server_handler("is_model_ready()").is_model_ready(model_name, version))
