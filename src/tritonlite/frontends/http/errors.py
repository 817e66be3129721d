"""The one table that turns an error kind into an HTTP status, and the error body.

As Triton's ``HttpCodeFromError`` (observed on 2.51 for all eight codes, TRITON-BEHAVIOUR
§3 h): INTERNAL 500, NOT_FOUND 404, UNAVAILABLE 503, UNSUPPORTED 501, everything else
400. The body is always ``{"error":"<message>"}``.
"""

from __future__ import annotations

import orjson

from tritonlite.core.errors import ErrorKind, InferenceServerError

__all__ = [
    "DECOUPLED_TEXT",
    "METHOD_NOT_ALLOWED",
    "NOT_FOUND",
    "STATUS_CODES",
    "error_body",
    "http_status",
]

STATUS_CODES: dict[ErrorKind, int] = {
    ErrorKind.UNKNOWN: 400,
    ErrorKind.INTERNAL: 500,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.INVALID_ARG: 400,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.UNSUPPORTED: 501,
    ErrorKind.ALREADY_EXISTS: 400,
    ErrorKind.CANCELLED: 400,
}

DECOUPLED_TEXT = "HTTP end point doesn't support models with decoupled transaction policy"
NOT_FOUND = "Not Found"
METHOD_NOT_ALLOWED = "Method Not Allowed"


def http_status(error: InferenceServerError) -> int:
    """The HTTP status for ``error``; an unmapped kind is 400."""
    return STATUS_CODES.get(error.kind, 400)


def error_body(message: str) -> bytes:
    """``{"error":"<message>"}``; invalid UTF-8 the model produced survives as-is."""
    return orjson.dumps({"error": message.encode("utf-8", "replace").decode("utf-8")})
