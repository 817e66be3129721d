"""What the reference Triton 2.51 refuses in a (normalized) Python-model configuration.

:func:`validate_config` raises the first :class:`ConfigError` found, with the reference's
wording (each text was produced by the reference; see
``tests/unit/repository/data/invalid.json``). Checks run in the reference's order:

* POLL stage (``ValidateModelConfig`` + the directory-name check): name, platform/backend,
  ``max_batch_size``, dynamic batching, sequence-batching controls, ensemble shape,
  response cache.
* LOAD stage: instance groups, inputs/outputs, batch inputs/outputs, and the files a
  config names (``label_filename``, initial-state ``data_file``).

Accepted by the reference, so accepted here too: duplicate input or output names, an
input and an output with the same name, ``KIND_MODEL`` groups, ``platform`` set alongside
``backend: "python"``, duplicate ``state`` names. Not checked here: the ensemble data-flow
graph (steps wired to missing tensors or models).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from tritonclient.grpc.model_config_pb2 import (
    BatchInput,
    BatchOutput,
    DataType,
    ModelConfig,
    ModelInput,
    ModelInstanceGroup,
    ModelOutput,
    ModelQueuePolicy,
    ModelSequenceBatching,
)

from tritonlite.core.errors import ErrorKind
from tritonlite.repository.autofill import ENSEMBLE_PLATFORM
from tritonlite.repository.errors import ConfigError, Stage

__all__ = ["validate_config"]

_TENSORRT_PLATFORM = "tensorrt_plan"
_WILDCARD_DIM = -1
_Control = ModelSequenceBatching.Control
_CORRID_TYPES = (DataType.TYPE_UINT64, DataType.TYPE_INT64, DataType.TYPE_UINT32,
                 DataType.TYPE_INT32, DataType.TYPE_STRING)


def validate_config(config: ModelConfig, model_dir: str | os.PathLike[str] | None = None) -> None:
    """Raise :class:`ConfigError` for the first thing the reference rejects in ``config``.

    ``config`` must already be normalized (``normalize_config``). ``model_dir`` enables the
    checks that need the model's directory: its name must equal ``config.name``, and the
    label / initial-state files the config names must exist. ``ConfigError.stage`` tells
    whether the reference reports the problem when polling the repository or when loading
    a version.
    """
    directory = None if model_dir is None else Path(model_dir)
    _check_model_config(config)
    if directory is not None and config.name != directory.name:
        raise ConfigError(f"unexpected directory name '{directory.name}' for model "
                          f"'{config.name}', directory name must equal model name")
    _check_instance_groups(config)
    _check_io(config)
    if directory is not None:
        _check_files(config, directory)


def _fail(message: str, *, stage: Stage = Stage.POLL,
          kind: ErrorKind = ErrorKind.INVALID_ARG) -> ConfigError:
    return ConfigError(message, stage=stage, kind=kind)


# ------------------------------------------------------------------ POLL: the whole config


def _check_model_config(config: ModelConfig) -> None:
    name = config.name
    if not name:
        raise _fail("model configuration must specify 'name'")
    if not config.backend:
        if config.platform != ENSEMBLE_PLATFORM:
            raise _fail(f"unexpected platform type '{config.platform}' for {name}")
    elif config.platform == ENSEMBLE_PLATFORM:
        raise _fail(f"Ensemble model '{name}' must have platform type '{config.platform}' "
                    "and empty backend type")
    if config.max_batch_size < 0:
        raise _fail(f"'max_batch_size' must be non-negative value for {name}")
    if not config.HasField("version_policy"):
        raise _fail(f"must specify 'version policy' for {name}")
    if config.HasField("dynamic_batching"):
        _check_dynamic_batching(config)
    if config.HasField("sequence_batching"):
        _check_sequence_batching(config)
    if config.HasField("ensemble_scheduling"):
        _check_ensemble(config)
    elif config.platform == ENSEMBLE_PLATFORM:
        raise _fail(f"ensemble scheduling must be set for ensemble {name} whose platform is "
                    f"{ENSEMBLE_PLATFORM}")
    if config.model_transaction_policy.decoupled and config.response_cache.enable:
        raise _fail(f"Response Cache does not currently support model {name} with "
                    "'decoupled' transaction policy. Please disable the response cache.")


def _check_dynamic_batching(config: ModelConfig) -> None:
    name, batching = config.name, config.dynamic_batching
    for size in batching.preferred_batch_size:
        if size <= 0:
            raise _fail(f"dynamic batching preferred size must be positive for {name}")
        if size > config.max_batch_size:
            raise _fail(f"dynamic batching preferred size must be <= max batch size for {name}")
    levels = batching.priority_levels
    if levels != 0:
        if not 1 <= batching.default_priority_level <= levels:
            raise _fail(f"default priority level must be in range [1, {levels}] for {name}")
        for level in batching.priority_queue_policy:
            if not 1 <= level <= levels:
                raise _fail("priority queue policy must have priority level in range "
                            f"[1, {levels}] for {name}")
    if batching.preserve_ordering:
        if levels > 1:
            raise _fail("Only one priority level is allowed when 'preserve_ordering' is true "
                        f"for {name}")
        policies = [batching.default_queue_policy, *batching.priority_queue_policy.values()]
        for policy in policies:
            if (policy.default_timeout_microseconds != 0
                    and policy.timeout_action == ModelQueuePolicy.DELAY):
                raise _fail("Queue policy can not have DELAY as timeout action when "
                            f"'preserve_ordering' is true for {name}")


def _check_sequence_batching(config: ModelConfig) -> None:
    name, sequence = config.name, config.sequence_batching
    if config.response_cache.enable:
        raise _fail(f"Response Cache does not currently support model {name} with sequence "
                    "batching scheduler. Please disable the response cache.")
    for kind in (_Control.CONTROL_SEQUENCE_START, _Control.CONTROL_SEQUENCE_END,
                 _Control.CONTROL_SEQUENCE_READY):
        for control in _controls_of_kind(sequence, kind, name):
            _check_boolean_control(control, name)
    for control in _controls_of_kind(sequence, _Control.CONTROL_SEQUENCE_CORRID, name):
        kind_name = _Control.Kind.Name(control.kind)
        if control.int32_false_true or control.fp32_false_true or control.bool_false_true:
            raise _fail("sequence batching must not specify either 'int32_false_true', "
                        f"'fp32_false_true' or 'bool_false_true' for {kind_name} for {name}")
        if control.data_type not in _CORRID_TYPES:
            raise _fail(f"unexpected data type for control {kind_name} for {name}. Allowed "
                        "data types are TYPE_UINT64, TYPE_INT64, TYPE_UINT32, TYPE_INT32 and "
                        "TYPE_STRING")
    if sequence.HasField("oldest"):
        for size in sequence.oldest.preferred_batch_size:
            if size <= 0:
                raise _fail(
                    f"sequence batching preferred batch size must be positive for {name}")
            if size > config.max_batch_size:
                raise _fail("sequence batching preferred batch size must be <= max batch "
                            f"size for {name}")
    if sequence.HasField("direct"):
        utilization = sequence.direct.minimum_slot_utilization
        if utilization < 0.0 or utilization > 1.0 or math.isnan(utilization):
            raise _fail("sequence batching minimum slot utilization must be in range "
                        f"(0.0, 1.0] for {name}")


def _controls_of_kind(
    sequence: ModelSequenceBatching, kind: int, name: str
) -> list[ModelSequenceBatching.Control]:
    """The controls of one kind; checks tensor names the way Triton does on every pass."""
    seen_tensors: set[str] = set()
    found: list[ModelSequenceBatching.Control] = []
    for control_input in sequence.control_input:
        if not control_input.name:
            raise _fail(f"sequence batching control tensor must have a name for {name}")
        if control_input.name in seen_tensors:
            raise _fail(f"sequence batching control tensor '{control_input.name}' is "
                        f"specified for multiple control kinds for {name}")
        seen_tensors.add(control_input.name)
        for control in control_input.control:
            if control.kind != kind:
                continue
            if found:
                raise _fail(f"sequence batching specifies multiple {_Control.Kind.Name(kind)} "
                            f"tensors for {name}")
            found.append(control)
    return found


def _check_boolean_control(control: ModelSequenceBatching.Control, name: str) -> None:
    kind_name = _Control.Kind.Name(control.kind)
    given = [field for field in ("int32_false_true", "fp32_false_true", "bool_false_true")
             if len(getattr(control, field)) != 0]
    if not given:
        raise _fail("sequence batching must specify either 'int32_false_true', "
                    f"'fp32_false_true' or 'bool_false_true' for {kind_name} for {name}")
    if len(given) > 1:
        raise _fail("sequence batching specifies more than one from 'int32_false_true', "
                    f"'fp32_false_true' and 'bool_false_true' for {kind_name} for {name}")
    if len(getattr(control, given[0])) != 2:
        raise _fail(f"sequence batching control '{given[0]}' must have exactly 2 entries for "
                    f"{kind_name} for {name}")


def _check_ensemble(config: ModelConfig) -> None:
    name = config.name
    if config.platform != ENSEMBLE_PLATFORM:
        raise _fail(f"ensemble scheduling cannot be set for model '{name}' whose platform is "
                    f"not {ENSEMBLE_PLATFORM}")
    if config.instance_group:
        raise _fail(f"instance group should not be specified for ensemble '{name}'")
    if config.HasField("optimization"):
        raise _fail(f"optimization should not be specified for ensemble '{name}'")
    if config.model_warmup:
        raise _fail(f"model_warmup can not be specified for ensemble '{name}'")
    if not config.ensemble_scheduling.step:
        raise _fail(f"must specify 'step' for ensemble '{name}'")


# ------------------------------------------------------------------ LOAD: instance groups


def _check_instance_groups(config: ModelConfig) -> None:
    if config.HasField("ensemble_scheduling"):
        return
    name = config.name
    if not config.instance_group:
        raise _fail(f"must specify one or more 'instance group's for {name}", stage=Stage.LOAD)
    for group in config.instance_group:
        prefix = f"instance group {group.name} of model {name}"
        if group.kind == ModelInstanceGroup.KIND_MODEL:
            if group.gpus:
                raise _fail(f"{prefix} has kind KIND_MODEL but specifies one or more GPUs",
                            stage=Stage.LOAD)
        elif group.kind == ModelInstanceGroup.KIND_GPU:
            # Deliberate difference: Triton refuses KIND_GPU on a machine without GPUs;
            # tritonlite runs such instances on the CPU (and says so in the log), with
            # model_instance_device_id taken from ``gpus``, so GPU configs run unchanged.
            pass
        elif group.kind == ModelInstanceGroup.KIND_CPU:
            if group.gpus:
                raise _fail(f"{prefix} has kind KIND_CPU but specifies one or more GPUs",
                            stage=Stage.LOAD)
        else:
            raise _fail(f"{prefix} has unexpected kind KIND_AUTO", stage=Stage.LOAD,
                        kind=ErrorKind.INTERNAL)
        if group.profile and config.platform != _TENSORRT_PLATFORM:
            # Triton's text has no space before "specifies".
            raise _fail(f"{prefix} and platform {config.platform}specifies profile field "
                        "which is only supported for TensorRT models", stage=Stage.LOAD)


# ------------------------------------------------------------------ LOAD: inputs / outputs


def _check_io(config: ModelConfig) -> None:
    name = config.name
    try:
        for model_input in config.input:
            _check_tensor(model_input, config, "model input ")
            if (model_input.format in (ModelInput.FORMAT_NHWC, ModelInput.FORMAT_NCHW)
                    and len(model_input.dims) != 3):
                raise _fail("model input NHWC/NCHW require 3 dims")
            _check_tensor_platform(model_input, config, "input")
        for model_output in config.output:
            _check_tensor(model_output, config, "model output ")
            _check_tensor_platform(model_output, config, "output")
        _check_batch_io(config)
    except ConfigError as exc:
        raise _fail(f"{exc.message} for {name}", stage=Stage.LOAD) from None


def _check_tensor(tensor: ModelInput | ModelOutput, config: ModelConfig, prefix: str) -> None:
    if not tensor.name:
        raise _fail(f"{prefix}must specify 'name'")
    prefix = f"{prefix}'{tensor.name}' "
    if tensor.data_type == DataType.TYPE_INVALID:
        raise _fail(f"{prefix}must specify 'data_type'")
    if not tensor.dims:
        raise _fail(f"{prefix}must specify 'dims'")
    has_reshape = tensor.HasField("reshape")
    reshape: Sequence[int] = tensor.reshape.shape if has_reshape else ()
    if has_reshape and not reshape and config.max_batch_size == 0:
        raise _fail(f"{prefix}cannot have empty reshape for non-batching model as scalar "
                    "tensors are not supported")
    if any(dim < 1 and dim != _WILDCARD_DIM for dim in tensor.dims):
        raise _fail(f"{prefix}dimension must be integer >= 1, or -1 to indicate a "
                    "variable-size dimension")
    if not has_reshape:
        return
    if any(dim < 1 and dim != _WILDCARD_DIM for dim in reshape):
        raise _fail(f"{prefix}reshape dimensions must be integer >= 1, or -1 to indicate a "
                    "variable-size dimension")
    dims_size, reshape_size = _element_count(tensor.dims), _element_count(reshape)
    # An empty reshape (count 0) is allowed for dims with exactly one element.
    if dims_size != reshape_size and (reshape_size != 0 or dims_size != 1):
        raise _fail(f"{prefix}has different size for dims and reshape")
    if dims_size == _WILDCARD_DIM:
        dims_chunks, reshape_chunks = _chunk_counts(tensor.dims), _chunk_counts(reshape)
        if len(dims_chunks) != len(reshape_chunks):
            raise _fail(f"{prefix}has different number of variable-size dimensions for dims "
                        "and reshape")
        if dims_chunks != reshape_chunks:
            raise _fail(f"{prefix}has different size for dims and reshape")


def _check_tensor_platform(
    tensor: ModelInput | ModelOutput, config: ModelConfig, direction: str
) -> None:
    if config.platform != _TENSORRT_PLATFORM and tensor.is_shape_tensor:
        raise _fail("shape tensors are only supported for TensorRT platform")
    if tensor.is_non_linear_format_io:
        if config.platform != _TENSORRT_PLATFORM:
            raise _fail("Non-linear IO format is only supported for the TensorRT platform")
        if len(tensor.dims) != 3:
            raise _fail(f"Non-linear IO format {direction} requires 3 dims")


def _element_count(dims: Iterable[int]) -> int:
    """Triton's GetElementCount: 0 for no dims, -1 when any dim is -1."""
    count = 0
    for index, dim in enumerate(dims):
        if dim == _WILDCARD_DIM:
            return _WILDCARD_DIM
        count = dim if index == 0 else count * dim
    return count


