from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import text_format
from tritonclient.grpc.model_config_pb2 import ModelConfig

from tritonlite.core.errors import ErrorKind, InferenceServerError
from tritonlite.repository.errors import ConfigError
from tritonlite.repository.pbtxt import (
    config_from_json,
    config_to_dict,
    config_to_json,
    parse_config,
)

DATA = Path(__file__).parent / "data"
IO = ('input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
      'output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]\n')
WHERE = "/models/m/config.pbtxt"


def _error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, path=WHERE)
    return info.value


# ------------------------------------------------------------------------------ parsing


def test_parse_seed_config() -> None:
    config = parse_config((DATA / "jpg_model" / "config.pbtxt").read_bytes())
    assert config.name == "jpg_model"
    assert [c.name for c in config.sequence_batching.control_input] == [
        "START", "READY", "END", "CORRID"]
    assert config.sequence_batching.max_sequence_idle_microseconds == 60_000_000


def test_empty_text_is_an_empty_config() -> None:
    assert parse_config("") == ModelConfig()
    assert parse_config(b"  # only a comment\n") == ModelConfig()


@pytest.mark.parametrize(("text", "message", "field"), [
    ('name: "m"\nbackend: "python"\nmax_batch_sise: 8\n',
     f"{WHERE}:3:1: unknown field 'max_batch_sise' in ModelConfig", "max_batch_sise"),
    ('input [ { name: "A"\n  dtype: TYPE_FP32 dims: [ 1 ] } ]\n',
     f"{WHERE}:2:3: unknown field 'dtype' in ModelInput", "dtype"),
    ('input [ { name: "A" data_type: TYPE_FLOAT dims: [1] } ]\n',
     f"{WHERE}:1:32: invalid value 'TYPE_FLOAT' for field 'data_type': enum DataType has no "
     "such value", "data_type"),
    ('backend: "python"\r\n  input [ { name: "A" data_type: TYPE_X } ]  \r\n',  # CRLF
     f"{WHERE}:2:34: invalid value 'TYPE_X' for field 'data_type': enum DataType has no "
     "such value", "data_type"),
    ('backend: "python"\nmax_batch_size: "eight"\n',
     f"{WHERE}:2:17: invalid value \"eight\" for field 'max_batch_size': expected integer",
     "max_batch_size"),
    ('max_batch_size: 8\n' + IO + 'dynamic_batching { }\nsequence_batching { }\n',
     f"{WHERE}:5:1: field 'sequence_batching' conflicts with field 'dynamic_batching' (both "
     "are in oneof 'scheduling_choice' of ModelConfig)", "sequence_batching"),
    ('max_batch_size: 8\ninput [ { name: "A" data_type: TYPE_FP32 dims: [ 4 ] }\n'
     'output [ ]\n',
     f"{WHERE}:3:1: syntax error in field 'input': expected \",\", found 'output'", "input"),
    ('max_batch_size: 1\nmax_batch_size: 2\n',
     f"{WHERE}:2:17: field 'max_batch_size' is set more than once in ModelConfig",
     "max_batch_size"),
    ('sequence_batching { control_input [ { name: "S" control [ { kind: START } ] } ] }\n',
     f"{WHERE}:1:67: invalid value 'START' for field 'kind': enum Kind has no such value",
     "kind"),
])
def test_parse_errors_name_file_line_and_field(text: str, message: str, field: str) -> None:
    error = _error(text)
    assert error.message == message
    assert error.field == field
    assert error.path == WHERE
    assert (error.line, error.column) == tuple(int(x) for x in message.split(":")[1:3])
    assert error.kind is ErrorKind.INVALID_ARG
    assert isinstance(error, InferenceServerError)
    assert isinstance(error.__cause__, text_format.ParseError)


def test_comments_and_strings_do_not_confuse_the_field_finder() -> None:
    text = ('# input [ { ] }\nparameters { key: "x { [" value { string_value: "]" } }\n'
            'input [ { name: "A" data_type: TYPE_NOPE dims: [1] } ]\n')
    assert _error(text).field == "data_type"


def test_non_utf8_bytes() -> None:
    with pytest.raises(ConfigError, match=r"^/models/m/config.pbtxt: not valid UTF-8"):
        parse_config(b'name: "\xff"', path=WHERE)


