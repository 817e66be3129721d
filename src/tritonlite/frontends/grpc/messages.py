"""Encoders and decoders for the gRPC RPCs that are not inference: metadata, statistics,
the repository index, shared memory status and model load/unload parameters. Pure
functions over protobufs and core types; texts from Triton 2.51 ``src/grpc/grpc_server.cc``.
"""

from __future__ import annotations

from collections.abc import Iterable

from tritonclient.grpc import service_pb2

from tritonlite.core.errors import invalid_arg
from tritonlite.core.shared_memory import RegionStatus
from tritonlite.core.stats import BATCH_STAT_FIELDS, INFER_STAT_FIELDS, ModelStats, StatDuration
from tritonlite.core.types import ModelIndexEntry, ModelMetadata, ServerMetadata

__all__ = [
    "encode_model_metadata",
    "encode_model_statistics",
    "encode_repository_index",
    "encode_server_metadata",
    "encode_system_shared_memory_status",
    "load_parameters",
    "unload_dependents",
]



def encode_server_metadata(meta: ServerMetadata) -> service_pb2.ServerMetadataResponse:
    return service_pb2.ServerMetadataResponse(
        name=meta.name, version=meta.version, extensions=meta.extensions
    )


def encode_model_metadata(meta: ModelMetadata) -> service_pb2.ModelMetadataResponse:
    tensor = service_pb2.ModelMetadataResponse.TensorMetadata
    return service_pb2.ModelMetadataResponse(
        name=meta.name,
        versions=meta.versions,
        platform=meta.platform,
        inputs=[tensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in meta.inputs],
        outputs=[tensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in meta.outputs],
    )


def _set_duration(target: service_pb2.StatisticDuration, source: StatDuration) -> None:
    target.SetInParent()  # Triton lists every duration, zero or not
    target.count = source.count
    target.ns = source.ns


def encode_model_statistics(stats: Iterable[ModelStats]) -> service_pb2.ModelStatisticsResponse:
    response = service_pb2.ModelStatisticsResponse()
    for s in stats:
        model = response.model_stats.add(
            name=s.name,
            version=s.version,
            last_inference=s.last_inference_ms,
            inference_count=s.inference_count,
            execution_count=s.execution_count,
        )
        for field in INFER_STAT_FIELDS:
            _set_duration(getattr(model.inference_stats, field), getattr(s.inference_stats, field))
        for size in sorted(s.batch_stats):
            batch = s.batch_stats[size]
            entry = model.batch_stats.add(batch_size=batch.batch_size)
            for field in BATCH_STAT_FIELDS:
                _set_duration(getattr(entry, field), getattr(batch, field))
    return response


def encode_repository_index(
    entries: Iterable[ModelIndexEntry],
) -> service_pb2.RepositoryIndexResponse:
    index = service_pb2.RepositoryIndexResponse.ModelIndex
    return service_pb2.RepositoryIndexResponse(
        models=[
            index(name=e.name, version=e.version, state=e.state, reason=e.reason) for e in entries
        ]
    )


def load_parameters(request: service_pb2.RepositoryModelLoadRequest) -> dict[str, object]:
    """``config`` (JSON text) and ``file:<path>`` (bytes) parameters of a load request."""
    params: dict[str, object] = {}
    for key, param in request.parameters.items():
        kind = param.WhichOneof("parameter_choice")
        if key == "config":
            if kind != "string_param":
                raise invalid_arg(
                    f"invalid value type for load parameter '{key}', expected string_param."
                )
            params[key] = param.string_param
        elif key.startswith("file:"):
            if kind != "bytes_param":
                raise invalid_arg(
                    f"invalid value type for load parameter '{key}', expected bytes_param."
                )
            params[key] = param.bytes_param
        else:
            raise invalid_arg(f"unrecognized load parameter '{key}'.")
    return params


def unload_dependents(request: service_pb2.RepositoryModelUnloadRequest) -> bool:
    param = request.parameters.get("unload_dependents")
    if param is None:
        return False
    if param.WhichOneof("parameter_choice") != "bool_param":
        raise invalid_arg(
            "invalid value type for 'unload_dependents' parameter, expected bool_param."
        )
    return bool(param.bool_param)


def encode_system_shared_memory_status(
    regions: Iterable[RegionStatus],
) -> service_pb2.SystemSharedMemoryStatusResponse:
    """The regions by name (the client's ``regions`` map)."""
    status = service_pb2.SystemSharedMemoryStatusResponse.RegionStatus
    return service_pb2.SystemSharedMemoryStatusResponse(
        regions={
            r.name: status(name=r.name, key=r.key, offset=r.offset, byte_size=r.byte_size)
            for r in regions
        }
    )
