"""The benchmark's lean HTTP client: it must read replies whole and refuse wrong answers.

The client is the judge of every HTTP row, so a check that passed a wrong or truncated body
would turn errors into throughput.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import orjson
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import clients


def _reply(payload: bytes, *, shape: list[int]) -> clients.HttpReply:
    header = orjson.dumps({"outputs": [{"name": "OUTPUT0", "datatype": "FP32", "shape": shape,
                                        "parameters": {"binary_data_size": len(payload)}}]})
    return clients.HttpReply(200, {"inference-header-content-length": str(len(header))},
                             header + payload)


def test_identity_check_accepts_the_input_back() -> None:
    data = np.arange(1 << 20, dtype=np.float32).tobytes()
    assert clients.check_http_fp32_identity(_reply(data, shape=[1 << 20]), data, 1 << 20) is None


@pytest.mark.parametrize("change", ["last byte", "first byte", "one short", "one long"])
def test_identity_check_refuses_a_different_body(change: str) -> None:
    data = np.arange(4096, dtype=np.float32).tobytes()
    wrong = bytearray(data)
    if change == "last byte":
        wrong[-1] ^= 1
    elif change == "first byte":
        wrong[0] ^= 1
    elif change == "one short":
        del wrong[-1]
    else:
        wrong += b"\0"
    problem = clients.check_http_fp32_identity(_reply(bytes(wrong), shape=[4096]), data, 4096)
    assert problem == "output differs from input"


def test_connection_reads_a_body_that_arrives_in_pieces() -> None:
    connection = clients.HttpConnection()
    body = bytes(range(256)) * 1000
    raw = (b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)) + body + b"HTTP/1.1"
    for start in range(0, len(raw), 7001):
        connection.buffer += raw[start:start + 7001]
    reply = connection._parse()
    assert reply is not None
    assert reply.status == 200 and reply.body == body
    assert bytes(connection.buffer) == b"HTTP/1.1"  # the next reply's start stays buffered


def test_connection_waits_for_the_whole_body() -> None:
    connection = clients.HttpConnection()
    connection.buffer += b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n123456789"
    assert connection._parse() is None
    connection.buffer += b"0"
    reply = connection._parse()
    assert reply is not None and reply.body == b"1234567890"
