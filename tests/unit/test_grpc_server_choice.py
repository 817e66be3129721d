"""``--grpc-server``: auto is the native transport; explicit choices win; anything else is
refused at the command line and by the frontend."""

from __future__ import annotations

import pytest

from tritonlite.cli import parse_options
from tritonlite.frontends.grpc.server import SHAPES, GrpcFrontend
from tritonlite.runner import grpc_shape


@pytest.mark.parametrize(("flag", "shape"), [
    ("auto", "native"), ("native", "native"), ("threaded", "threaded"), ("aio", "aio"),
])
def test_choice(flag: str, shape: str) -> None:
    assert grpc_shape(flag) == shape
    assert shape in SHAPES


def test_flag_default_and_validation(capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_options(["--model-repository", "r"]).grpc_server == "auto"
    assert parse_options(["--model-repository", "r", "--grpc-server", "aio"]).grpc_server == "aio"
    assert parse_options(["--model-repository", "r", "--grpc-server",
                          "native"]).grpc_server == "native"
    with pytest.raises(SystemExit):
        parse_options(["--model-repository", "r", "--grpc-server", "fast"])
    assert "invalid choice: 'fast'" in capsys.readouterr().err


def test_frontend_refuses_an_unknown_shape() -> None:
    with pytest.raises(ValueError, match="unknown gRPC server shape 'fast'"):
        GrpcFrontend(object(), shape="fast")  # type: ignore[arg-type]
