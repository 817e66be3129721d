"""Model control: NONE mode refuses, EXPLICIT mode loads, reloads (with overrides), unloads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

MODELS = Path(__file__).resolve().parent / "models"


def add(client: grpcclient.InferenceServerClient, n: int = 4) -> np.ndarray:
    a = grpcclient.InferInput("INPUT0", [n], "FP32")
    a.set_data_from_numpy(np.ones(n, np.float32))
    b = grpcclient.InferInput("INPUT1", [n], "FP32")
    b.set_data_from_numpy(np.ones(n, np.float32))
    return client.infer("add_sub", [a, b]).as_numpy("OUTPUT0")


def test_none_mode_refuses_load_and_unload(start_server) -> None:
    server = start_server(MODELS)
    client = grpcclient.InferenceServerClient(server.grpc_url)
    for call in (client.load_model, client.unload_model):
        with pytest.raises(InferenceServerException) as ei:
            call("add_sub")
        assert ei.value.status() == "StatusCode.UNAVAILABLE"
        assert ei.value.message() == ("explicit model load / unload is not allowed if polling "
                                      "is enabled")


def test_explicit_mode(start_server) -> None:
    server = start_server(MODELS, ["--model-control-mode=explicit", "--load-model=add_sub"])
    client = grpcclient.InferenceServerClient(server.grpc_url)
    index = {m["name"]: m for m in client.get_model_repository_index(as_json=True)["models"]}
    assert index["add_sub"]["state"] == "READY"
    assert "state" not in index["repeat"]  # found on disk, not loaded
    assert not client.is_model_ready("repeat")

    client.load_model("repeat")
    assert client.is_model_ready("repeat")

    # A config override (dims 2 instead of 4) is used; a plain load goes back to disk.
    cfg = client.get_model_config("add_sub", as_json=True)["config"]
    for t in (*cfg["input"], *cfg["output"]):
        t["dims"] = ["2"]
    client.load_model("add_sub", config=json.dumps(cfg))
    assert add(client, 2).tolist() == [2, 2]
    client.load_model("add_sub")
    assert add(client, 4).tolist() == [2, 2, 2, 2]

    client.unload_model("add_sub")
    assert not client.is_model_ready("add_sub")
    assert client.is_server_ready()  # an unloaded model does not make the server unready
    with pytest.raises(InferenceServerException, match="has no available versions"):
        add(client)
    client.unload_model("no_such_model")  # Triton answers OK
    with pytest.raises(InferenceServerException) as ei:
        client.load_model("no_such_model")
    assert ei.value.message() == ("failed to load 'no_such_model', failed to poll from model "
                                  "repository")
    client.load_model("add_sub")
    assert add(client).tolist() == [2, 2, 2, 2]