# ------------------------------------------------------------------------- JSON shape


def test_json_prints_defaults_repeated_and_maps_and_omits_unset_messages() -> None:
    shown = config_to_dict(parse_config('name: "m"\n' + IO))
    assert shown["max_batch_size"] == 0
    assert shown["batch_input"] == [] and shown["parameters"] == {}
    assert shown["input"][0] == {
        "name": "INPUT0", "data_type": "TYPE_FP32", "format": "FORMAT_NONE", "dims": [4],
        "is_shape_tensor": False, "allow_ragged_batch": False, "optional": False,
        "is_non_linear_format_io": False}
    for absent in ("version_policy", "optimization", "dynamic_batching",
                   "sequence_batching", "model_transaction_policy", "response_cache"):
        assert absent not in shown


def test_json_64_bit_integers_are_numbers_except_where_triton_leaves_strings() -> None:
    config = parse_config(
        'name: "m"\nversion_policy { specific { versions: [ 3, 9000000000 ] } }\n'
        "max_batch_size: 4\n" + IO +
        "dynamic_batching { max_queue_delay_microseconds: 100 "
        "priority_queue_policy { key: 2 value { default_timeout_microseconds: 7 } } }\n"
        "instance_group [ { secondary_devices [ { device_id: 3 } ] } ]\n")
    shown = config_to_dict(config)
    assert shown["version_policy"] == {"specific": {"versions": [3, 9000000000]}}
    assert shown["dynamic_batching"]["max_queue_delay_microseconds"] == 100
    assert shown["dynamic_batching"]["priority_queue_policy"]["2"][
        "default_timeout_microseconds"] == 7
    # Triton 2.51's ModelConfigToJson forgets this one (and graph_spec dims, initial_state
    # dims): observed "device_id":"3" on the reference.
    assert shown["instance_group"][0]["secondary_devices"] == [
        {"kind": "KIND_NVDLA", "device_id": "3"}]


def test_json_oneof_scalars_come_last_like_the_reference() -> None:
    served = (DATA / "seq_state" / "served.json").read_text()
    assert '"initial_state":[{"data_type":"TYPE_INT32","dims":["2"],"name":"init",' \
           '"zero_data":true}]' in served
    config = parse_config((DATA / "seq_state" / "config.pbtxt").read_text())
    assert '"dims":["2"],"name":"init","zero_data":true}' in config_to_json(config)


def test_json_floats_like_cpp_protobuf_then_rapidjson() -> None:
    config = parse_config(
        "sequence_batching { direct { minimum_slot_utilization: 0.1 } control_input [ "
        '{ name: "S" control [ { kind: CONTROL_SEQUENCE_START fp32_false_true: '
        "[ 0, 1000000 ] } ] }, "
        '{ name: "E" control [ { kind: CONTROL_SEQUENCE_END fp32_false_true: '
        "[ 1e-7, 0.00001 ] } ] } ] }")
    text = config_to_json(config)
    assert '"minimum_slot_utilization":0.1}' in text
    assert '"fp32_false_true":[0,1000000.0]' in text
    assert '"fp32_false_true":[1e-7,0.00001]' in text


def test_json_unicode_and_escapes() -> None:
    config = ModelConfig(name="m")
    config.parameters["k"].string_value = 'h\u00e9 "q" \\ \t'
    assert config_to_json(config).endswith(
        '"parameters":{"k":{"string_value":"h\u00e9 \\"q\\" \\\\ \\t"}},"model_warmup":[]}')


# ----------------------------------------------------------------------- JSON -> config


@pytest.mark.parametrize("served", sorted(DATA.glob("*/served.json")),
                         ids=lambda p: p.parent.name)
def test_served_json_round_trips(served: Path) -> None:
    text = served.read_text()
    assert config_to_dict(config_from_json(text)) == json.loads(text)
    assert config_to_dict(config_from_json(json.loads(text))) == json.loads(text)


def test_config_from_json_rejects_unknown_fields() -> None:
    with pytest.raises(ConfigError, match=r"^load request: .*max_batch_sise") as info:
        config_from_json('{"name": "m", "max_batch_sise": 2}', where="load request")
    assert info.value.kind is ErrorKind.INVALID_ARG
    with pytest.raises(ConfigError):
        config_from_json("{not json")
