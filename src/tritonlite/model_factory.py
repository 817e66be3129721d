"""Turns a model source from the repository into a running ModelVersion.

The one place that knows all three sides: the repository's config, the Python backend's
instances and the schedulers. The scheduler is chosen from the ModelConfig's scheduling
oneof through the ``SCHEDULERS`` table; instances are named as Triton names them
(group ``<model>_<g>``, instance ``<group>_<i>``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from tritonclient.grpc import model_config_pb2

from tritonlite.backends.python.autocomplete import auto_complete, defines_hook
from tritonlite.backends.python.instances import InstanceSpec, PythonInstance
from tritonlite.core.cache import ResponseCache, parse_cache_config
from tritonlite.core.errors import ErrorKind, InferenceServerError
from tritonlite.core.interfaces import ModelInstance, ServerApi
from tritonlite.core.model import ModelVersion, signature_of
from tritonlite.core.settings import parse_bool
from tritonlite.core.stats import ModelStats
from tritonlite.options import ServerOptions
from tritonlite.repository.autofill import apply_auto_complete, normalize_config
from tritonlite.repository.loader import ModelSource
from tritonlite.repository.pbtxt import config_from_json, config_to_dict, config_to_json
from tritonlite.repository.validate import validate_config
from tritonlite.scheduling.base import Scheduler
from tritonlite.scheduling.batching import batch_inputs
from tritonlite.scheduling.default import DefaultScheduler
from tritonlite.scheduling.dynamic import DynamicBatcher
from tritonlite.scheduling.ensemble import EnsembleScheduler
from tritonlite.scheduling.sequence import IDLE_NOTIFY_PARAMETER, SequenceScheduler

log = logging.getLogger(__name__)

_KIND = {
    model_config_pb2.ModelInstanceGroup.KIND_CPU: "CPU",
    model_config_pb2.ModelInstanceGroup.KIND_GPU: "GPU",
    model_config_pb2.ModelInstanceGroup.KIND_MODEL: "MODEL",
    model_config_pb2.ModelInstanceGroup.KIND_AUTO: "CPU",
}


def _sequence(config: model_config_pb2.ModelConfig,
              instances: Sequence[ModelInstance]) -> Scheduler:
    param = config.parameters.get(IDLE_NOTIFY_PARAMETER)
    notify = param is not None and parse_bool(param.string_value) is True
    return SequenceScheduler(
        model_name=config.name,
        instances=instances,
        sequence_batching=config.sequence_batching,
        max_batch_size=config.max_batch_size,
        inputs=batch_inputs(config.input),
        idle_notify=notify,
        depth=pipeline_depth(config),
    )


#: Model parameter: how many requests a busy instance may hold (``"1"`` turns pipelining
#: off). The default scheduler pipelines, and so does the oldest sequence strategy when
#: every batch is one request. A dynamic_batching model never does: its queue policies
#: (max_queue_size, priorities, timeouts) act on requests that wait in its queue.
#: See scheduling/default.py and scheduling/dynamic.py.
PIPELINE_DEPTH_PARAMETER = "tritonlite_pipeline_depth"
DEFAULT_PIPELINE_DEPTH = 4


def pipeline_depth(config: model_config_pb2.ModelConfig) -> int:
    param = config.parameters.get(PIPELINE_DEPTH_PARAMETER)
    if param is None:
        return DEFAULT_PIPELINE_DEPTH
    text = param.string_value.strip()
    if not text.isdigit() or int(text) < 1:
        raise InferenceServerError(
            ErrorKind.INVALID_ARG,
            f"model '{config.name}': parameter {PIPELINE_DEPTH_PARAMETER} must be a "
            f"positive integer, got '{param.string_value}'")
    return int(text)


def _default(config: model_config_pb2.ModelConfig,
             instances: Sequence[ModelInstance]) -> Scheduler:
    return DefaultScheduler(instances, depth=pipeline_depth(config))


SCHEDULERS: dict[str | None, Callable[[model_config_pb2.ModelConfig, Sequence[ModelInstance]],
                                      Scheduler]] = {
    "sequence_batching": _sequence,
    "dynamic_batching": lambda config, instances: DynamicBatcher.from_config(
        model_name=config.name, instances=instances, dynamic_batching=config.dynamic_batching,
        max_batch_size=config.max_batch_size, inputs=batch_inputs(config.input)),
    None: _default,
}


def instance_specs(config: model_config_pb2.ModelConfig, source: ModelSource, version: int,
                   options: ServerOptions) -> list[InstanceSpec]:
    ring = int(options.backend_setting("python", "shm-default-byte-size", str(64 << 20)))
    ring = max(ring, 1 << 20)
    config_json = config_to_json(config)
    decoupled = config.model_transaction_policy.decoupled
    specs = []
    for group in config.instance_group:
        kind = _KIND.get(group.kind, "CPU")
        devices = list(group.gpus) if kind == "GPU" and group.gpus else [0]
        if kind == "GPU":
            log.info("instance group '%s' of model '%s' is KIND_GPU: it runs on the CPU here",
                     group.name, config.name)
        n = 0
        for device in devices:
            for _ in range(max(1, group.count)):
                specs.append(InstanceSpec(
                    name=f"{group.name}_{n}",
                    model_name=config.name,
                    version=version,
                    model_file=str(source.model_file(version)),
                    model_dir=str(source.model_dir),
                    version_dir=str(source.version_dirs[version]),
                    config_json=config_json,
                    decoupled=decoupled,
                    kind=kind,
                    device_id=device,
                    ring_bytes=ring,
                    log_verbose=options.log_verbose,
                ))
                n += 1
    return specs


class ModelFactory:
    def __init__(self, options: ServerOptions, server: ServerApi | None = None) -> None:
        self.options = options
        self.server = server  # reached by models through BLS and pb_utils.load_model
        self.cache = parse_cache_config(options.cache_config)  # one cache for all models

    async def config_for(self, source: ModelSource,
                         version: int) -> model_config_pb2.ModelConfig:
        """Normalize, let the model auto-complete it (Triton's order), then validate."""
        default_mbs = int(self.options.backend_setting("python", "default-max-batch-size", "4"))
        config = normalize_config(source.config, model_name=source.name,
                                  default_max_batch_size=default_mbs)
        model_file = source.model_file(version)
        if self.options.auto_complete and defines_hook(model_file):
            try:
                done = await auto_complete(model_file, source.model_dir,
                                           source.version_dirs[version], config_to_dict(config))
            except RuntimeError as exc:
                raise InferenceServerError(
                    ErrorKind.INTERNAL, str(exc).replace("\\n", "\n")) from exc
            config = apply_auto_complete(config, config_from_json(done))
        validate_config(config, source.model_dir)
        return config

    async def load(self, source: ModelSource, version: int) -> ModelVersion:
        config = await self.config_for(source, version)
        stats = ModelStats(config.name, str(version))
        if config.WhichOneof("scheduling_choice") == "ensemble_scheduling":
            return self._ensemble(config, version, stats)
        instances = [PythonInstance(spec, stats, self.server)
                     for spec in instance_specs(config, source, version, self.options)]
        results = await asyncio.gather(*(i.start() for i in instances), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            await asyncio.gather(*(i.stop() for i, r in zip(instances, results, strict=True)
                                   if not isinstance(r, BaseException)))
            first = errors[0]
            if isinstance(first, InferenceServerError):
                raise first
            raise InferenceServerError(ErrorKind.INTERNAL, f"{type(first).__name__}: {first}")
        oneof = config.WhichOneof("scheduling_choice")
        scheduler = SCHEDULERS.get(oneof, _default)(config, instances)
        labels = {o.name: (source.model_dir / o.label_filename).read_text().splitlines()
                  for o in config.output if o.label_filename}
        return ModelVersion(
            name=config.name,
            version=version,
            config=config,
            signature=signature_of(config),
            scheduler=scheduler,
            instances=list(instances),
            stats=stats,
            decoupled=config.model_transaction_policy.decoupled,
            labels=labels,
            cache=self._cache_for(config),
        )

    def _cache_for(self, config: model_config_pb2.ModelConfig) -> ResponseCache | None:
        if not config.response_cache.enable:
            return None
        if self.cache is None:
            log.warning("model '%s' enables response_cache but no cache is configured "
                        "(--cache-config local,size=N): caching is off", config.name)
            return None
        if config.HasField("sequence_batching") or config.model_transaction_policy.decoupled:
            log.warning("model '%s': the response cache does not support sequence or "
                        "decoupled models: caching is off", config.name)
            return None
        return self.cache

    def _ensemble(self, config: model_config_pb2.ModelConfig, version: int,
                  stats: ModelStats) -> ModelVersion:
        """An ensemble runs in the server (no worker process): steps call other models."""
        if self.server is None:
            raise InferenceServerError(ErrorKind.INTERNAL, "ensembles need a server")
        scheduler = EnsembleScheduler(model_name=config.name, version=str(version),
                                      ensemble_scheduling=config.ensemble_scheduling,
                                      server=self.server)
        return ModelVersion(name=config.name, version=version, config=config,
                            signature=signature_of(config), scheduler=scheduler, instances=[],
                            stats=stats, decoupled=config.model_transaction_policy.decoupled)

    async def unload(self, mv: ModelVersion) -> None:
        mv.scheduler.close()
        stops: list[Any] = [i.stop() for i in mv.instances]
        await asyncio.gather(*stops, return_exceptions=True)
