"""Scheduling for throughput: the dynamic batcher (batch sizes, queue size, priorities, queue
policies) and the sequence batcher across slots (direct null requests, oldest batching),
plus implicit state. Timing-based checks are loose on purpose: they must hold on both
the reference and tritonlite.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
from conformance_utils import expect_error, first, make_input, seq_input, status_name


class Call:
    """One request on its own client and thread; ``join()`` returns outputs or raises."""

    def __init__(self, url: str, fn: Callable[[grpcclient.InferenceServerClient], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None

        def run() -> None:
            client = grpcclient.InferenceServerClient(url)
            try:
                self.result = fn(client)
            except BaseException as error:  # re-raised by join()
                self.error = error
            finally:
                client.close()

        self._thread = threading.Thread(target=run)
        self._thread.start()

    def join(self, timeout: float = 30) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the request never finished"
        if self.error is not None:
            raise self.error
        return self.result


def infer(client: grpcclient.InferenceServerClient, model: str, value: float = 1.0,
          batch: int = 1, sleep_ms: int = 0, **kwargs: Any) -> dict[str, Any]:
    """One request to a batch_* dynamic model; its outputs' first elements."""
    data = np.full((batch, 1), value, dtype=np.float32)
    params = {"sleep_ms": sleep_ms} if sleep_ms else None
    result = client.infer(model, [make_input("INPUT", data)], parameters=params, **kwargs)
    out = {o.name: first(result, o.name) for o in result.get_response().outputs}
    out["OUTPUT_ARRAY"] = result.as_numpy("OUTPUT")
    return out


def stats(client: grpcclient.InferenceServerClient, model: str) -> dict[str, Any]:
    (model_stats,) = client.get_inference_statistics(model, as_json=True)["model_stats"]
    return model_stats


# ---- dynamic batching -------------------------------------------------------------------------
def test_concurrent_requests_share_an_execute(server) -> None:
    def one(value: int) -> dict[str, Any]:
        client = grpcclient.InferenceServerClient(server.grpc_url)
        try:
            return infer(client, "batch_dynamic", float(value))
        finally:
            client.close()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    for value, result in enumerate(results):
        assert result["OUTPUT"] == value  # each request got its own response
    assert max(r["N_REQUESTS"] for r in results) >= 2
    assert {r["INSTANCE"] for r in results} <= {"batch_dynamic_0_0", "batch_dynamic_0_1"}

    client = grpcclient.InferenceServerClient(server.grpc_url)
    try:
        model_stats = stats(client, "batch_dynamic")
    finally:
        client.close()
    assert int(model_stats["execution_count"]) < int(model_stats["inference_count"])
    assert max(int(b["batch_size"]) for b in model_stats["batch_stats"]) > 1


def test_a_queue_delay_under_a_millisecond_is_waited(
        client: grpcclient.InferenceServerClient) -> None:
    """A lone request waits the whole ``max_queue_delay_microseconds`` (400 us) for others
    to batch with, as Triton times it: the event loops' own timers count milliseconds,
    and tritonlite's batcher once sent such a request after ~40 us."""
    def queue() -> tuple[int, int]:
        inference = stats(client, "batch_short_delay")["inference_stats"]["queue"]
        return int(inference.get("count", 0)), int(inference.get("ns", 0))

    count, ns = queue()
    for value in (1.0, 2.0, 3.0):
        data = np.full((1, 3), value, dtype=np.float32)
        result = client.infer("batch_short_delay", [make_input("INPUT", data)])
        assert result.as_numpy("OUTPUT").tolist() == (data * 2).tolist()
    count2, ns2 = queue()
    assert count2 - count == 3
    assert (ns2 - ns) / 3 >= 400_000


def test_batch_sizes_add_up_to_the_preferred_size(server) -> None:
    # Two requests of batch 4 reach the preferred size 8 (filled in from max_batch_size)
    # long before the 0.5 s queue delay: one execute with both.
    calls = [Call(server.grpc_url, lambda c, v=v: infer(c, "batch_dynamic", v, batch=4))
             for v in (1.0, 2.0)]
    results = [call.join() for call in calls]
    for value, result in zip((1.0, 2.0), results, strict=True):
        assert result["OUTPUT_ARRAY"].tolist() == [[value]] * 4
        assert (result["N_REQUESTS"], result["BATCH_TOTAL"]) == (2, 8)


