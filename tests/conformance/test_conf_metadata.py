"""ModelMetadata and the normalized ModelConfig (compared with the reference's, recorded)."""

from __future__ import annotations

import json
import urllib.request

import pytest
import tritonclient.grpc as grpcclient
from conformance_utils import EXPECTED, MODELS, expect_error, status_name
from google.protobuf.json_format import MessageToDict

MODEL_NAMES = sorted(p.name for p in MODELS.iterdir() if p.is_dir())


def _io(entries) -> list[tuple[str, str, list[int]]]:
    return [(t.name, t.datatype, list(t.shape)) for t in entries]


def test_metadata_unbatched(client: grpcclient.InferenceServerClient) -> None:
    metadata = client.get_model_metadata("plain")
    assert metadata.name == "plain"
    assert list(metadata.versions) == ["1"]
    assert metadata.platform == "python"
    assert _io(metadata.inputs) == [("INPUT", "FP32", [2, 3])]
    assert _io(metadata.outputs) == [("OUTPUT", "FP32", [2, 3])]


def test_metadata_batched_has_minus_one_batch_dim(client: grpcclient.InferenceServerClient) -> None:
    metadata = client.get_model_metadata("plain_batch", "1")
    assert metadata.platform == "python"
    assert _io(metadata.inputs) == [("INPUT", "FP32", [-1, 3])]
    assert _io(metadata.outputs) == [("OUTPUT", "FP32", [-1, 3])]


def test_metadata_datatypes(client: grpcclient.InferenceServerClient) -> None:
    metadata = client.get_model_metadata("all_types", as_json=True)
    inputs = {t["name"]: (t["datatype"], t["shape"]) for t in metadata["inputs"]}
    assert inputs["IN_BYTES"] == ("BYTES", ["-1", "-1"])
    assert inputs["IN_FP16"] == ("FP16", ["-1", "-1"])
    assert inputs["IN_BOOL"] == ("BOOL", ["-1", "-1"])
    assert len(inputs) == 13


def test_metadata_sequence_model_hides_control_inputs(
    client: grpcclient.InferenceServerClient,
) -> None:
    metadata = client.get_model_metadata("seq_direct")
    assert _io(metadata.inputs) == [("INPUT", "INT32", [1])]
    batched = client.get_model_metadata("seq_oldest")
    assert _io(batched.inputs) == [("INPUT", "INT32", [-1, 1])]


def test_metadata_unknown_model(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(client.get_model_metadata, "no_such_model")
    assert status_name(error) == "NOT_FOUND"
    assert error.message() == "Request for unknown model: 'no_such_model' is not found"


def test_metadata_unknown_version(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(client.get_model_metadata, "plain", "7")
    assert status_name(error) == "NOT_FOUND"
    assert error.message() == "Request for unknown model: 'plain' version 7 is not found"


def test_metadata_non_numeric_version(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(client.get_model_metadata, "plain", "abc")
    assert status_name(error) == "INVALID_ARGUMENT"
    assert error.message() == (
        "failed to get model version from specified version string 'abc' (details: stol), "
        "version should be an integral value > 0"
    )


@pytest.mark.parametrize("model", MODEL_NAMES)
def test_model_config_matches_reference(
    client: grpcclient.InferenceServerClient, model: str
) -> None:
    served = MessageToDict(client.get_model_config(model).config, preserving_proto_field_name=True)
    expected = json.loads((EXPECTED / f"{model}.json").read_text())
    assert served == expected


def test_model_config_unknown_model(client: grpcclient.InferenceServerClient) -> None:
    error = expect_error(client.get_model_config, "no_such_model")
    assert status_name(error) == "NOT_FOUND"
    assert error.message() == "Request for unknown model: 'no_such_model' is not found"


def test_http_model_config_is_fully_normalized(server) -> None:
    # HTTP serves Triton's own JSON with every default spelled out, the same
    # document the model receives as args['model_config'].
    url = f"http://{server.http_url}/v2/models/config_args/config"
    with urllib.request.urlopen(url, timeout=10) as response:
        served = json.loads(response.read())
    expected = json.loads((EXPECTED / "config_args.args_model_config.json").read_text())
    assert served == expected
