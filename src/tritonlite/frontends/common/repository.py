"""What both frontends answer about the repository API's ``repository_name``."""

from __future__ import annotations

from tritonlite.core.errors import ErrorKind, InferenceServerError

__all__ = ["check_repository_name"]


def check_repository_name(repository_name: str) -> None:
    """Triton serves one (merged) repository: naming one is refused, as Triton does."""
    if repository_name:
        raise InferenceServerError(
            ErrorKind.UNSUPPORTED, "'repository_name' specification is not supported"
        )
