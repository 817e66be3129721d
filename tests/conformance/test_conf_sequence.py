"""Sequence batching over ModelInfer: cases a-d' of section 3 and section 1.6."""

from __future__ import annotations

import threading
import time
from typing import Any

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from conformance_utils import (
    expect_error,
    expect_rpc_error,
    first,
    make_input,
    seq_input,
    status_name,
)
from tritonclient.grpc import service_pb2


def start_flag_text(sequence: object, model: str) -> str:
    return (
        f"inference request for sequence {sequence} to model '{model}' must specify the START "
        "flag on the first request of the sequence"
    )


def no_id_text(model: str) -> str:
    return (
        f"inference request to model '{model}' must specify a non-zero or non-empty correlation ID"
    )


def step(
    client: grpcclient.InferenceServerClient,
    model: str,
    sequence_id: int | str,
    value: int,
    start: bool = False,
    end: bool = False,
    **kwargs: Any,
) -> dict[str, Any]:
    """One request of a sequence; returns every output's first element."""
    batched = model == "seq_oldest"
    result = client.infer(
        model,
        seq_input(value, batched=batched),
        sequence_id=sequence_id,
        sequence_start=start,
        sequence_end=end,
        **kwargs,
    )
    outputs = {o.name: first(result, o.name) for o in result.get_response().outputs}
    outputs["_shape"] = list(result.get_response().outputs[0].shape)
    return outputs


def raw_sequence_request(model: str, **params: Any) -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name=model)
    request.inputs.add(name="INPUT", datatype="INT32", shape=[1])
    request.raw_input_contents.append(np.array([1], dtype=np.int32).tobytes())
    for key, (kind, value) in params.items():
        setattr(request.parameters[key], kind, value)
    return request


# --------------------------------------------------------------------- happy path


def test_start_continue_end(client: grpcclient.InferenceServerClient) -> None:
    seen = [
        step(client, "seq_direct", 1001, 1, start=True),
        step(client, "seq_direct", 1001, 2),
        step(client, "seq_direct", 1001, 3, end=True),
    ]
    assert [s["OUTPUT"] for s in seen] == [1, 3, 6]
    assert [s["OUT_START"] for s in seen] == [1, 0, 0]
    assert [s["OUT_END"] for s in seen] == [0, 0, 1]
    assert [s["OUT_READY"] for s in seen] == [1, 1, 1]
    assert [s["OUT_CORRID"] for s in seen] == [1001, 1001, 1001]
    assert [s["FLAGS"] for s in seen] == [1, 0, 2]
    assert [s["CORRELATION_ID"] for s in seen] == ["1001"] * 3
    assert seen[0]["_shape"] == [1]


def test_after_end_the_id_is_forgotten(client: grpcclient.InferenceServerClient) -> None:
    step(client, "seq_direct", 1002, 1, start=True)
    step(client, "seq_direct", 1002, 1, end=True)
    error = expect_error(step, client, "seq_direct", 1002, 1)
    assert status_name(error) == "INVALID_ARGUMENT"
    assert error.message() == start_flag_text(1002, "seq_direct")


def test_start_and_end_in_one_request(client: grpcclient.InferenceServerClient) -> None:
    seen = step(client, "seq_direct", 1003, 5, start=True, end=True)
    assert (seen["OUTPUT"], seen["FLAGS"], seen["OUT_START"], seen["OUT_END"]) == (5, 3, 1, 1)
    # The sequence is over: a new one with the same id may start.
    assert step(client, "seq_direct", 1003, 7, start=True, end=True)["OUTPUT"] == 7


def test_string_sequence_id(client: grpcclient.InferenceServerClient) -> None:
    seen = [
        step(client, "seq_direct", "seq-abc", 1, start=True),
        step(client, "seq_direct", "seq-abc", 10),
        step(client, "seq_direct", "seq-abc", 100, end=True),
    ]
    assert [s["OUTPUT"] for s in seen] == [1, 11, 111]
    # request.correlation_id() is the str itself.
    assert [s["CORRELATION_ID"] for s in seen] == ['"seq-abc"'] * 3
    assert [s["FLAGS"] for s in seen] == [1, 0, 2]


