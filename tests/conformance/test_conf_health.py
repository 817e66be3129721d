"""Server health and metadata, gRPC health checking, repository index."""

from __future__ import annotations

import re
import time
import urllib.request

import numpy as np
import tritonclient.grpc as grpcclient
from conformance_utils import MODELS, make_input
from grpc_health.v1 import health_pb2, health_pb2_grpc

MODEL_NAMES = sorted(p.name for p in MODELS.iterdir() if p.is_dir())

# Extensions a client feature-detects and that tritonlite must implement.
REQUIRED_EXTENSIONS = {
    "sequence",
    "model_configuration",
    "model_repository",
    "statistics",
    "parameters",
    "binary_tensor_data",
}


def test_server_live_and_ready(client: grpcclient.InferenceServerClient) -> None:
    assert client.is_server_live() is True
    assert client.is_server_ready() is True


def test_server_metadata(client: grpcclient.InferenceServerClient) -> None:
    metadata = client.get_server_metadata()
    assert metadata.name == "triton"
    assert metadata.version == "2.51.0"
    extensions = list(metadata.extensions)
    assert len(extensions) == len(set(extensions)), extensions
    assert set(extensions) >= REQUIRED_EXTENSIONS, sorted(REQUIRED_EXTENSIONS - set(extensions))


def test_server_metadata_as_json(client: grpcclient.InferenceServerClient) -> None:
    metadata = client.get_server_metadata(as_json=True)
    assert metadata["name"] == "triton"
    assert "sequence" in metadata["extensions"]


def test_grpc_health_check_serving(channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    response = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert response.status == health_pb2.HealthCheckResponse.SERVING
    assert response.SerializeToString() == b"\x08\x01"


def test_model_ready(client: grpcclient.InferenceServerClient) -> None:
    for name in MODEL_NAMES:
        assert client.is_model_ready(name) is True, name
    assert client.is_model_ready("plain", "1") is True


def test_model_ready_unknown_is_false_not_error(client: grpcclient.InferenceServerClient) -> None:
    # gRPC ModelReady answers OK with ready=false for an unknown model or version.
    assert client.is_model_ready("no_such_model") is False
    assert client.is_model_ready("plain", "7") is False


def test_repository_index_lists_every_model_ready(client: grpcclient.InferenceServerClient) -> None:
    index = client.get_model_repository_index(as_json=True)
    models = {entry["name"]: entry for entry in index["models"]}
    assert sorted(models) == MODEL_NAMES
    for entry in models.values():
        assert entry.get("version") == "1", entry
        assert entry.get("state") == "READY", entry
        assert entry.get("reason", "") == "", entry


def test_repository_index_raw(stub) -> None:
    from tritonclient.grpc import service_pb2

    response = stub.RepositoryIndex(service_pb2.RepositoryIndexRequest(ready=True), timeout=10)
    names = sorted(model.name for model in response.models)
    assert names == MODEL_NAMES
    assert {model.state for model in response.models} == {"READY"}


def _metrics_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def test_metrics_endpoint_counts_inferences(
    client: grpcclient.InferenceServerClient, server
) -> None:
    client.infer("identity_fp32", [make_input("INPUT0", np.ones(2, dtype=np.float32))])
    pattern = re.compile(
        r'^nv_inference_request_success\{model="identity_fp32",version="1"\} (\d+)$', re.MULTILINE
    )
    # Counters are expected at once; the loop only tolerates a slow metrics listener.
    deadline = time.monotonic() + 10
    while True:
        try:
            text = _metrics_text(server.metrics_url)
        except OSError as error:
            text = f"<{error}>"
        match = pattern.search(text)
        if (match and int(match.group(1)) >= 1) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "# TYPE nv_inference_request_success counter" in text, text[:3000]
    assert match is not None, text[:3000]
    assert int(match.group(1)) >= 1
