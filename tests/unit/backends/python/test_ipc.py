"""The worker channel's framing: every message comes back equal, in order, however the
bytes are split; the per-request messages travel flattened (plain tagged tuples)."""

from __future__ import annotations

import pickle

import pytest

from tritonlite.backends.python import ipc

IN_RING = ipc.TensorRef("INPUT0", "FP32", (2, 8), 64, pos=4096)
INLINE = ipc.TensorRef("INPUT1", "BYTES", (1,), 7, inline=b"\x03\0\0\0abc")
EMPTY = ipc.TensorRef("E", "INT32", (0,), 0, pos=0)

HOT = [
    ipc.ExecuteMsg(7, (
        ipc.RequestMsg(11, "id-1", 42, 1, '{"a":1}', ("OUTPUT0", "OUTPUT1"), 500,
                       (IN_RING, INLINE)),
        ipc.RequestMsg(12, "", "corr", 0, "{}", (), 0, (EMPTY,)),
        ipc.RequestMsg(13, "", 0, 0, "{}", (), 0, ()),
    )),
    ipc.BatchDoneMsg(7, (
        ipc.ResponseMsg(11, (IN_RING, INLINE), parameters={"p": True}),
        ipc.ResponseMsg(12, error_code=13, error_message="boom", from_model=True),
    ), 1, 2, 3, rescheduled=(13,), ran=True),
    ipc.BatchDoneMsg(8, (), 0, 0, 0, ran=False),
    ipc.ResponseMsg(11, (INLINE,), final=False),
    ipc.ResponseMsg(11),
]
OTHER = [
    ipc.InitMsg("m.py", "/r/m", "/r/m/1", {"model_name": "m"}, "rq", "rs", True, 1, "rp"),
    ipc.CancelMsg((1, 2)),
    ipc.ShutdownMsg(),
    ipc.ReadyMsg(error="bad", pid=3),
    ipc.BlsResponseMsg(5, (IN_RING,), final=False, parameters={"x": 1}),
    ipc.MetricMsg("observe", "fam", value=2.5, labels={"a": "b"}),
    ipc.ControlMsg(1, "load", "m", files={"f": b"x"}),
]


@pytest.mark.parametrize("msg", HOT + OTHER, ids=lambda m: type(m).__name__)
def test_every_message_comes_back_equal_and_of_its_type(msg: object) -> None:
    (back,) = ipc.FrameParser().feed(ipc.encode(msg))
    assert back == msg
    assert_same_types(back, msg)


def assert_same_types(got: object, want: object) -> None:
    """Equal tuples can differ in type (a NamedTuple equals a plain tuple): check the
    message and everything nested in it."""
    assert type(got) is type(want), (got, want)
    if isinstance(want, tuple):
        assert isinstance(got, tuple)
        for g, w in zip(got, want, strict=True):
            assert_same_types(g, w)


@pytest.mark.parametrize("msg", HOT, ids=lambda m: type(m).__name__)
def test_per_request_messages_travel_as_plain_tuples(msg: object) -> None:
    body = ipc.encode(msg)[ipc.HEADER_SIZE:]
    assert type(pickle.loads(body)) is tuple


def test_frames_split_anywhere_come_back_in_order() -> None:
    stream = b"".join(ipc.encode(m) for m in HOT + OTHER)
    for step in (1, 3, 64, len(stream)):
        parser = ipc.FrameParser()
        out: list[object] = []
        for i in range(0, len(stream), step):
            out += parser.feed(memoryview(stream)[i:i + step])
        assert out == HOT + OTHER
