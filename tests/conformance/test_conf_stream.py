"""ModelStreamInfer: sequences over a stream, in-band errors, decoupled models."""

from __future__ import annotations

import asyncio
import queue
import re
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as aioclient
from conformance_utils import MODELS, copy_repository, first, make_input, raw_stub, seq_input
from tritonclient.grpc import service_pb2
from tritonclient.utils import InferenceServerException

QUIET_S = 0.5  # how long "no further response" is awaited


def final_flag(response: service_pb2.ModelInferResponse) -> bool | None:
    if "triton_final_response" not in response.parameters:
        return None
    return response.parameters["triton_final_response"].bool_param


class RawStream:
    """A raw ModelStreamInfer call fed from a queue, read by a background thread."""

    def __init__(self, url: str) -> None:
        self._channel, stub = raw_stub(url)
        self._requests: queue.Queue[service_pb2.ModelInferRequest | None] = queue.Queue()
        self._responses: queue.Queue[Any] = queue.Queue()
        self._call = stub.ModelStreamInfer(iter(self._requests.get, None), timeout=60)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for response in self._call:
                self._responses.put(response)
        except Exception as error:  # the call's own failure is reported to the test
            self._responses.put(error)
        self._responses.put(None)

    def send(self, request: service_pb2.ModelInferRequest) -> None:
        self._requests.put(request)

    def recv(self, timeout: float = 30) -> service_pb2.ModelStreamInferResponse:
        item = self._responses.get(timeout=timeout)
        if item is None or isinstance(item, Exception):
            raise AssertionError(f"the stream ended: {item!r}")
        return item

    def assert_quiet(self) -> None:
        with pytest.raises(queue.Empty):
            item = self._responses.get(timeout=QUIET_S)
            raise AssertionError(f"unexpected extra stream message: {item}")

    def close(self) -> None:
        self._requests.put(None)
        self._reader.join(30)
        self._channel.close()


@pytest.fixture
def raw_stream(server) -> Iterator[RawStream]:
    stream = RawStream(server.grpc_url)
    try:
        yield stream
    finally:
        stream.close()


def raw_request(model: str, request_id: str, input_name: str, value: int, **params: Any):
    request = service_pb2.ModelInferRequest(model_name=model, id=request_id)
    request.inputs.add(name=input_name, datatype="INT32", shape=[1])
    request.raw_input_contents.append(np.array([value], dtype=np.int32).tobytes())
    for key, (kind, param) in params.items():
        setattr(request.parameters[key], kind, param)
    return request


class ClientStream:
    """tritonclient.grpc start_stream with the callback results in a queue."""

    def __init__(self, url: str) -> None:
        self.client = grpcclient.InferenceServerClient(url)
        self.results: queue.Queue[tuple[Any, Any]] = queue.Queue()
        self.client.start_stream(callback=lambda result, error: self.results.put((result, error)))

    def get(self, timeout: float = 30) -> tuple[Any, Any]:
        return self.results.get(timeout=timeout)

    def close(self) -> None:
        self.client.stop_stream()
        self.client.close()


@pytest.fixture
def client_stream(server) -> Iterator[ClientStream]:
    stream = ClientStream(server.grpc_url)
    try:
        yield stream
    finally:
        stream.close()


# --------------------------------------------------------------------- sequences


def test_sequence_over_stream(client_stream: ClientStream) -> None:
    for value, start, end in ((1, True, False), (2, False, False), (3, False, True)):
        client_stream.client.async_stream_infer(
            "seq_direct",
            seq_input(value),
            request_id=f"s-{value}",
            sequence_id=2001,
            sequence_start=start,
            sequence_end=end,
        )
        result, error = client_stream.get()
        assert error is None, error
        response = result.get_response()
        assert response.id == f"s-{value}"
        assert final_flag(response) is True
        assert first(result, "OUTPUT") == {1: 1, 2: 3, 3: 6}[value]
        assert first(result, "FLAGS") == {1: 1, 2: 0, 3: 2}[value]


def test_two_sequences_interleaved_on_one_stream(client_stream: ClientStream) -> None:
    # seq_count2 has two slots, so both sequences are live at once.
    for value in (1, 2, 3):
        for sequence_id in (2002, 2003):
            client_stream.client.async_stream_infer(
                "seq_count2",
                seq_input(value * (1 if sequence_id == 2002 else 10)),
                request_id=f"{sequence_id}-{value}",
                sequence_id=sequence_id,
                sequence_start=value == 1,
                sequence_end=value == 3,
            )
            result, error = client_stream.get()
            assert error is None, error
            expected = {1: 1, 2: 3, 3: 6}[value] * (1 if sequence_id == 2002 else 10)
            assert first(result, "OUTPUT") == expected


