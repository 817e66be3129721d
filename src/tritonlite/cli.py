"""``tritonlite serve ...`` / ``python -m tritonlite``: flags generated from ServerOptions."""

from __future__ import annotations

import argparse
import asyncio
import sys
import typing
from typing import Any

from tritonlite import TRITON_COMPAT_VERSION, __version__
from tritonlite.core.settings import parse_bool
from tritonlite.logsetup import configure_logging
from tritonlite.options import ServerOptions, option_fields


def _bool(text: str) -> bool:
    value = parse_bool(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tritonlite serve",
        description="Serve a Triton model repository of Python-backend models "
        "(Triton-compatible gRPC, HTTP/REST and metrics).",
    )
    p.add_argument("--version", action="version",
                   version=f"tritonlite {__version__} (Triton {TRITON_COMPAT_VERSION} API)")
    hints = typing.get_type_hints(ServerOptions)
    for f in option_fields():
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        hint = hints[f.name]
        kw: dict[str, Any] = {"dest": f.name, "help": f.metadata["help"]}
        if hint is bool:
            kw.update(type=_bool, nargs="?", const=True, default=f.default, metavar="BOOL")
        elif f.metadata.get("repeat"):
            kw.update(action="append", default=None)
        else:
            kw.update(type=hint, default=f.default)
        if f.metadata.get("choices"):
            kw["choices"] = f.metadata["choices"]
        p.add_argument(flag, **kw)
    return p


def parse_options(argv: list[str]) -> ServerOptions:
    ns = build_parser().parse_args(argv)
    values = {k: v for k, v in vars(ns).items() if v is not None}
    for f in option_fields():
        if f.metadata.get("repeat") and f.name in values:
            values[f.name] = tuple(values[f.name])
    opts = ServerOptions(**values)
    if not opts.model_repository:
        build_parser().error("--model-repository is required")
    return opts


def _keep_freed_memory() -> None:
    """Ask glibc to keep freed big buffers instead of returning them to the OS after every
    request (image-sized tensors were page-faulted back in on each one). Linux/glibc only."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_trim_threshold, 256 << 20)
        libc.mallopt(m_mmap_threshold, 256 << 20)
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "serve":
        args = args[1:]
    opts = parse_options(args)
    configure_logging(opts)
    _keep_freed_memory()
    from tritonlite.runner import run

    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        pass
    try:
        return asyncio.run(run(opts))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