def test_start_on_active_sequence_restarts_it(
    client: grpcclient.InferenceServerClient, server
) -> None:
    step(client, "seq_direct", 1004, 5, start=True)
    again = step(client, "seq_direct", 1004, 2, start=True)
    assert (again["OUTPUT"], again["OUT_START"], again["FLAGS"]) == (2, 1, 1)
    assert step(client, "seq_direct", 1004, 3, end=True)["OUTPUT"] == 5
    assert server.wait_for_log(
        "sequence 1004 for model 'seq_direct' has a conflict. The previous sequence did not end "
        "before this sequence start. Previous sequence will be terminated early."
    ), server.log()[-3000:]


def test_control_tensor_dtypes_and_values(client: grpcclient.InferenceServerClient) -> None:
    # seq_controls: START fp32_false_true [-1.5, 2.5], END bool_false_true,
    # READY int32_false_true [10, 20], CORRID TYPE_INT64.
    big_id = 2**40 + 5
    first_step = step(client, "seq_controls", big_id, 1, start=True)
    middle = step(client, "seq_controls", big_id, 2)
    last = step(client, "seq_controls", big_id, 3, end=True)
    assert [s["OUT_START"] for s in (first_step, middle, last)] == [2.5, -1.5, -1.5]
    assert [s["OUT_END"] for s in (first_step, middle, last)] == [False, False, True]
    assert [s["OUT_READY"] for s in (first_step, middle, last)] == [20, 20, 20]
    assert [s["OUT_CORRID"] for s in (first_step, middle, last)] == [big_id] * 3
    assert [s["OUTPUT"] for s in (first_step, middle, last)] == [1, 3, 6]


def test_control_tensor_wire_dtypes(client: grpcclient.InferenceServerClient) -> None:
    result = client.infer(
        "seq_controls", seq_input(1), sequence_id=1005, sequence_start=True, sequence_end=True
    )
    dtypes = {o.name: o.datatype for o in result.get_response().outputs}
    assert dtypes["OUT_START"] == "FP32"
    assert dtypes["OUT_END"] == "BOOL"
    assert dtypes["OUT_READY"] == "INT32"
    assert dtypes["OUT_CORRID"] == "INT64"


def test_sequence_params_on_non_sequence_model_are_accepted(
    client: grpcclient.InferenceServerClient,
) -> None:
    # Case c': accepted; the model still sees the correlation id and flags.
    result = client.infer(
        "params",
        [make_input("INPUT", np.zeros(1, dtype=np.float32))],
        sequence_id=42,
        sequence_start=True,
    )
    assert first(result, "CORRELATION_ID") == "42"
    assert first(result, "FLAGS") == "1"
    assert first(result, "PARAMS") == "{}"


# --------------------------------------------------------------------- errors


