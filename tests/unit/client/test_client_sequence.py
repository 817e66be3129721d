"""SequenceClient against fakes: ordering, windowing, START/END, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _client_fakes import FakeResult, FakeTritonClient
from tritonclient.utils import InferenceServerException, deserialize_bytes_tensor

import tritonlite.client.sequence as sequence_module
from tritonlite.client import (
    MAX_SEQUENCE_ID,
    InferenceError,
    ModelUnavailableError,
    ResponseTimeoutError,
    SequenceClient,
    ServerUnreachableError,
    StreamClosedError,
    parse_sequence_id,
    random_sequence_id,
)
from tritonlite.client.transports import Completion, Request


def _items(n: int) -> list[dict[str, np.ndarray]]:
    return [{"image": np.array([f"frame-{i}".encode()], dtype=np.object_)} for i in range(n)]


def _payload(result: Any) -> bytes:
    return bytes(result.outputs["output_image"].reshape(-1)[0])


class LifoTransport:
    """Answers the most recently sent request first: the worst order for the client."""

    instances: list[LifoTransport] = []

    def __init__(self, client: Any, model_name: str, *, max_inflight: int, **kw: Any) -> None:
        self.max_inflight = max_inflight
        self.stack: list[Request] = []
        self.max_outstanding = 0
        self.closed_with: bool | None = None
        LifoTransport.instances.append(self)

    def send(self, request: Request) -> None:
        self.stack.append(request)
        self.max_outstanding = max(self.max_outstanding, len(self.stack))

    def receive(self, timeout: float | None) -> Completion:
        request = self.stack.pop()
        outputs = {}
        for infer_input in request.inputs:
            data = deserialize_bytes_tensor(infer_input._get_content())
            if data.size and data.reshape(-1)[0]:
                outputs["output_image"] = data.reshape(infer_input.shape())
        return Completion(request.request_id, FakeResult(request.request_id, outputs), None, 0.0)

    def close(self, *, cancel: bool = False) -> None:
        self.closed_with = cancel


@pytest.fixture
def lifo(monkeypatch: pytest.MonkeyPatch, fake_triton: FakeTritonClient) -> type[LifoTransport]:
    LifoTransport.instances = []
    monkeypatch.setitem(sequence_module.TRANSPORTS, "stream", LifoTransport)
    return LifoTransport


@pytest.mark.parametrize("inflight", [1, 3, 8])
def test_results_in_order_when_answers_come_last_first(
    lifo: type[LifoTransport], inflight: int
) -> None:
    with SequenceClient(inflight=inflight) as seq:
        results = list(seq.process(_items(25)))
    assert [r.index for r in results] == list(range(25))
    assert [_payload(r) for r in results] == [f"frame-{i}".encode() for i in range(25)]
    transport = lifo.instances[0]
    assert transport.max_outstanding == inflight  # the window fills up, and no further
    assert transport.closed_with is False


def test_stream_mode_on_fake_tritonclient_reverses_and_reorders(
    fake_triton: FakeTritonClient,
) -> None:
    fake_triton.hold = 4  # the fake stream answers in reversed groups of 4
    with SequenceClient(sequence_id=7, inflight=4) as seq:
        results = list(seq.process(_items(12)))
        assert seq.start_result is not None
        assert seq.start_result.outputs == {}
    assert seq.end_result is not None
    assert seq.end_result.outputs == {}
    assert [r.index for r in results] == list(range(12))
    assert [_payload(r) for r in results] == [f"frame-{i}".encode() for i in range(12)]
    assert all(r.latency_s >= 0 for r in results)
    ids = [s.request_id for s in fake_triton.sent]
    assert ids == ["start", *[str(i) for i in range(12)], "end"]
    assert {s.sequence_id for s in fake_triton.sent} == {7}
    assert fake_triton.stream_stops == [False]
    assert fake_triton.closed


def test_start_and_end_carry_an_empty_string_for_each_input(
    fake_triton: FakeTritonClient,
) -> None:
    with SequenceClient(sequence_id="cam-1", mode="unary") as seq:
        seq.infer(_items(1)[0])
    start, item, end = fake_triton.sent
    assert (start.start, start.end, end.start, end.end) == (True, False, False, True)
    assert not item.start and not item.end
    for control in (start, end):
        datatype, shape, data = control.inputs["image"]
        assert (datatype, shape) == ("BYTES", [1])
        assert data.tolist() == [b""]
    assert start.sequence_id == "cam-1"


def test_unary_mode_sends_one_at_a_time(fake_triton: FakeTritonClient) -> None:
    with SequenceClient(mode="unary", inflight=8) as seq:
        assert seq.inflight == 1
        results = list(seq.process(_items(5)))
    assert [_payload(r) for r in results] == [f"frame-{i}".encode() for i in range(5)]
    assert fake_triton.stream_stops == []  # no stream was opened


def test_batched_model_gets_a_batch_dimension(fake_triton: FakeTritonClient) -> None:
    fake_triton.max_batch_size = 4
    with SequenceClient(mode="unary") as seq:
        result = seq.infer(_items(1)[0])
    start, item, _ = fake_triton.sent
    assert start.inputs["image"][1] == [1, 1]
    assert item.inputs["image"][1] == [1, 1]
    assert result.outputs["output_image"].shape == (1,)


@pytest.mark.parametrize("mode", ["unary", "stream"])
def test_error_for_one_item_raises_with_its_index(fake_triton: FakeTritonClient, mode: str) -> None:
    fake_triton.fail_items = {3}
    seen = []
    with SequenceClient(mode=mode, inflight=2) as seq:  # type: ignore[arg-type]
        with pytest.raises(InferenceError, match="bad frame 3") as info:
            for result in seq.process(_items(6)):
                seen.append(result.index)
        assert info.value.index == 3
        assert info.value.status == ("INVALID_ARGUMENT" if mode == "unary" else None)
        # the sequence is still usable
        assert _payload(seq.infer(_items(1)[0])) == b"frame-0"
    assert seen == [0, 1, 2]


@pytest.mark.parametrize("mode", ["unary", "stream"])
def test_errors_can_be_yielded_instead(fake_triton: FakeTritonClient, mode: str) -> None:
    fake_triton.fail_items = {0, 4}
    fake_triton.hold = 2
    with SequenceClient(mode=mode, inflight=2) as seq:  # type: ignore[arg-type]
        results = list(seq.process(_items(6), raise_on_error=False))
    assert [r.index for r in results] == list(range(6))
    assert [r.error is not None for r in results] == [True, False, False, False, True, False]
    assert results[4].outputs == {}
    with pytest.raises(InferenceError):
        results[4].output()
    assert results[5].output() is results[5].outputs["output_image"]


def test_stopping_early_still_ends_the_sequence(fake_triton: FakeTritonClient) -> None:
    fake_triton.hold = 100  # answers only when END flushes the stream
    with SequenceClient(inflight=1) as seq:
        fake_triton.hold = 1
        for result in seq.process(_items(10)):
            if result.index == 2:
                fake_triton.hold = 100
                break
    assert fake_triton.sent[-1].request_id == "end"
    assert seq.end_result is not None


def test_unknown_model(fake_triton: FakeTritonClient) -> None:
    with pytest.raises(ModelUnavailableError, match="unknown model: 'nope'") as info:
        SequenceClient(model_name="nope").open()
    assert info.value.model == "nope"


def test_model_not_ready(fake_triton: FakeTritonClient) -> None:
    fake_triton.models["jpg_model"] = False
    with pytest.raises(ModelUnavailableError, match="not ready"):
        SequenceClient().open()


def test_server_not_live(fake_triton: FakeTritonClient) -> None:
    fake_triton.live = False
    with pytest.raises(ServerUnreachableError, match="not live"):
        SequenceClient().open()


class _ScriptedTransport:
    """Answers START, then replays ``script`` for everything else."""

    script: list[Completion | Exception] = []
    instance: _ScriptedTransport | None = None

    def __init__(self, client: Any, model_name: str, **kw: Any) -> None:
        self.max_inflight = 8
        self.sent: list[Request] = []
        self.closed_with: bool | None = None
        _ScriptedTransport.instance = self

    def send(self, request: Request) -> None:
        self.sent.append(request)

    def receive(self, timeout: float | None) -> Completion:
        if len(self.sent) == 1:
            return Completion("start", FakeResult("start", {}), None, 0.0)
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return step

    def close(self, *, cancel: bool = False) -> None:
        self.closed_with = cancel


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("StatusCode.UNAVAILABLE", ServerUnreachableError),
        ("StatusCode.CANCELLED", StreamClosedError),
    ],
)
def test_a_failed_stream_raises_and_abandons(
    monkeypatch: pytest.MonkeyPatch,
    fake_triton: FakeTritonClient,
    status: str,
    expected: type[Exception],
) -> None:
    error = InferenceServerException("Socket closed", status=status)
    _ScriptedTransport.script = [Completion(None, None, error, 0.0, stream_failed=True)]
    monkeypatch.setitem(sequence_module.TRANSPORTS, "stream", _ScriptedTransport)
    with pytest.raises(expected), SequenceClient() as seq:
        list(seq.process(_items(3)))
    transport = _ScriptedTransport.instance
    assert transport is not None
    assert transport.closed_with is True  # cancelled, and no END was sent
    assert [r.request_id for r in transport.sent] == ["start", "0", "1", "2"]


def test_timeout_names_the_sequence_slot(
    monkeypatch: pytest.MonkeyPatch, fake_triton: FakeTritonClient
) -> None:
    _ScriptedTransport.script = [ResponseTimeoutError("no response on the stream within 2 s")]
    monkeypatch.setitem(sequence_module.TRANSPORTS, "stream", _ScriptedTransport)
    with (
        pytest.raises(ResponseTimeoutError, match="every sequence slot"),
        SequenceClient(timeout=2) as seq,
    ):
        seq.infer(_items(1)[0])
    assert _ScriptedTransport.instance is not None
    assert _ScriptedTransport.instance.closed_with is True


def test_process_needs_an_open_sequence(fake_triton: FakeTritonClient) -> None:
    seq = SequenceClient()
    with pytest.raises(RuntimeError, match="expected open"):
        list(seq.process(_items(1)))
    assert seq.close() is None


@pytest.mark.parametrize(
    ("text", "expected"), [("42", 42), (" 7 ", 7), ("cam-1", "cam-1"), ("0x10", "0x10")]
)
def test_parse_sequence_id(text: str, expected: int | str) -> None:
    assert parse_sequence_id(text) == expected


@pytest.mark.parametrize("text", ["0", "", "  ", str(MAX_SEQUENCE_ID + 1)])
def test_parse_sequence_id_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_sequence_id(text)


@pytest.mark.parametrize("bad", [0, -1, MAX_SEQUENCE_ID + 1, True, "", 1.5])
def test_constructor_rejects_bad_sequence_ids(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        SequenceClient(sequence_id=bad)


def test_random_sequence_ids_are_valid_and_differ() -> None:
    ids = {random_sequence_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(1 <= i <= MAX_SEQUENCE_ID for i in ids)


@pytest.mark.parametrize(
    ("kw", "match"), [({"mode": "rest"}, "mode"), ({"inflight": 0}, "inflight")]
)
def test_constructor_rejects_bad_options(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SequenceClient(**kw)


def test_failed_connect_closes_the_client(fake_triton: FakeTritonClient) -> None:
    with pytest.raises(ModelUnavailableError), SequenceClient(model_name="nope"):
        pass
    assert fake_triton.closed


class _SilentTransport(_ScriptedTransport):
    def receive(self, timeout: float | None) -> Completion:
        raise ResponseTimeoutError(f"no response on the stream within {timeout} s")


def test_start_stuck_in_the_backlog_is_cancelled(
    monkeypatch: pytest.MonkeyPatch, fake_triton: FakeTritonClient
) -> None:
    monkeypatch.setitem(sequence_module.TRANSPORTS, "stream", _SilentTransport)
    with pytest.raises(ResponseTimeoutError, match="every sequence slot"):
        SequenceClient(timeout=0.1).open()
    transport = _ScriptedTransport.instance
    assert transport is not None
    assert transport.closed_with is True  # stop_stream(cancel_requests=True): no hang
    assert fake_triton.closed
