"""validate_config reproduces what the reference Triton 2.51 rejects, word for word.

data/invalid.json holds each refused probe config with the reference's message, recorded
from its log (poll stage) or from the repository index ``reason`` (load stage).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tritonlite.core.errors import ErrorKind
from tritonlite.repository.autofill import normalize_config
from tritonlite.repository.errors import ConfigError, Stage
from tritonlite.repository.pbtxt import parse_config
from tritonlite.repository.validate import validate_config

DATA = Path(__file__).parent / "data"
# KIND_GPU groups are refused by the reference on a machine without GPUs; tritonlite runs
# them on the CPU on purpose (issue 5), so those recorded rejections become acceptances.
GPU_ON_CPU = {"inv_gpu", "inv_gpu_ids"}
_ALL: list[dict[str, Any]] = json.loads((DATA / "invalid.json").read_text())
INVALID = [c for c in _ALL if c["model"] not in GPU_ON_CPU]
ACCEPTED_GPU = [c for c in _ALL if c["model"] in GPU_ON_CPU]
IO = ('input [ { name: "INPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
      'output [ { name: "OUTPUT0" data_type: TYPE_FP32 dims: [ 4 ] } ]\n')


def _normalized(text: str, name: str = "m") -> Any:
    return normalize_config(parse_config(text), model_name=name)


def _rejection(text: str, name: str = "m", model_dir: Path | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        validate_config(_normalized(text, name), model_dir)
    return info.value


@pytest.mark.parametrize("case", ACCEPTED_GPU, ids=lambda case: case["model"])
def test_kind_gpu_is_accepted_and_runs_on_cpu(case: dict[str, Any], tmp_path: Path) -> None:
    model_dir = tmp_path / case["model"]
    model_dir.mkdir()
    validate_config(_normalized(case["config"], case["model"]), model_dir)


@pytest.mark.parametrize("case", INVALID, ids=lambda case: case["model"])
def test_reference_rejections(case: dict[str, Any], tmp_path: Path) -> None:
    model_dir = tmp_path / case["model"]
    model_dir.mkdir()
    error = _rejection(case["config"], case["model"], model_dir)
    assert error.message == case["message"]
    assert error.stage is Stage(case["stage"])
    assert error.kind is ErrorKind[case["kind"]]


def test_enough_rejections_recorded() -> None:
    assert len(INVALID) >= 40


@pytest.mark.parametrize("case", sorted(p.parent.name for p in DATA.glob("*/served.json")))
def test_everything_the_reference_served_is_valid(case: str) -> None:
    path = DATA / case / "config.pbtxt"
    raw = parse_config(path.read_bytes()) if path.exists() else parse_config("")
    validate_config(normalize_config(raw, model_name=case), DATA / case)


@pytest.mark.parametrize("text", [
    # All loaded fine on the reference.
    'backend: "python"\ninput [ { name: "A" data_type: TYPE_FP32 dims: [1] }, '
    '{ name: "A" data_type: TYPE_FP32 dims: [1] } ]\n',
    'backend: "python"\noutput [ { name: "B" data_type: TYPE_FP32 dims: [1] }, '
    '{ name: "B" data_type: TYPE_FP32 dims: [1] } ]\n',
    'backend: "python"\ninput [ { name: "X" data_type: TYPE_BF16 dims: [1] } ]\n'
    'output [ { name: "X" data_type: TYPE_FP32 dims: [1] } ]\n',
    'backend: "python"\n' + IO + 'sequence_batching { state [ { input_name: "S" output_name: '
    '"S" data_type: TYPE_INT32 dims: [1] }, { input_name: "S" output_name: "S2" data_type: '
    "TYPE_INT32 dims: [1] } ] }\n",
    'backend: "python"\n' + IO + "instance_group [ { count: -3 kind: KIND_CPU } ]\n",
    'backend: "python"\nmax_batch_size: 2\ninput [ { name: "A" data_type: TYPE_FP32 '
    "dims: [ 1 ] reshape { shape: [ ] } } ]\n",
])
def test_accepted_by_the_reference(text: str) -> None:
    validate_config(_normalized(text))


def test_variable_size_reshape_accepted_by_the_reference() -> None:
    validate_config(_normalized('backend: "python"\ninput [ { name: "A" data_type: TYPE_FP32 '
                                "dims: [ 2, 3, -1 ] reshape { shape: [ 6, -1 ] } } ]\n"))


def test_directory_name_must_equal_model_name(tmp_path: Path) -> None:
    error = _rejection('name: "other_name"\nbackend: "python"\n' + IO,
                       model_dir=tmp_path / "inv_name_mismatch")
    assert error.message == ("unexpected directory name 'inv_name_mismatch' for model "
                             "'other_name', directory name must equal model name")
    assert error.stage is Stage.POLL


def test_files_named_by_the_config_must_exist(tmp_path: Path) -> None:
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    error = _rejection('backend: "python"\n' + IO.split("\n")[0] + '\noutput [ { name: "B" '
                       'data_type: TYPE_FP32 dims: [1] label_filename: "nolabels.txt" } ]\n',
                       model_dir=model_dir)
    # Reference: "Internal: failed to open text file for read <model dir>/nolabels.txt:
    # No such file or directory".
    assert error.message == (f"failed to open text file for read {model_dir}/nolabels.txt: "
                             "No such file or directory")
    assert (error.kind, error.stage) == (ErrorKind.INTERNAL, Stage.LOAD)

    error = _rejection('backend: "python"\n' + IO + 'sequence_batching { state [ { input_name: '
                       '"I" output_name: "O" data_type: TYPE_FP32 dims: [1] initial_state [ { '
                       'name: "f" data_type: TYPE_FP32 dims: [1] data_file: "init.bin" } ] } ] }',
                       model_dir=model_dir)
    assert error.message == (f"failed to open text file for read {model_dir}/initial_state/"
                             "init.bin: No such file or directory")


# Rules read in Triton's sources, then confirmed on the reference (same texts).
@pytest.mark.parametrize(("text", "message"), [
    ('backend: "python"\ninput [ { name: "A" data_type: TYPE_FP32 dims: [ 2, -1, 3 ] '
     "reshape { shape: [ 6, -1 ] } } ]\n",
     "model input 'A' has different size for dims and reshape for m"),
    ('backend: "python"\ninput [ { name: "A" data_type: TYPE_FP32 dims: [ 2, -1 ] '
     "reshape { shape: [ -1, -1 ] } } ]\n",
     "model input 'A' has different number of variable-size dimensions for dims and reshape "
     "for m"),
    ('backend: "python"\ninput [ { name: "A" data_type: TYPE_FP32 dims: [ 2, -1, 3 ] '
     "reshape { shape: [ 3, -1, 2 ] } } ]\n",
     "model input 'A' has different size for dims and reshape for m"),
    ('backend: "python"\ninput [ { name: "A" data_type: TYPE_FP32 dims: [ 4 ] '
     "reshape { shape: [ 0, 4 ] } } ]\n",
     "model input 'A' reshape dimensions must be integer >= 1, or -1 to indicate a "
     "variable-size dimension for m"),
    ('backend: "python"\nmax_batch_size: 4\n' + IO + 'batch_output [ { target_name: [ '
     '"OUTPUT0", "OUTPUT0" ] kind: BATCH_SCATTER_WITH_INPUT_SHAPE source_input: [ "INPUT0" ] '
     "} ]\n", "target output name 'OUTPUT0' can only be specified once for m"),
    ('platform: "ensemble"\n' + IO + 'ensemble_scheduling { }\n',
     "must specify 'step' for ensemble 'm'"),
    ('backend: "python"\n' + IO + 'ensemble_scheduling { step [ { model_name: "x" } ] }\n',
     "ensemble scheduling cannot be set for model 'm' whose platform is not ensemble"),
])
def test_more_reference_rejections(text: str, message: str) -> None:
    assert _rejection(text).message == message