def test_a_continue_unknown_sequence(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(step, client, "seq_direct", 123456, 1)
    assert status_name(error) == "INVALID_ARGUMENT"
    assert error.message() == start_flag_text(123456, "seq_direct")


def test_a_prime_string_id(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(step, client, "seq_direct", "abc", 1)
    assert status_name(error) == "INVALID_ARGUMENT"
    assert error.message() == start_flag_text("abc", "seq_direct")


def test_a_prime_end_without_start(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(step, client, "seq_direct", 1006, 1, end=True)
    assert status_name(error) == "INVALID_ARGUMENT"
    assert error.message() == start_flag_text(1006, "seq_direct")


def test_a_prime_oldest_strategy(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(step, client, "seq_oldest", 1007, 1)
    assert status_name(error) == "INVALID_ARGUMENT"
    assert error.message() == start_flag_text(1007, "seq_oldest")


def test_b_zero_id_with_start(stub) -> None:
    request = raw_sequence_request(
        "seq_direct",
        sequence_id=("int64_param", 0),
        sequence_start=("bool_param", True),
    )
    error = expect_rpc_error(stub.ModelInfer, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == no_id_text("seq_direct")


def test_b_zero_id_without_flags(stub) -> None:
    request = raw_sequence_request("seq_direct", sequence_id=("int64_param", 0))
    error = expect_rpc_error(stub.ModelInfer, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == no_id_text("seq_direct")


def test_b_empty_string_id(stub) -> None:
    request = raw_sequence_request(
        "seq_direct",
        sequence_id=("string_param", ""),
        sequence_start=("bool_param", True),
    )
    error = expect_rpc_error(stub.ModelInfer, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == no_id_text("seq_direct")


def test_c_no_sequence_params(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(client.infer, "seq_direct", seq_input(1))
    assert status_name(error) == "INVALID_ARGUMENT"
    assert error.message() == no_id_text("seq_direct")


def test_c_start_without_id(stub) -> None:
    request = raw_sequence_request("seq_direct", sequence_start=("bool_param", True))
    error = expect_rpc_error(stub.ModelInfer, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == no_id_text("seq_direct")


def test_sequence_id_as_uint64_param_is_rejected(stub) -> None:
    request = raw_sequence_request(
        "seq_direct",
        sequence_id=("uint64_param", 1008),
        sequence_start=("bool_param", True),
        sequence_end=("bool_param", True),
    )
    error = expect_rpc_error(stub.ModelInfer, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == (
        "invalid value type for 'sequence_id' parameter, expected int64_param or string_param."
    )


def test_d_idle_timeout_forgets_the_sequence(client: grpcclient.InferenceServerClient) -> None:
    # seq_idle: max_sequence_idle_microseconds 500000.
    assert step(client, "seq_idle", 1009, 1, start=True)["OUTPUT"] == 1
    assert step(client, "seq_idle", 1009, 2)["OUTPUT"] == 3
    time.sleep(1.5)
    for end in (False, True):
        error = expect_error(step, client, "seq_idle", 1009, 1, end=end)
        assert status_name(error) == "INVALID_ARGUMENT"
        assert error.message() == start_flag_text(1009, "seq_idle")


# --------------------------------------------------------------------- slots and backlog


class Background:
    """Runs one sequence step in a thread and records when it finished."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.result: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.finished_at: float | None = None
        self._thread = threading.Thread(target=self._run, args=args, kwargs=kwargs, daemon=True)
        self._thread.start()

    def _run(self, *args: Any, **kwargs: Any) -> None:
        try:
            self.result = step(*args, **kwargs)
        except BaseException as error:
            self.error = error
        self.finished_at = time.monotonic()

    def join(self, timeout: float) -> dict[str, Any]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the backlogged request never finished"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def test_d_prime_backlog_waits_for_end(server) -> None:
    # seq_direct has one instance and max_batch_size 0: exactly one slot.
    first_client = grpcclient.InferenceServerClient(server.grpc_url)
    second_client = grpcclient.InferenceServerClient(server.grpc_url)
    try:
        assert step(first_client, "seq_direct", 1010, 1, start=True)["OUTPUT"] == 1
        waiting = Background(second_client, "seq_direct", 1011, 100, start=True)
        time.sleep(0.5)
        assert waiting.finished_at is None, "second sequence got a slot while the first held it"
        assert step(first_client, "seq_direct", 1010, 2)["OUTPUT"] == 3
        ended_at = time.monotonic()
        assert step(first_client, "seq_direct", 1010, 3, end=True)["OUTPUT"] == 6
        second = waiting.join(timeout=10)
        assert waiting.finished_at is not None and waiting.finished_at >= ended_at
        assert second["OUTPUT"] == 100
        assert second["CORRELATION_ID"] == "1011"
        assert step(second_client, "seq_direct", 1011, 1, end=True)["OUTPUT"] == 101
    finally:
        first_client.close()
        second_client.close()


def test_d_prime_backlog_waits_for_idle_eviction(server) -> None:
    first_client = grpcclient.InferenceServerClient(server.grpc_url)
    second_client = grpcclient.InferenceServerClient(server.grpc_url)
    try:
        step(first_client, "seq_idle", 1012, 1, start=True)
        started = time.monotonic()
        # START+END in one request: on 2.51 the idle clock of a backlogged sequence
        # runs from its arrival, so once it gets the slot it may be evicted at once;
        # a one-request sequence keeps this test free of that race.
        waiting = Background(second_client, "seq_idle", 1013, 7, start=True, end=True)
        second = waiting.join(timeout=15)
        assert waiting.finished_at is not None
        # Waited for the 0.5 s idle limit of the first sequence (loose bounds).
        assert 0.2 <= waiting.finished_at - started < 10
        assert (second["OUTPUT"], second["FLAGS"]) == (7, 3)
        # The first sequence was evicted silently.
        error = expect_error(step, first_client, "seq_idle", 1012, 1)
        assert error.message() == start_flag_text(1012, "seq_idle")
    finally:
        first_client.close()
        second_client.close()


def test_direct_two_instances_route_each_sequence_to_one_instance(server) -> None:
    clients = [grpcclient.InferenceServerClient(server.grpc_url) for _ in range(2)]
    try:
        ids = (1014, 1015)
        seen: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        for i, seq_client in zip(ids, clients, strict=True):
            seen[i].append(step(seq_client, "seq_count2", i, 1, start=True))
        for value in (2, 3):
            for i, seq_client in zip(ids, clients, strict=True):
                seen[i].append(step(seq_client, "seq_count2", i, value, end=value == 3))
        for i in ids:
            assert [s["OUTPUT"] for s in seen[i]] == [1, 3, 6]
            assert len({s["INSTANCE"] for s in seen[i]}) == 1
            assert len({s["PID"] for s in seen[i]}) == 1
        # Two slots, one per instance: the two live sequences were on different instances.
        instances = {seen[i][0]["INSTANCE"] for i in ids}
        assert instances == {"seq_count2_0_0", "seq_count2_0_1"}
        assert len({seen[i][0]["PID"] for i in ids}) == 2
    finally:
        for seq_client in clients:
            seq_client.close()


def test_oldest_keeps_each_sequence_on_one_instance(server) -> None:
    ids = list(range(1016, 1020))
    clients = {i: grpcclient.InferenceServerClient(server.grpc_url) for i in ids}
    seen: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            for value in (1, 2, 3, 4):
                seen[i].append(
                    step(clients[i], "seq_oldest", i, value, start=value == 1, end=value == 4)
                )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in ids]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors, errors
        for i in ids:
            assert [s["OUTPUT"] for s in seen[i]] == [1, 3, 6, 10]
            assert [s["FLAGS"] for s in seen[i]] == [1, 0, 0, 2]
            assert [s["OUT_CORRID"] for s in seen[i]] == [i] * 4
            assert {s["OUT_READY"] for s in seen[i]} == {1}
            assert len({s["INSTANCE"] for s in seen[i]}) == 1, seen[i]
            assert len({s["PID"] for s in seen[i]}) == 1
            assert seen[i][0]["_shape"] == [1, 1]
        used = {seen[i][0]["INSTANCE"] for i in ids}
        assert used <= {"seq_oldest_0_0", "seq_oldest_0_1"}
    finally:
        for seq_client in clients.values():
            seq_client.close()


@pytest.mark.tritonlite_only(
    reason="2.51 rejects every request to a TYPE_STRING CORRID model (mbs 0) with "
    "'unexpected number of string elements 2 for inference input 'CORRID', expecting 1'"
)
def test_string_corrid_control(client: grpcclient.InferenceServerClient) -> None:
    seen = [
        step(client, "seq_corrid_string", "abc", 1, start=True),
        step(client, "seq_corrid_string", "abc", 2, end=True),
    ]
    assert [s["OUTPUT"] for s in seen] == [1, 3]
    assert [s["OUT_CORRID"] for s in seen] == ["abc", "abc"]
    assert [s["CORRELATION_ID"] for s in seen] == ['"abc"', '"abc"']
