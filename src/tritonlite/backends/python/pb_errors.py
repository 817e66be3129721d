"""``TritonError`` and ``TritonModelException``: the two error types of the Python backend.

``TritonError`` is a *value* a model puts into an ``InferenceResponse`` to fail one request
with a chosen code; ``TritonModelException`` is what a model *raises* (and what pb_utils
raises when an API is misused, as Triton's stub does).
"""

from __future__ import annotations

from tritonlite.core.errors import ErrorKind

__all__ = ["TritonError", "TritonModelException"]


# Triton's TRITONSERVER_Error_Code values: the core's ErrorKind carries the same numbers.
_ErrorCode = ErrorKind


class TritonModelException(Exception):
    """Raised by a model (from ``initialize``, ``execute`` or ``finalize``) to fail the call.

    pb_utils itself raises it when an API is used in a way Triton's stub rejects, e.g.
    sending on a closed response sender. The server reports it as
    ``TritonModelException: <message>`` with an INTERNAL error code.
    """


class TritonError:
    """An error attached to an ``InferenceResponse``; the client receives ``message`` as is.

    ``code`` picks the status the client sees (gRPC code / HTTP status). Use the class
    constants: ``TritonError.UNKNOWN``, ``INTERNAL`` (the default), ``NOT_FOUND``,
    ``INVALID_ARG``, ``UNAVAILABLE``, ``UNSUPPORTED``, ``ALREADY_EXISTS``, ``CANCELLED``.

    Example::

        pb_utils.InferenceResponse(
            error=pb_utils.TritonError("no such file", pb_utils.TritonError.NOT_FOUND))
    """

    __slots__ = ("_code", "_message")

    UNKNOWN = _ErrorCode.UNKNOWN
    INTERNAL = _ErrorCode.INTERNAL
    NOT_FOUND = _ErrorCode.NOT_FOUND
    INVALID_ARG = _ErrorCode.INVALID_ARG
    UNAVAILABLE = _ErrorCode.UNAVAILABLE
    UNSUPPORTED = _ErrorCode.UNSUPPORTED
    ALREADY_EXISTS = _ErrorCode.ALREADY_EXISTS
    CANCELLED = _ErrorCode.CANCELLED

    def __init__(self, message: str, code: int = _ErrorCode.INTERNAL) -> None:
        """Create an error with ``message`` and an optional ``code`` (default INTERNAL)."""
        if not isinstance(message, str):
            raise TypeError(f"TritonError(): 'message' must be a str, got {type(message).__name__}")
        if isinstance(code, bool) or not isinstance(code, int):
            raise TypeError(
                "TritonError(): 'code' must be one of the TritonError constants, got "
                f"{type(code).__name__}"
            )
        try:
            self._code = _ErrorCode(code)
        except ValueError:
            raise TypeError(
                f"TritonError(): unknown error code {code}; use one of the TritonError "
                "constants (UNKNOWN, INTERNAL, NOT_FOUND, INVALID_ARG, UNAVAILABLE, "
                "UNSUPPORTED, ALREADY_EXISTS, CANCELLED)"
            ) from None
        self._message = message

    def code(self) -> _ErrorCode:
        """The error code; compares equal to the plain int (``INTERNAL == 1``)."""
        return self._code

    def message(self) -> str:
        """The error message, exactly as given."""
        return self._message

    def __repr__(self) -> str:
        return f"TritonError({self._message!r}, TritonError.{self._code.name})"
