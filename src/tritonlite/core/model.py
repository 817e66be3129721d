"""A loaded model version: its config, signature, instances, scheduler and statistics.

Built by the model factory (``tritonlite.model_factory``), which picks the backend and the
scheduler; the core only uses it through this plain record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tritonlite.core.cache import ResponseCache
from tritonlite.core.interfaces import ModelInstance
from tritonlite.core.stats import ModelStats
from tritonlite.core.tensor import DataType
from tritonlite.core.types import ModelMetadata, TensorMetadata
from tritonlite.core.validation import InputSpec, ModelSignature, ValidationMemo

if TYPE_CHECKING:
    from tritonclient.grpc import model_config_pb2

    from tritonlite.scheduling.base import Scheduler


def signature_of(config: model_config_pb2.ModelConfig) -> ModelSignature:
    inputs = {
        i.name: InputSpec(i.name, DataType.from_config(i.data_type),
                          tuple(i.dims), i.optional)
        for i in config.input
    }
    return ModelSignature(
        name=config.name,
        max_batch_size=config.max_batch_size,
        inputs=inputs,
        outputs=tuple(o.name for o in config.output),
        output_datatypes={o.name: DataType.from_config(o.data_type)
                          for o in config.output},
    )


def metadata_of(config: model_config_pb2.ModelConfig, versions: tuple[str, ...]) -> ModelMetadata:
    batch = (-1,) if config.max_batch_size > 0 else ()

    def meta(t: Any) -> TensorMetadata:
        dt = DataType.from_config(t.data_type)
        return TensorMetadata(t.name, dt.value, batch + tuple(t.dims))

    platform = config.platform or config.backend
    return ModelMetadata(
        name=config.name,
        versions=versions,
        platform=platform,
        inputs=tuple(meta(i) for i in config.input),
        outputs=tuple(meta(o) for o in config.output),
    )


@dataclass(eq=False)
class ModelVersion:
    """One loaded, servable version of a model."""

    name: str
    version: int
    config: model_config_pb2.ModelConfig
    signature: ModelSignature
    scheduler: Scheduler
    instances: list[ModelInstance]
    stats: ModelStats
    decoupled: bool = False
    labels: dict[str, list[str]] = field(default_factory=dict)  # output -> label_filename lines
    cache: ResponseCache | None = None  # set when response_cache is enabled and configured
    validated: ValidationMemo = field(default_factory=ValidationMemo)  # by request layout
