"""What a model sees at initialize: the args dict, get_model_dir(), and its own modules."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from conformance_utils import EXPECTED, first, make_input

ARGS_KEYS = {
    "model_config",
    "model_instance_kind",
    "model_instance_name",
    "model_instance_device_id",
    "model_repository",
    "model_version",
    "model_name",
}


@pytest.fixture(scope="module")
def seen(client: grpcclient.InferenceServerClient) -> tuple[dict, str]:
    result = client.infer("config_args", [make_input("INPUT", np.zeros((1, 2), dtype=np.float32))])
    return json.loads(first(result, "ARGS")), first(result, "MODEL_DIR")


def test_args_keys(seen: tuple[dict, str]) -> None:
    args, _ = seen
    assert set(args) == ARGS_KEYS
    assert all(isinstance(value, str) for value in args.values())


def test_args_values(seen: tuple[dict, str], server) -> None:
    args, _ = seen
    assert args["model_name"] == "config_args"
    assert args["model_version"] == "1"
    assert args["model_instance_kind"] == "CPU"
    assert args["model_instance_device_id"] == "0"
    # No instance_group in config.pbtxt: the group is named after the model, the
    # instance is "<group>_0". (With an explicit group it is "<model>_0_0".)
    assert args["model_instance_name"] == "config_args_0"
    # model_repository is the model's directory, not the repository root.
    assert args["model_repository"] == str(server.repository / "config_args")


def test_args_model_config_is_normalized_json(seen: tuple[dict, str]) -> None:
    args, _ = seen
    config = json.loads(args["model_config"])
    expected = json.loads((EXPECTED / "config_args.args_model_config.json").read_text())
    assert config == expected
    assert config["parameters"] == {"custom_key": {"string_value": "custom_value"}}
    assert config["dynamic_batching"]["preferred_batch_size"] == [4]


def test_get_model_dir_is_version_directory(seen: tuple[dict, str], server) -> None:
    _, model_dir = seen
    assert model_dir == str(server.repository / "config_args" / "1")


def test_instance_name_with_explicit_instance_group(
    client: grpcclient.InferenceServerClient,
) -> None:
    result = client.infer(
        "seq_direct",
        [make_input("INPUT", np.ones(1, dtype=np.int32))],
        sequence_id=990001,
        sequence_start=True,
        sequence_end=True,
    )
    assert first(result, "INSTANCE") == "seq_direct_0_0"


def test_each_model_imports_its_own_utils(client: grpcclient.InferenceServerClient) -> None:
    # two_utils_a/1/utils.py and two_utils_b/utils.py both define VALUE; each model's
    # `from utils import VALUE` must see its own (version dir and model dir are on sys.path).
    inputs = [make_input("INPUT", np.zeros(1, dtype=np.int32))]
    assert first(client.infer("two_utils_a", inputs), "VALUE") == "value from two_utils_a"
    assert first(client.infer("two_utils_b", inputs), "VALUE") == "value from two_utils_b"
    assert first(client.infer("two_utils_a", inputs), "VALUE") == "value from two_utils_a"
