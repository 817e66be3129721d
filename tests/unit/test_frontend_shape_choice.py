"""``--grpc-server`` and ``--http-server``: auto is the native transport; explicit choices
win; anything else is refused at the command line and by the frontend."""

from __future__ import annotations

import pytest

from tritonlite.cli import parse_options
from tritonlite.frontends.grpc.server import SHAPES as GRPC_SHAPES
from tritonlite.frontends.grpc.server import GrpcFrontend
from tritonlite.frontends.http.server import SHAPES as HTTP_SHAPES
from tritonlite.frontends.http.server import HttpFrontend
from tritonlite.runner import grpc_shape, http_shape


@pytest.mark.parametrize(("flag", "shape"), [
    ("auto", "native"), ("native", "native"), ("threaded", "threaded"), ("aio", "aio"),
])
def test_grpc_choice(flag: str, shape: str) -> None:
    assert grpc_shape(flag) == shape
    assert shape in GRPC_SHAPES


@pytest.mark.parametrize(("flag", "shape"), [
    ("auto", "native"), ("native", "native"), ("uvicorn", "uvicorn"),
])
def test_http_choice(flag: str, shape: str) -> None:
    assert http_shape(flag) == shape
    assert shape in HTTP_SHAPES


@pytest.mark.parametrize(("flag", "field", "choices"), [
    ("--grpc-server", "grpc_server", ("aio", "native", "threaded")),
    ("--http-server", "http_server", ("native", "uvicorn")),
])
def test_flag_default_and_validation(capsys: pytest.CaptureFixture[str], flag: str,
                                     field: str, choices: tuple[str, ...]) -> None:
    assert getattr(parse_options(["--model-repository", "r"]), field) == "auto"
    for choice in choices:
        options = parse_options(["--model-repository", "r", flag, choice])
        assert getattr(options, field) == choice
    with pytest.raises(SystemExit):
        parse_options(["--model-repository", "r", flag, "fast"])
    assert "invalid choice: 'fast'" in capsys.readouterr().err


def test_frontends_refuse_an_unknown_shape() -> None:
    with pytest.raises(ValueError, match="unknown gRPC server shape 'fast'"):
        GrpcFrontend(object(), shape="fast")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown HTTP server shape 'fast'"):
        HttpFrontend(object(), shape="fast")  # type: ignore[arg-type]


@pytest.mark.parametrize(("args", "window"), [
    ([], 300),
    (["--busy-poll-us", "120"], 120),
    (["--busy-poll-us", "0"], 0),
    (["--busy-poll-us", "-5"], 0),
    (["--grpc-server", "threaded"], 0),  # grpcio's threads would wait for the polling loop
    (["--grpc-server", "aio"], 0),
    (["--grpc-server", "threaded", "--allow-grpc", "false"], 300),
    (["--http-server", "uvicorn"], 300),  # uvicorn runs on the loop
])
def test_busy_polling_is_off_where_grpcio_threads_serve(args: list[str], window: int) -> None:
    from tritonlite.runner import busy_poll_window

    opts = parse_options(["--model-repository", "/m", *args])
    assert busy_poll_window(opts) == window
