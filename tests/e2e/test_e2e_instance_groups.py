"""Instance groups: names, kinds and device ids as Triton forms them; KIND_GPU runs on the
CPU here (and says so); requests spread over instances so none waits behind a busy one."""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

MODELS = Path(__file__).resolve().parent / "models"


def test_groups_names_kinds_and_parallelism(start_server) -> None:
    server = start_server(MODELS, ["--model-control-mode=explicit", "--load-model=groups"])
    assert "runs on the CPU here" in server.log()

    def call(seconds: float) -> dict:
        client = grpcclient.InferenceServerClient(server.grpc_url)
        i = grpcclient.InferInput("SECONDS", [1], "FP32")
        i.set_data_from_numpy(np.array([seconds], np.float32))
        return json.loads(client.infer("groups", [i]).as_numpy("WHO")[0])

    start = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        seen = list(pool.map(call, [1.0] * 4))
    elapsed = time.monotonic() - start
    names = sorted(s["model_instance_name"] for s in seen)
    assert names == ["accel_0", "accel_1", "groups_0_0", "groups_0_1"]
    kinds = {s["model_instance_name"]: (s["model_instance_kind"], s["model_instance_device_id"])
             for s in seen}
    assert kinds["accel_0"] == ("GPU", "0") and kinds["accel_1"] == ("GPU", "1")
    assert kinds["groups_0_0"] == ("CPU", "0")
    assert len({s["pid"] for s in seen}) == 4  # one worker process per instance
    assert elapsed < 3.0, elapsed  # four 1 s requests ran side by side, not one after another


@pytest.mark.skipif(not hasattr(os, "SCHED_BATCH"), reason="Linux scheduling policy")
@pytest.mark.parametrize(("flag", "policy"), [((), "SCHED_BATCH"),
                                              (("--sched-batch=false",), "SCHED_OTHER")])
def test_server_and_workers_scheduling_policy(start_server, flag, policy) -> None:
    server = start_server(MODELS, ["--model-control-mode=explicit", "--load-model=groups",
                                   *flag])
    client = grpcclient.InferenceServerClient(server.grpc_url)
    i = grpcclient.InferInput("SECONDS", [1], "FP32")
    i.set_data_from_numpy(np.array([0.0], np.float32))
    worker = json.loads(client.infer("groups", [i]).as_numpy("WHO")[0])["pid"]
    for pid in (server.proc.pid, worker):
        threads = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
        assert {os.sched_getscheduler(t) for t in threads} == {getattr(os, policy)}, pid
