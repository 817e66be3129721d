"""--http-header-forward-pattern: the rule both protocols share
(``frontends.common.parameters``); the gRPC side, in every server shape, is tested in
``grpc/test_grpc_server.py``."""

from __future__ import annotations


