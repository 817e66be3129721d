"""The one table that turns an error kind into a gRPC status code.

Triton maps ``TRITONSERVER_Error_Code`` to gRPC codes the same way (observed on 2.51 for
all eight codes, TRITON-BEHAVIOUR.md §3 h). The status details are the error message
exactly, with no prefix.
"""

from __future__ import annotations

import grpc

from tritonlite.core.errors import ErrorKind, InferenceServerError

__all__ = ["STATUS_CODES", "status_code"]

STATUS_CODES: dict[ErrorKind, grpc.StatusCode] = {
    ErrorKind.UNKNOWN: grpc.StatusCode.UNKNOWN,
    ErrorKind.INTERNAL: grpc.StatusCode.INTERNAL,
    ErrorKind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorKind.INVALID_ARG: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorKind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorKind.UNSUPPORTED: grpc.StatusCode.UNIMPLEMENTED,
    ErrorKind.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    ErrorKind.CANCELLED: grpc.StatusCode.CANCELLED,
}


def status_code(error: InferenceServerError) -> grpc.StatusCode:
    """The gRPC status for ``error``; an unmapped kind is UNKNOWN."""
    return STATUS_CODES.get(error.kind, grpc.StatusCode.UNKNOWN)
