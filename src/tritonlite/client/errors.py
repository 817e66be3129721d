"""Errors raised by ``tritonlite.client``.

Every failure of the client surfaces as one of these; ``tritonclient``'s
``InferenceServerException`` is translated once, here, and chained with ``from``::

    ClientError
    ├── ServerUnreachableError   no server answers at the URL, or the connection dropped
    ├── ModelUnavailableError    the model is not in the repository, or not READY
    ├── InferenceError           the server answered a request with an error
    │                            (``ModelInfer`` status, or in-band on ``ModelStreamInfer``)
    ├── StreamClosedError        the ``ModelStreamInfer`` stream itself failed
    └── ResponseTimeoutError     no response arrived in time
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tritonclient.utils import InferenceServerException

__all__ = [
    "ClientError",
    "InferenceError",
    "ModelUnavailableError",
    "ResponseTimeoutError",
    "ServerUnreachableError",
    "StreamClosedError",
    "translate_server_exception",
]


class ClientError(Exception):
    """Base class of every error raised by ``tritonlite.client``."""


class ServerUnreachableError(ClientError):
    """No Triton-compatible server answers at the URL, or the connection was lost."""


class ModelUnavailableError(ClientError):
    """The model is missing from the server's repository, or is not ready."""

    def __init__(self, message: str, *, model: str) -> None:
        super().__init__(message)
        self.model = model


class InferenceError(ClientError):
    """The server answered one request with an error.

    ``index`` is the item's position in the sequence (``-1`` for the START/END requests,
    ``None`` when unknown), ``status`` the gRPC status name when there was one (errors sent
    in-band on a stream carry none).
    """

    def __init__(
        self,
        message: str,
        *,
        index: int | None = None,
        request_id: str | None = None,
        status: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.index = index
        self.request_id = request_id
        self.status = status

    def __str__(self) -> str:
        where = "" if self.index is None else f"item {self.index}: "
        status = f" [{self.status}]" if self.status else ""
        return f"{where}{self.message}{status}"


class StreamClosedError(ClientError):
    """The bidirectional ``ModelStreamInfer`` stream failed or was closed by the server."""


class ResponseTimeoutError(ClientError):
    """No response arrived within the timeout."""


def _status_name(exc: InferenceServerException) -> str | None:
    status = exc.status()
    if status is None:
        return None
    # tritonclient reports gRPC codes as "StatusCode.UNAVAILABLE".
    return str(status).removeprefix("StatusCode.")


def translate_server_exception(
    exc: InferenceServerException,
    *,
    url: str,
    model: str,
    index: int | None = None,
    request_id: str | None = None,
) -> ClientError:
    """Map a ``tritonclient`` exception to the matching :class:`ClientError`.

    The caller raises the result ``from exc``.
    """
    status = _status_name(exc)
    message = exc.message() or str(exc)
    if status == "UNAVAILABLE":
        return ServerUnreachableError(f"lost the server at {url}: {message}")
    if status == "DEADLINE_EXCEEDED":
        return ResponseTimeoutError(f"no response from {url} in time: {message}")
    if status == "NOT_FOUND" or message.startswith("Request for unknown model"):
        return ModelUnavailableError(message, model=model)
    return InferenceError(message, index=index, request_id=request_id, status=status)
