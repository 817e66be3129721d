"""Loading, reloading and unloading models: at start-up and through the repository API.

Modes (``--model-control-mode``), as Triton:

* ``none`` (default): every model in the repositories is loaded at start-up; the load and
  unload APIs answer UNAVAILABLE "explicit model load / unload is not allowed if polling is
  enabled" (Triton's text, also in NONE mode).
* ``explicit``: only ``--load-model`` names (``*`` = all) load at start-up; the APIs load,
  reload and unload. A reload brings the new versions up *before* the old ones go, so the
  model keeps serving; an unload waits for the model's in-flight requests (bounded by
  ``--exit-timeout-secs``) before finalizing it. Loading accepts Triton's overrides: a
  ``config`` parameter (JSON ModelConfig) and ``file:<version>/<name>`` contents, which
  together may define a model that is not on disk.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import tempfile
from dataclasses import replace
from pathlib import Path

from tritonlite.core.errors import ErrorKind, InferenceServerError
from tritonlite.core.lifecycle import ModelState
from tritonlite.core.model import ModelVersion
from tritonlite.core.registry import UNLOADED, Registry
from tritonlite.model_factory import ModelFactory
from tritonlite.options import ServerOptions
from tritonlite.repository.loader import (
    ModelSource,
    discover,
    read_model_source,
    select_versions,
)
from tritonlite.repository.pbtxt import config_from_json

log = logging.getLogger(__name__)


class ModelControl:
    def __init__(self, opts: ServerOptions, registry: Registry, factory: ModelFactory) -> None:
        self.opts = opts
        self.registry = registry
        self.factory = factory
        self.loaded: dict[str, dict[int, ModelVersion]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="tritonlite-models-")

    @property
    def explicit(self) -> bool:
        return self.opts.model_control_mode.lower() == "explicit"

    # ---- start-up ---------------------------------------------------------------------------
    async def load_startup(self) -> None:
        result = discover([Path(p) for p in self.opts.model_repository],
                          model_config_name=self.opts.model_config_name)
        wanted = set(self.opts.load_model)
        everything = not self.explicit or "*" in wanted
        self.registry.known.update(s.name for s in result.models)
        self.registry.known.update(f.name for f in result.failures)
        for failure in result.failures:
            if everything or failure.name in wanted:
                log.error("failed to load '%s': %s", failure.name, failure.reason)
                self.registry.set_failed(failure.name, f"Internal: {failure.reason}")
        sources = [s for s in result.models if everything or s.name in wanted]
        await asyncio.gather(*(self._load_source(s) for s in sources))

    # ---- one model --------------------------------------------------------------------------
    async def _load_source(self, source: ModelSource) -> InferenceServerError | None:
        """Load every version of ``source``, or none; returns the error the repository
        API answers when that failed (Triton's codes and texts)."""
        if not source.versions:
            reason = f"Internal: failed to load '{source.name}', no version is available"
            log.error("%s", reason)
            self.registry.set_failed(source.name, reason)
            return InferenceServerError(ErrorKind.INTERNAL,
                                        f"failed to load '{source.name}', {reason}")
        old = self.loaded.get(source.name, {})
        results = await asyncio.gather(*(self._load_version(source, v, v in old)
                                         for v in source.versions))
        new = {v: mv for v, mv in zip(source.versions, results, strict=True)
               if not isinstance(mv, str)}
        if len(new) != len(source.versions):
            for v, mv in new.items():  # all versions or none
                await self.factory.unload(mv)
                if v not in old:
                    self.registry.set_state(source.name, v, ModelState.UNAVAILABLE,
                                            reason=UNLOADED)
            for v in source.versions:
                if v in old:  # a failed reload keeps the old version serving
                    self.registry.set_state(source.name, v, ModelState.READY, model=old[v])
            failed = "".join(f"version {v} is at UNAVAILABLE state: {reason};"
                             for v, reason in zip(source.versions, results, strict=True)
                             if isinstance(reason, str))
            return InferenceServerError(
                ErrorKind.INVALID_ARG, f"load failed for model '{source.name}': {failed}\n")
        for v, mv in new.items():
            self.registry.set_state(source.name, v, ModelState.READY, model=mv)
        self.loaded[source.name] = new
        for v, mv in old.items():
            if v not in new:
                await self._retire(source.name, mv)
            else:
                await self.factory.unload(mv)
        return None

    async def _load_version(self, source: ModelSource, version: int,
                            reloading: bool) -> ModelVersion | str:
        """The loaded version, or why it failed."""
        if not reloading:
            self.registry.set_state(source.name, version, ModelState.LOADING)
        try:
            mv = await self.factory.load(source, version)
        except Exception as exc:  # one model's failure must not take the server down
            if isinstance(exc, InferenceServerError):
                reason = f"Internal: {exc.message}"
            else:
                log.exception("unexpected error loading '%s'", source.name)
                reason = f"Internal: {type(exc).__name__}: {exc}"
            log.error("failed to load '%s' version %d: %s", source.name, version, reason)
            if not reloading:
                self.registry.set_state(source.name, version, ModelState.UNAVAILABLE,
                                        reason=reason)
            return reason
        log.info("successfully loaded '%s' version %d", source.name, version)
        return mv

    async def _retire(self, name: str, mv: ModelVersion) -> None:
        """Stop serving ``mv``, wait for its in-flight requests, then finalize it."""
        self.registry.set_state(name, mv.version, ModelState.UNLOADING, model=mv)
        deadline = asyncio.get_running_loop().time() + self.opts.exit_timeout_secs
        while mv.stats.pending > 0 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        await self.factory.unload(mv)
        self.registry.set_state(name, mv.version, ModelState.UNAVAILABLE, reason=UNLOADED)
        log.info("successfully unloaded '%s' version %d", name, mv.version)

    # ---- the repository API (explicit mode) -------------------------------------------------
    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    def _source(self, name: str, parameters: dict[str, object]) -> ModelSource:
        files = {k[5:]: v for k, v in parameters.items() if k.startswith("file:")}
        config = parameters.get("config")
        if files and not config:
            raise InferenceServerError(
                ErrorKind.INTERNAL, f"failed to load '{name}', failed to poll from model "
                "repository")
        root: Path | None = None
        if files:  # a model defined by the request: written to a private repository
            root = Path(self._tmp.name) / f"{name}-{len(list(Path(self._tmp.name).iterdir()))}"
            for rel, content in files.items():
                data = content if isinstance(content, bytes) else base64.b64decode(str(content))
                path = root / name / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        else:
            for repo in self.opts.model_repository:
                if (Path(repo) / name).is_dir():
                    root = Path(repo)
                    break
        if root is None:
            raise InferenceServerError(
                ErrorKind.INTERNAL,
                f"failed to load '{name}', failed to poll from model repository")
        source = read_model_source(root, name, model_config_name=self.opts.model_config_name)
        if config:
            override = config_from_json(str(config), where=f"config of load request for '{name}'")
            if not override.name:
                override.name = name
            versions = select_versions(override.version_policy, source.version_dirs,
                                       model_name=name)
            source = replace(source, config=override, versions=versions)
        return source

    async def load(self, name: str, parameters: dict[str, object] | None = None) -> None:
        async with self._lock(name):
            try:
                source = self._source(name, dict(parameters or {}))
            except InferenceServerError as exc:
                if exc.kind is ErrorKind.INTERNAL:
                    raise
                raise InferenceServerError(ErrorKind.INTERNAL,
                                           f"failed to load '{name}': {exc.message}") from exc
            self.registry.known.add(name)
            error = await self._load_source(source)
            if error is not None:
                raise error

    async def unload(self, name: str, unload_dependents: bool = False) -> None:
        async with self._lock(name):
            versions = self.loaded.pop(name, {})
            await asyncio.gather(*(self._retire(name, mv) for mv in versions.values()))

    async def unload_all(self) -> None:
        names = list(self.loaded)
        await asyncio.gather(*(self.factory.unload(mv) for n in names
                               for mv in self.loaded.pop(n).values()), return_exceptions=True)
        self._tmp.cleanup()
