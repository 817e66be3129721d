"""Find the models in one or more repository directories.

The rules, as the reference Triton 2.51 applies them (observed unless noted):

* Every directory directly under a repository root is a model; files are ignored.
  Hidden directories (``.name``) are skipped: a deliberate difference, because the
  reference treats ``.ipynb_checkpoints`` and friends as models and fails to load them.
* A model name found in two repositories is an error for *both* copies:
  ``model appears in two or more repositories``.
* The configuration is ``<model>/configs/<name>.pbtxt`` when ``--model-config-name=<name>``
  is given and that file exists, else ``<model>/config.pbtxt``. A missing (or empty)
  file is allowed: the config starts as just the name and auto-complete fills it later.
* Version directories are sub-directories whose name is a decimal number; a name that
  starts with ``0`` (other than ``0`` itself) is ignored, as are names that are not
  numbers (the reference's ``stoll`` also accepts ``+5`` or ``1abc`` and then fails to load
  them; here they are simply ignored).
* ``version_policy`` picks the versions: ``latest { num_versions: N }`` (default N = 1)
  the N highest, ``all`` every one, ``specific`` the listed ones that exist. No version
  left is an error: ``at least one version must be available under the version policy of
  model '<m>'``.

Discovery only parses; normalizing (after the model's ``auto_complete_config``) and
validating are the caller's next steps.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tritonclient.grpc.model_config_pb2 import ModelConfig, ModelVersionPolicy

from tritonlite.core.errors import ErrorKind
from tritonlite.repository.autofill import PYTHON_MODEL_FILENAME
from tritonlite.repository.errors import ConfigError
from tritonlite.repository.pbtxt import parse_config

__all__ = [
    "DUPLICATE_MODEL_REASON",
    "DiscoveryResult",
    "LoadFailure",
    "ModelSource",
    "discover",
    "find_version_dirs",
    "read_model_source",
    "select_versions",
]

logger = logging.getLogger(__name__)

CONFIG_FILENAME = "config.pbtxt"
CONFIGS_DIRNAME = "configs"
DUPLICATE_MODEL_REASON = "model appears in two or more repositories"
_MAX_VERSION = 2**63 - 1


@dataclass(frozen=True)
class ModelSource:
    """One model directory, its parsed (not yet normalized) config and its versions.

    ``versions`` are the versions the version policy selects, ascending.
    ``version_dirs`` maps every numeric version directory that exists to its path (also
    the ones the policy did not select).
    """

    name: str
    repository: Path
    model_dir: Path
    config_path: Path | None
    config: ModelConfig
    versions: tuple[int, ...]
    version_dirs: Mapping[int, Path] = field(default_factory=dict)

    def model_file(self, version: int) -> Path:
        """``<version dir>/<default_model_filename or "model.py">``.

        (``runtime`` is not a file name for Python models: in Triton it names a backend
        library, or ``model.py`` of a Python-based *backend*, so it is not used here.)
        """
        filename = self.config.default_model_filename or PYTHON_MODEL_FILENAME
        return self.version_dirs[version] / filename


@dataclass(frozen=True)
class LoadFailure:
    """A model directory that could not become a :class:`ModelSource`."""

    name: str
    reason: str
    model_dir: Path | None = None


@dataclass
class DiscoveryResult:
    models: list[ModelSource] = field(default_factory=list)
    failures: list[LoadFailure] = field(default_factory=list)

    def get(self, name: str) -> ModelSource | None:
        return next((model for model in self.models if model.name == name), None)


def discover(
    repositories: Sequence[str | os.PathLike[str]], *, model_config_name: str = ""
) -> DiscoveryResult:
    """Scan the repository roots; every model ends up in ``models`` or ``failures``
    (both sorted by name). A root that is not a directory raises :class:`ConfigError`."""
    found: dict[str, list[Path]] = {}
    for root in map(Path, repositories):
        if not root.is_dir():
            raise ConfigError(f"failed to stat file {root}", kind=ErrorKind.INTERNAL)
        for entry in sorted(root.iterdir()):
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            found.setdefault(entry.name, []).append(root)

    result = DiscoveryResult()
    for name in sorted(found):
        roots = found[name]
        if len(roots) > 1:
            logger.error("failed to poll model '%s': not unique across all model "
                         "repositories", name)
            result.failures.append(LoadFailure(name, DUPLICATE_MODEL_REASON))
            continue
        try:
            result.models.append(
                read_model_source(roots[0], name, model_config_name=model_config_name))
        except ConfigError as exc:
            result.failures.append(LoadFailure(name, exc.message, roots[0] / name))
    return result


def read_model_source(
    repository: str | os.PathLike[str], name: str, *, model_config_name: str = ""
) -> ModelSource:
    """Read one model directory ``<repository>/<name>`` (also for an explicit load or a
    reload). Raises :class:`ConfigError` if the config does not parse or the version
    policy leaves no version."""
    root = Path(repository)
    model_dir = root / name
    if not model_dir.is_dir():
        raise ConfigError(f"failed to stat file {model_dir}", kind=ErrorKind.INTERNAL)
    config_path = _config_path(model_dir, model_config_name)
    if config_path is None:
        config = ModelConfig(name=name)
    else:
        try:
            text = config_path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{config_path}: cannot read ({exc.strerror})",
                              path=config_path) from exc
        config = parse_config(text, path=config_path)
    version_dirs = find_version_dirs(model_dir)
    versions = select_versions(config.version_policy, version_dirs, model_name=name)
    if not versions:
        raise ConfigError("at least one version must be available under the version "
                          f"policy of model '{name}'")
    return ModelSource(name=name, repository=root, model_dir=model_dir,
                       config_path=config_path, config=config, versions=versions,
                       version_dirs=version_dirs)


def _config_path(model_dir: Path, model_config_name: str) -> Path | None:
    candidates = [model_dir / CONFIG_FILENAME]
    if model_config_name:
        candidates.insert(0, model_dir / CONFIGS_DIRNAME / f"{model_config_name}.pbtxt")
    return next((path for path in candidates if path.is_file()), None)


def find_version_dirs(model_dir: str | os.PathLike[str]) -> dict[int, Path]:
    """Every version directory of a model, by version number."""
    versions: dict[int, Path] = {}
    for entry in Path(model_dir).iterdir():
        if not entry.is_dir():
            continue
        version = _parse_version_dirname(entry.name)
        if version is not None:
            versions[version] = entry
    return dict(sorted(versions.items()))


def _parse_version_dirname(dirname: str) -> int | None:
    if not (dirname.isascii() and dirname.isdigit()):
        if dirname not in (CONFIGS_DIRNAME, "warmup", "initial_state"):
            logger.warning("ignore version directory '%s' which fails to convert to "
                           "integral number", dirname)
        return None
    if len(dirname) > 1 and dirname.startswith("0"):
        logger.warning("ignore version directory '%s' which contains leading zeros in its "
                       "directory name", dirname)
        return None
    version = int(dirname)
    return version if version <= _MAX_VERSION else None


def select_versions(
    policy: ModelVersionPolicy, available: Iterable[int], *, model_name: str = ""
) -> tuple[int, ...]:
    """The versions ``policy`` picks from ``available``, ascending. An unset policy means
    ``latest { num_versions: 1 }``; a listed ``specific`` version that does not exist is
    logged and skipped, as the reference does."""
    existing = sorted(set(available))
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return tuple(existing)
    if choice == "specific":
        chosen = set()
        for version in policy.specific.versions:
            if version in existing:
                chosen.add(version)
            else:
                logger.error("version %d is specified for model '%s', but the version "
                             "directory is not present", version, model_name)
        return tuple(sorted(chosen))
    count = policy.latest.num_versions if choice == "latest" else 1
    return tuple(existing[len(existing) - count :]) if count > 0 else ()
