"""Errors that cross the core, with a *kind* instead of a transport status code.

Each frontend maps :class:`ErrorKind` to its own status in exactly one table
(``frontends/grpc/errors.py``, ``frontends/http/errors.py``). The numeric values are
Triton's ``TRITONSERVER_Error_Code`` values, which are also the codes of
``pb_utils.TritonError`` so a model's error code survives the trip unchanged.
"""

from __future__ import annotations

import enum


class ErrorKind(enum.IntEnum):
    UNKNOWN = 0
    INTERNAL = 1
    NOT_FOUND = 2
    INVALID_ARG = 3
    UNAVAILABLE = 4
    UNSUPPORTED = 5
    ALREADY_EXISTS = 6
    CANCELLED = 7


class InferenceServerError(Exception):
    """An error with a kind and the exact message a client will see."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __repr__(self) -> str:
        return f"InferenceServerError({self.kind.name}, {self.message!r})"


def request_prefix(request_id: str) -> str:
    """Triton's ``[request id: <id>] `` prefix of the errors about one request."""
    return f"[request id: {request_id or '<id_unknown>'}] "


def invalid_arg(message: str) -> InferenceServerError:
    return InferenceServerError(ErrorKind.INVALID_ARG, message)


def not_found(message: str) -> InferenceServerError:
    return InferenceServerError(ErrorKind.NOT_FOUND, message)


def internal(message: str) -> InferenceServerError:
    return InferenceServerError(ErrorKind.INTERNAL, message)


def unavailable(message: str) -> InferenceServerError:
    return InferenceServerError(ErrorKind.UNAVAILABLE, message)


def unsupported(message: str) -> InferenceServerError:
    return InferenceServerError(ErrorKind.UNSUPPORTED, message)


class DecoupledNotSupported(InferenceServerError):
    """A decoupled model was called through a one-response endpoint. The message is
    Triton's gRPC wording (ModelInfer); the HTTP frontend answers with its own
    ("HTTP end point doesn't support ...")."""

    def __init__(self) -> None:
        super().__init__(
            ErrorKind.UNSUPPORTED,
            "ModelInfer RPC doesn't support models with decoupled transaction policy",
        )