def test_inband_errors_keep_the_stream_open(raw_stream: RawStream) -> None:
    raw_stream.send(
        raw_request("seq_direct", "req-a", "INPUT", 1, sequence_id=("int64_param", 4242))
    )
    message = raw_stream.recv()
    assert message.error_message == (
        "inference request for sequence 4242 to model 'seq_direct' must specify the START flag "
        "on the first request of the sequence"
    )
    assert message.infer_response.id == "req-a"

    raw_stream.send(raw_request("no_such_model", "req-b", "INPUT", 1))
    message = raw_stream.recv()
    assert message.error_message == "Request for unknown model: 'no_such_model' is not found"
    assert message.infer_response.id == "req-b"

    raw_stream.send(raw_request("plain", "req-g", "INPUT", 0))
    message = raw_stream.recv()
    assert message.error_message == (
        "[request id: req-g] inference input 'INPUT' data-type is 'INT32', but model 'plain' "
        "expects 'FP32'"
    )
    assert message.infer_response.id == "req-g"

    raw_stream.send(
        raw_request(
            "seq_direct",
            "req-c",
            "INPUT",
            5,
            sequence_id=("int64_param", 4243),
            sequence_start=("bool_param", True),
            sequence_end=("bool_param", True),
        )
    )
    message = raw_stream.recv()
    assert message.error_message == ""
    assert message.infer_response.id == "req-c"
    assert message.infer_response.model_name == "seq_direct"
    assert final_flag(message.infer_response) is True


def test_inband_error_via_tritonclient(client_stream: ClientStream) -> None:
    client_stream.client.async_stream_infer(
        "seq_direct", seq_input(1), request_id="x", sequence_id=4244
    )
    result, error = client_stream.get()
    assert result is None
    assert isinstance(error, InferenceServerException)
    assert error.message() == (
        "inference request for sequence 4244 to model 'seq_direct' must specify the START flag "
        "on the first request of the sequence"
    )


# --------------------------------------------------------------------- decoupled


def _values(messages: list[service_pb2.ModelStreamInferResponse]) -> list[int]:
    out = []
    for message in messages:
        for raw in message.infer_response.raw_output_contents:
            out.extend(np.frombuffer(raw, dtype=np.int32).tolist())
    return out


def test_decoupled_responses_without_empty_final(raw_stream: RawStream) -> None:
    raw_stream.send(raw_request("decoupled_repeat", "d-1", "N", 3))
    messages = [raw_stream.recv() for _ in range(3)]
    raw_stream.assert_quiet()
    assert [m.error_message for m in messages] == ["", "", ""]
    assert _values(messages) == [0, 1, 2]
    assert [final_flag(m.infer_response) for m in messages] == [False, False, False]
    assert {m.infer_response.id for m in messages} == {"d-1"}
    assert {m.infer_response.model_name for m in messages} == {"decoupled_repeat"}


def test_decoupled_responses_with_empty_final(raw_stream: RawStream) -> None:
    raw_stream.send(
        raw_request(
            "decoupled_repeat",
            "d-2",
            "N",
            3,
            triton_enable_empty_final_response=("bool_param", True),
        )
    )
    messages = [raw_stream.recv() for _ in range(4)]
    raw_stream.assert_quiet()
    assert _values(messages[:3]) == [0, 1, 2]
    assert [final_flag(m.infer_response) for m in messages] == [False, False, False, True]
    last = messages[-1].infer_response
    assert last.id == "d-2"
    assert list(last.outputs) == []
    assert messages[-1].error_message == ""


def test_decoupled_zero_responses(raw_stream: RawStream) -> None:
    raw_stream.send(
        raw_request(
            "decoupled_repeat",
            "d-3",
            "N",
            0,
            triton_enable_empty_final_response=("bool_param", True),
        )
    )
    message = raw_stream.recv()
    raw_stream.assert_quiet()
    assert final_flag(message.infer_response) is True
    assert list(message.infer_response.outputs) == []
    # Without the flag nothing at all reaches the client.
    raw_stream.send(raw_request("decoupled_repeat", "d-4", "N", 0))
    raw_stream.assert_quiet()


def test_decoupled_execute_raises_after_a_response(server_factory, tmp_path: Path) -> None:
    # On its own server: after this, the 2.51 reference often cannot unload
    # decoupled_repeat and its shutdown waits the full 30 s exit timeout.
    repository = tmp_path / "models"
    copy_repository(repository / "decoupled_repeat", MODELS / "decoupled_repeat")
    extra = server_factory(repository, stop_timeout=5)
    raw_stream = RawStream(extra.grpc_url)
    try:
        _check_decoupled_failure(raw_stream, extra)
    finally:
        raw_stream.close()


