"""Fill in every default the reference Triton 2.51 fills, so the served config matches.

The reference does this in three steps, and the lead's pipeline mirrors them::

    raw = parse_config(...)                       # or ModelConfig(name=<dir>) if no file
    cfg = normalize_config(raw, model_name=...)   # what the model's auto_complete_config sees
    cfg = apply_auto_complete(cfg, updated)       # only if the model has the hook
    validate_config(cfg, model_dir)

Rules, each observed on the reference (probe configs and served JSON are the fixtures in
``tests/unit/repository/data``):

* ``name`` empty -> the model's directory name.
* ``backend`` empty and ``platform`` empty -> ``"python"`` (tritonlite serves Python models
  only; Triton decides this by finding ``<version>/model.py``). ``backend`` empty with
  ``default_model_filename`` other than ``model.py`` is Triton's "Invalid model name"
  error. ``default_model_filename`` empty -> ``"model.py"`` for the python backend.
* ``version_policy`` unset -> ``latest { num_versions: 1 }``.
* ``dynamic_batching`` set with no ``preferred_batch_size`` -> ``[max_batch_size]`` when
  ``max_batch_size > 0`` (left empty when it is 0).
* ``sequence_batching`` set: ``max_sequence_idle_microseconds`` 0/unset -> 1000000;
  ``oldest`` with no ``preferred_batch_size`` -> ``[max_batch_size]`` when > 0. No strategy
  is added when neither ``direct`` nor ``oldest`` is given. Control ``data_type`` stays
  ``TYPE_INVALID`` for boolean controls.
* Not an ensemble: ``optimization`` becomes present, with ``input_pinned_memory`` and
  ``output_pinned_memory`` ``{enable: true}`` unless given.
* Not an ensemble, instance groups: none given -> one group named ``<model>`` (no
  suffix!); a group without a name -> ``<model>_<index>``; ``KIND_AUTO`` -> ``KIND_CPU``
  (no GPUs); ``count < 1`` -> 1. ``KIND_GPU``/``KIND_MODEL`` are kept (validation rejects
  ``KIND_GPU`` on a machine without GPUs).
* Ensembles: ``model_transaction_policy`` becomes present (Triton sets ``decoupled`` from
  the steps; here it keeps the given value), no optimization, no instance groups.
* ``model_transaction_policy`` is otherwise left absent unless given.
"""

from __future__ import annotations

from tritonclient.grpc.model_config_pb2 import ModelConfig, ModelInstanceGroup

from tritonlite.core.errors import ErrorKind
from tritonlite.repository.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_SEQUENCE_IDLE_MICROSECONDS",
    "ENSEMBLE_PLATFORM",
    "PYTHON_BACKEND",
    "PYTHON_MODEL_FILENAME",
    "apply_auto_complete",
    "fill_backend_fields",
    "normalize_config",
]

PYTHON_BACKEND = "python"
PYTHON_MODEL_FILENAME = "model.py"
ENSEMBLE_PLATFORM = "ensemble"
DEFAULT_MAX_SEQUENCE_IDLE_MICROSECONDS = 1_000_000


def normalize_config(
    config: ModelConfig, *, model_name: str, default_max_batch_size: int = 4
) -> ModelConfig:
    """Return a copy of ``config`` with every default the reference fills for a Python
    model (see the module docstring). Idempotent. Raises :class:`ConfigError` when the
    backend cannot be determined.

    ``default_max_batch_size`` (``--backend-config=python,default-max-batch-size``) is
    accepted for symmetry with Triton's flag but changes nothing: the 2.51 Python backend
    never applies it (observed: a model with no ``max_batch_size`` whose
    ``auto_complete_config`` calls ``set_dynamic_batching()`` is served with
    ``max_batch_size: 0``).
    """
    del default_max_batch_size  # documented no-op, see above
    result = ModelConfig()
    result.CopyFrom(config)
    fill_backend_fields(result, model_name=model_name)
    _normalize_model_config(result)
    _normalize_instance_groups(result)
    return result


