"""normalize_config against what the reference Triton 2.51 serves (fixtures in data/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tritonclient.grpc.model_config_pb2 import ModelConfig

from tritonlite.core.errors import ErrorKind
from tritonlite.repository.autofill import (
    apply_auto_complete,
    fill_backend_fields,
    normalize_config,
)
from tritonlite.repository.errors import ConfigError
from tritonlite.repository.pbtxt import (
    config_from_json,
    config_to_dict,
    config_to_json,
    parse_config,
)

DATA = Path(__file__).parent / "data"
# Cases whose served config only exists after the model's auto_complete_config ran.
AUTO_COMPLETE = {"ac_dyn", "ac_mbs"}
# Maps with several keys: the reference prints them in C++ hash order, we sort.
MAP_ORDER_DIFFERS = {"strings"}
CASES = sorted(p.name for p in DATA.iterdir() if (p / "served.json").is_file())


def _raw(case: str) -> ModelConfig:
    path = DATA / case / "config.pbtxt"
    # No config.pbtxt: the config starts as just the name (what the loader hands over).
    return parse_config(path.read_bytes(), path=path) if path.exists() else ModelConfig(name=case)


def _served(case: str) -> str:
    return (DATA / case / "served.json").read_text()


def test_there_are_enough_reference_cases() -> None:
    assert len(CASES) >= 30
    assert "jpg_model" in CASES


@pytest.mark.parametrize("case", sorted(set(CASES) - AUTO_COMPLETE))
def test_normalized_config_is_what_the_reference_serves(case: str) -> None:
    normalized = normalize_config(_raw(case), model_name=case)
    assert config_to_dict(normalized) == json.loads(_served(case))
    if case not in MAP_ORDER_DIFFERS:
        assert config_to_json(normalized) == _served(case)


def test_seed_matches_the_shared_reference_sample() -> None:
    sample = Path("/work/shared/reference-triton/jpg_model_config_as_served.json")
    if not sample.exists():
        pytest.skip("shared reference sample not present")
    assert sample.read_text().strip() == _served("jpg_model").strip()


@pytest.mark.parametrize("case", sorted(AUTO_COMPLETE))
def test_auto_complete_result_is_merged_like_the_reference(case: str) -> None:
    normalized = normalize_config(_raw(case), model_name=case)
    # What the hook returns: pb_utils.ModelConfig edits the JSON dict it was given
    # (set_max_batch_size / set_dynamic_batching set keys, add_input / add_output append).
    as_dict = config_to_dict(normalized)
    for key, value in json.loads((DATA / case / "auto_complete.json").read_text()).items():
        if key in ("input", "output"):
            as_dict[key].extend(value)
        else:
            as_dict[key] = value
    returned = config_from_json(as_dict)
    merged = apply_auto_complete(normalized, returned)
    assert config_to_json(merged) == _served(case)


@pytest.mark.parametrize("case", CASES)
def test_normalize_is_idempotent_and_pure(case: str) -> None:
    raw = _raw(case)
    before = raw.SerializeToString(deterministic=True)
    once = normalize_config(raw, model_name=case)
    assert raw.SerializeToString(deterministic=True) == before
    assert normalize_config(once, model_name=case) == once


def test_instance_group_names_and_defaults() -> None:
    config = normalize_config(parse_config(
        'backend: "python"\ninstance_group [ { count: 0 }, { name: "x" kind: KIND_AUTO }, '
        "{ kind: KIND_MODEL count: 3 } ]"), model_name="m")
    assert [(g.name, g.kind, g.count) for g in config.instance_group] == [
        ("m_0", 2, 1), ("x", 2, 1), ("m_2", 3, 3)]  # 2 = KIND_CPU, 3 = KIND_MODEL
    # No group at all: one group named after the model, without a suffix.
    assert [g.name for g in normalize_config(ModelConfig(), model_name="m").instance_group] == [
        "m"]


def test_dynamic_batching_preferred_size_needs_a_batching_model() -> None:
    unbatched = normalize_config(parse_config("dynamic_batching { }"), model_name="m")
    assert list(unbatched.dynamic_batching.preferred_batch_size) == []
    batched = normalize_config(parse_config("max_batch_size: 8 dynamic_batching { }"),
                               model_name="m")
    assert list(batched.dynamic_batching.preferred_batch_size) == [8]


def test_sequence_defaults() -> None:
    config = normalize_config(parse_config(
        "max_batch_size: 4 sequence_batching { oldest { max_candidate_sequences: 2 } }"),
        model_name="m")
    assert config.sequence_batching.max_sequence_idle_microseconds == 1_000_000
    assert list(config.sequence_batching.oldest.preferred_batch_size) == [4]
    assert not normalize_config(parse_config("sequence_batching { }"), model_name="m") \
        .sequence_batching.HasField("direct")


def test_default_max_batch_size_is_a_documented_no_op() -> None:
    config = normalize_config(parse_config("dynamic_batching { }"), model_name="m",
                              default_max_batch_size=16)
    assert config.max_batch_size == 0


def test_backend_fields() -> None:
    config = ModelConfig()
    fill_backend_fields(config, model_name="m")
    assert (config.name, config.backend, config.default_model_filename) == (
        "m", "python", "model.py")

    custom = ModelConfig(default_model_filename="other.py")
    with pytest.raises(ConfigError) as info:
        fill_backend_fields(custom, model_name="m")
    assert info.value.message == (
        "Invalid model name: Could not determine backend for model 'm' with no backend in "
        "model configuration. Expected model name of the form 'model.<backend_name>'.")

    # A platform and no backend is left for validation to reject, as the reference does.
    platform_only = ModelConfig(platform="python")
    fill_backend_fields(platform_only, model_name="m")
    assert platform_only.backend == "" and platform_only.default_model_filename == ""


def test_auto_complete_keeps_only_what_triton_keeps() -> None:
    base = normalize_config(parse_config('backend: "python"\nsequence_batching { }'),
                            model_name="m")
    returned = ModelConfig()
    returned.CopyFrom(base)
    returned.max_batch_size = 2
    returned.instance_group[0].count = 5  # dropped
    returned.parameters["p"].string_value = "v"  # dropped
    returned.model_transaction_policy.decoupled = True
    merged = apply_auto_complete(base, returned)
    assert merged.max_batch_size == 2
    assert merged.instance_group[0].count == 1
    assert "p" not in merged.parameters
    assert merged.model_transaction_policy.decoupled

    switched = ModelConfig()
    switched.CopyFrom(base)
    switched.dynamic_batching.SetInParent()
    with pytest.raises(ConfigError, match="Cannot update scheduling choice") as info:
        apply_auto_complete(base, switched)
    assert info.value.kind is ErrorKind.INTERNAL