def _check_decoupled_failure(raw_stream: RawStream, server) -> None:
    raw_stream.send(raw_request("decoupled_repeat", "d-5", "N", -1))
    partial = raw_stream.recv()
    assert partial.error_message == ""
    assert _values([partial]) == [-1]
    assert final_flag(partial.infer_response) is False
    failure = raw_stream.recv()
    raw_stream.assert_quiet()
    path = re.escape(str(server.repository / "decoupled_repeat" / "1" / "model.py"))
    assert re.fullmatch(
        re.escape(
            "Failed to process the request(s) for model 'decoupled_repeat_0', message: "
            "ValueError: decoupled failure after one response"
        )
        + r"\n\nAt:\n  "
        + path
        + r"\(\d+\): execute\n",
        failure.error_message,
    ), failure.error_message
    assert failure.infer_response.id == "d-5"
    assert final_flag(failure.infer_response) is True


def test_decoupled_via_tritonclient(client_stream: ClientStream, server) -> None:
    client_stream.client.async_stream_infer(
        "decoupled_repeat",
        [make_input("N", np.array([4], dtype=np.int32))],
        request_id="d-6",
        enable_empty_final_response=True,
    )
    values, finals = [], []
    while True:
        result, error = client_stream.get()
        assert error is None, error
        response = result.get_response()
        finals.append(final_flag(response))
        if response.outputs:
            values.append(first(result, "OUT"))
        if finals[-1]:
            break
    assert values == [0, 1, 2, 3]
    assert finals == [False, False, False, False, True]
    # The model's pb_utils.Logger line reaches the server log.
    assert server.wait_for_log("Stream 4 started"), server.log()[-2000:]


# --------------------------------------------------------------------- aio


def _aio_tensor(name: str, value: int) -> aioclient.InferInput:
    tensor = aioclient.InferInput(name, [1], "INT32")
    tensor.set_data_from_numpy(np.array([value], dtype=np.int32))
    return tensor


async def _aio_stream(
    url: str, requests: list[dict[str, Any]], expected: int
) -> dict[str, list[tuple[Any, bool | None]]]:
    """Send ``requests`` on one aio stream; collect ``expected`` responses by request id."""
    done = asyncio.Event()

    async def feed() -> AsyncIterator[dict[str, Any]]:
        for request in requests:
            yield request
        await done.wait()  # keep the stream open until every response arrived...
        # ...and a little longer, so a decoupled model's flag-only FINAL (sent right after
        # its last response) is processed before the client half-closes.
        await asyncio.sleep(QUIET_S)

    by_id: dict[str, list[tuple[Any, bool | None]]] = {}
    received = 0
    async with aioclient.InferenceServerClient(url) as triton:
        # Half-close (never cancel) and let the server end the stream.
        async for result, error in triton.stream_infer(feed(), stream_timeout=20):
            assert error is None, error
            response = result.get_response()
            values = (
                result.as_numpy(response.outputs[0].name).tolist() if response.outputs else None
            )
            by_id.setdefault(response.id, []).append((values, final_flag(response)))
            received += 1
            if received == expected:
                done.set()
    return by_id


async def test_aio_stream_sequence(server) -> None:
    requests = [
        {
            "model_name": "seq_direct",
            "inputs": [_aio_tensor("INPUT", 10)],
            "request_id": "aio-1",
            "sequence_id": 2004,
            "sequence_start": True,
        },
        {
            "model_name": "seq_direct",
            "inputs": [_aio_tensor("INPUT", 20)],
            "request_id": "aio-2",
            "sequence_id": 2004,
            "sequence_end": True,
        },
    ]
    by_id = await _aio_stream(server.grpc_url, requests, expected=2)
    assert by_id == {"aio-1": [([10], True)], "aio-2": [([30], True)]}


async def test_aio_stream_decoupled(server) -> None:
    # (the aio stream_infer cannot ask for the empty final response)
    requests = [
        {"model_name": "decoupled_repeat", "inputs": [_aio_tensor("N", 2)], "request_id": "aio-3"}
    ]
    by_id = await _aio_stream(server.grpc_url, requests, expected=2)
    assert by_id == {"aio-3": [([0], False), ([1], False)]}


@pytest.mark.tritonlite_only(
    reason="Triton 2.51 aborts (SIGABRT in TRITONBACKEND_ResponseSend) when one stream "
    "carries requests for a decoupled and a non-decoupled model at the same time"
)
def test_decoupled_and_plain_models_on_one_stream(raw_stream: RawStream) -> None:
    raw_stream.send(raw_request("decoupled_repeat", "mix-1", "N", 2))
    raw_stream.send(raw_request("two_utils_a", "mix-2", "INPUT", 0))
    raw_stream.send(raw_request("decoupled_repeat", "mix-3", "N", 1))
    messages = [raw_stream.recv() for _ in range(4)]
    raw_stream.assert_quiet()
    assert [m.error_message for m in messages] == [""] * 4
    by_id: dict[str, int] = {}
    for message in messages:
        by_id[message.infer_response.id] = by_id.get(message.infer_response.id, 0) + 1
    assert by_id == {"mix-1": 2, "mix-2": 1, "mix-3": 1}