def fill_backend_fields(config: ModelConfig, *, model_name: str) -> None:
    """In place: ``name``, ``backend`` and ``default_model_filename``, the fields Triton
    fills before anything else (its ``AutoCompleteBackendFields``)."""
    if not config.name:
        config.name = model_name
    if config.platform == ENSEMBLE_PLATFORM and not config.backend:
        return
    if not config.backend:
        if config.default_model_filename == PYTHON_MODEL_FILENAME or (
            not config.platform and not config.default_model_filename
        ):
            config.backend = PYTHON_BACKEND
        elif not config.platform:
            # Triton's custom-backend rule: the backend is the model name's suffix.
            raise ConfigError(
                f"Invalid model name: Could not determine backend for model '{model_name}'"
                " with no backend in model configuration. Expected model name of the form"
                " 'model.<backend_name>'."
            )
    if config.backend == PYTHON_BACKEND and not config.default_model_filename:
        config.default_model_filename = PYTHON_MODEL_FILENAME


def apply_auto_complete(config: ModelConfig, updated: ModelConfig) -> ModelConfig:
    """Merge what a model's ``auto_complete_config`` returned into ``config``, keeping only
    what Triton keeps (its ``UpdateModelConfig``), and normalize again.

    Taken from ``updated``: ``max_batch_size``, ``input``, ``output``, the scheduler
    (only if ``config`` has none), and ``model_transaction_policy.decoupled`` (if set).
    Everything else the hook changed is dropped. Raises :class:`ConfigError` (INTERNAL)
    if the hook switched to a different scheduler.
    """
    result = ModelConfig()
    result.CopyFrom(config)
    result.max_batch_size = updated.max_batch_size
    del result.input[:]
    result.input.extend(updated.input)
    del result.output[:]
    result.output.extend(updated.output)
    mine = result.WhichOneof("scheduling_choice")
    theirs = updated.WhichOneof("scheduling_choice")
    if mine is None and theirs is not None:
        getattr(result, theirs).CopyFrom(getattr(updated, theirs))
    elif mine is not None and theirs is not None and mine != theirs:
        raise ConfigError(
            f"Cannot update scheduling choice from {mine} to {theirs} when auto-completing.",
            kind=ErrorKind.INTERNAL,
        )
    if updated.HasField("model_transaction_policy"):
        result.model_transaction_policy.decoupled = updated.model_transaction_policy.decoupled
    _normalize_model_config(result)
    return result


def _normalize_model_config(config: ModelConfig) -> None:
    """Triton's ``NormalizeModelConfig``; in place."""
    if not config.HasField("version_policy"):
        config.version_policy.latest.num_versions = 1

    if config.HasField("dynamic_batching"):
        batching = config.dynamic_batching
        if not batching.preferred_batch_size and config.max_batch_size > 0:
            batching.preferred_batch_size.append(config.max_batch_size)

    if config.HasField("sequence_batching"):
        sequence = config.sequence_batching
        if sequence.max_sequence_idle_microseconds == 0:
            sequence.max_sequence_idle_microseconds = DEFAULT_MAX_SEQUENCE_IDLE_MICROSECONDS
        if sequence.HasField("oldest"):
            oldest = sequence.oldest
            if not oldest.preferred_batch_size and config.max_batch_size > 0:
                oldest.preferred_batch_size.append(config.max_batch_size)

    if config.HasField("ensemble_scheduling"):
        # Triton sets this from the composing models (decoupled if any step is); it is
        # always present on a served ensemble config.
        config.model_transaction_policy.SetInParent()
    else:
        optimization = config.optimization
        optimization.SetInParent()
        if not optimization.HasField("input_pinned_memory"):
            optimization.input_pinned_memory.enable = True
        if not optimization.HasField("output_pinned_memory"):
            optimization.output_pinned_memory.enable = True


def _normalize_instance_groups(config: ModelConfig) -> None:
    """Triton's ``NormalizeInstanceGroup`` on a machine without GPUs; in place."""
    if config.HasField("ensemble_scheduling"):
        return
    if not config.instance_group:
        config.instance_group.add(name=config.name)
    for index, group in enumerate(config.instance_group):
        if not group.name:
            group.name = f"{config.name}_{index}"
        if group.kind == ModelInstanceGroup.KIND_AUTO:
            group.kind = ModelInstanceGroup.KIND_CPU
        if group.count < 1:
            group.count = 1