def test_batch_larger_than_max_batch_size(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(infer, client, "batch_dynamic", batch=9)
    assert status_name(error) == "INVALID_ARGUMENT"
    assert error.message() == ("[request id: <id_unknown>] inference request batch-size must be "
                               "<= 8 for 'batch_dynamic'")


def test_max_queue_size(server, client: grpcclient.InferenceServerClient) -> None:
    blocker = Call(server.grpc_url, lambda c: infer(c, "batch_queue_size", sleep_ms=1500))
    time.sleep(0.4)  # executing: the queue is empty again
    queued = [Call(server.grpc_url, lambda c: infer(c, "batch_queue_size")) for _ in range(2)]
    time.sleep(0.4)
    error = expect_error(infer, client, "batch_queue_size")
    assert status_name(error) == "UNAVAILABLE"
    assert error.message() == "[request id: <id_unknown>] Exceeds maximum queue size"
    error = expect_error(infer, client, "batch_queue_size", request_id="over")
    assert error.message() == "[request id: over] Exceeds maximum queue size"
    blocker.join()
    for call in queued:
        call.join()
    model_stats = stats(client, "batch_queue_size")
    assert int(model_stats["inference_count"]) == 3
    assert int(model_stats["inference_stats"]["fail"].get("count", 0)) == 0  # not counted


def test_priority_levels(server) -> None:
    blocker = Call(server.grpc_url, lambda c: infer(c, "batch_priority", sleep_ms=1000))
    time.sleep(0.3)
    low = Call(server.grpc_url, lambda c: infer(c, "batch_priority"))  # 0: default level 2
    time.sleep(0.1)
    high = Call(server.grpc_url, lambda c: infer(c, "batch_priority", priority=1))
    first_done, low_done, high_done = blocker.join(), low.join(), high.join()
    assert first_done["EXEC_INDEX"] < high_done["EXEC_INDEX"] < low_done["EXEC_INDEX"]


def test_queue_policy_timeouts(server, client: grpcclient.InferenceServerClient) -> None:
    # Level 1 (default): REJECT after 200 ms, a request timeout may only shorten it.
    # Level 2: DELAY after 100 ms. Level 3: no default timeout, so none applies.
    blocker = Call(server.grpc_url, lambda c: infer(c, "batch_timeout", sleep_ms=1500))
    time.sleep(0.3)
    calls = {
        "default": Call(server.grpc_url, lambda c: infer(c, "batch_timeout")),
        "longer": Call(server.grpc_url, lambda c: infer(c, "batch_timeout", timeout=5_000_000)),
        "delayed": Call(server.grpc_url, lambda c: infer(c, "batch_timeout", priority=2)),
        "no_default": Call(server.grpc_url,
                           lambda c: infer(c, "batch_timeout", priority=3, timeout=100_000)),
    }
    blocker.join()
    for name in ("default", "longer"):
        error = expect_error(calls[name].join)
        assert status_name(error) == "UNAVAILABLE", name
        assert error.message() == "Request timeout expired", name
    assert calls["delayed"].join()["OUTPUT"] == 1.0
    assert calls["no_default"].join()["TIMEOUT"] == 100_000  # request.timeout() is visible
    model_stats = stats(client, "batch_timeout")
    assert int(model_stats["inference_stats"]["fail"]["count"]) == 2


# ---- sequence batching --------------------------------------------------------------------------
def step(client: grpcclient.InferenceServerClient, model: str, sequence_id: int, value: int,
         start: bool = False, end: bool = False, sleep_ms: int = 0) -> dict[str, Any]:
    params = {"sleep_ms": sleep_ms} if sleep_ms else None
    result = client.infer(model, seq_input(value, batched=True), sequence_id=sequence_id,
                          sequence_start=start, sequence_end=end, parameters=params)
    return {"OUTPUT": first(result, "OUTPUT"), "BATCH": json.loads(first(result, "BATCH")),
            "INSTANCE": first(result, "INSTANCE")}


def test_direct_null_requests_pad_empty_slots(server,
                                               client: grpcclient.InferenceServerClient) -> None:
    model, a, b = "batch_seq_direct", 3001, 3002
    first_a = step(client, model, a, 1, start=True)  # slot 0
    assert [r["correlation_id"] for r in first_a["BATCH"]] == [a]
    first_b = step(client, model, b, 10, start=True)  # slot 1; slot 0 has nothing queued
    null, real = first_b["BATCH"]
    assert real["correlation_id"] == b and real["READY"] == [1] and real["START"] == [1]
    assert (null["correlation_id"], null["flags"], null["id"]) == (0, 0, "")
    assert (null["START"], null["END"], null["READY"], null["CORRID"]) == ([0], [0], [0], [0])
    assert (null["input_shape"], null["input_dtype"]) == ([1, 1], "int32")
    assert null["inputs"] == real["inputs"] == ["CORRID", "END", "INPUT", "READY", "START"]
    assert null["requested_outputs"] == []
    assert first_b["OUTPUT"] == 10

    # While b's request runs, queue one request for each sequence: one execute, two slots.
    running = Call(server.grpc_url, lambda c: step(c, model, b, 20, sleep_ms=500))
    time.sleep(0.25)
    both = [Call(server.grpc_url, lambda c: step(c, model, a, 2)),
            Call(server.grpc_url, lambda c: step(c, model, b, 30))]
    assert running.join()["OUTPUT"] == 30
    after_a, after_b = (call.join() for call in both)
    assert (after_a["OUTPUT"], after_b["OUTPUT"]) == (3, 60)
    assert [r["correlation_id"] for r in after_a["BATCH"]] == [a, b]
    assert [r["READY"] for r in after_a["BATCH"]] == [[1], [1]]

    assert step(client, model, a, 3, end=True)["OUTPUT"] == 6
    assert step(client, model, b, 40, end=True)["OUTPUT"] == 100
    # Null requests count in the batch statistics, not in the inference count.
    model_stats = stats(client, model)
    executed = sum(int(s["batch_size"]) * int(s["compute_infer"]["count"])
                   for s in model_stats["batch_stats"])
    assert executed > int(model_stats["inference_count"])


def test_oldest_batches_different_sequences(server) -> None:
    model, ids = "batch_seq_oldest", list(range(3101, 3105))
    starts = [Call(server.grpc_url, lambda c, i=i: step(c, model, i, i, start=True)) for i in ids]
    results = [call.join() for call in starts]
    assert [r["OUTPUT"] for r in results] == ids
    assert max(len(r["BATCH"]) for r in results) >= 2
    for result in results:
        cids = [r["correlation_id"] for r in result["BATCH"]]
        assert len(set(cids)) == len(cids) and 0 not in cids  # no null requests
        assert all(r["READY"] == [1] for r in result["BATCH"])
    ends = [Call(server.grpc_url, lambda c, i=i: step(c, model, i, 1, end=True)) for i in ids]
    assert [call.join()["OUTPUT"] for call in ends] == [i + 1 for i in ids]


def test_sequence_batcher_needs_batch_size_one(client: grpcclient.InferenceServerClient) -> None:
    data = np.ones((2, 1), dtype=np.int32)
    error = expect_error(client.infer, "batch_seq_oldest", [make_input("INPUT", data)],
                         sequence_id=3201, sequence_start=True)
    assert status_name(error) == "INVALID_ARGUMENT"
    assert error.message() == ("inference request to model 'batch_seq_oldest' must specify "
                               "batch-size 1 due to requirements of sequence batcher")


def test_implicit_state_is_seen_but_never_updated(client: grpcclient.InferenceServerClient) -> None:
    seen = []
    for value, start, end in ((5, True, False), (7, False, False), (9, False, True)):
        result = client.infer("batch_state", seq_input(value), sequence_id=3301,
                              sequence_start=start, sequence_end=end)
        assert [o.name for o in result.get_response().outputs] == ["STATE"]
        seen.append(json.loads(first(result, "STATE")))
    for state in seen:
        assert state["inputs"] == ["CORRID", "END", "INPUT", "INPUT_STATE", "READY", "START"]
        assert (state["shape"], state["dtype"], state["value"]) == ([1], "int32", [0])