def _chunk_counts(dims: Iterable[int]) -> list[int]:
    """Element counts of the runs of fixed dims between variable-size dims."""
    counts, current = [], 1
    for dim in dims:
        if dim == _WILDCARD_DIM:
            counts.append(current)
            current = 1
        else:
            current *= dim
    counts.append(current)
    return counts


def _check_batch_io(config: ModelConfig) -> None:
    input_names = {model_input.name for model_input in config.input}
    output_names = {model_output.name for model_output in config.output}
    for batch_input in config.batch_input:
        kind_name = BatchInput.Kind.Name(batch_input.kind)
        if len(batch_input.source_input) != 1:
            raise _fail(f"batch input kind '{kind_name}' expects 1 source input, got "
                        f"{len(batch_input.source_input)}")
        if batch_input.data_type not in (DataType.TYPE_INT32, DataType.TYPE_FP32):
            raise _fail("batch input data type must be TYPE_INT32 or TYPE_FP32")
        for source in batch_input.source_input:
            if source not in input_names:
                raise _fail(f"unknown source input name '{source}'")
    for batch_output in config.batch_output:
        kind_name = BatchOutput.Kind.Name(batch_output.kind)
        if len(batch_output.source_input) != 1:
            raise _fail(f"batch output kind '{kind_name}' expects 1 source input, got "
                        f"{len(batch_output.source_input)}")
        for source in batch_output.source_input:
            if source not in input_names:
                raise _fail(f"unknown source input name '{source}'")
        targets: set[str] = set()
        for target in batch_output.target_name:
            if target not in output_names:
                raise _fail(f"unknown target output name '{target}'")
            if target in targets:
                raise _fail(f"target output name '{target}' can only be specified once")
            targets.add(target)


# ------------------------------------------------------------------ LOAD: files


def _check_files(config: ModelConfig, model_dir: Path) -> None:
    files = [model_dir / output.label_filename
             for output in config.output if output.label_filename]
    if config.HasField("sequence_batching"):
        files += [model_dir / "initial_state" / initial.data_file
                  for state in config.sequence_batching.state
                  for initial in state.initial_state if initial.HasField("data_file")]
    for path in files:
        if not path.is_file():
            raise _fail(f"failed to open text file for read {path}: No such file or directory",
                        stage=Stage.LOAD, kind=ErrorKind.INTERNAL)
