"""Model repositories: find models, read ``config.pbtxt``, fill Triton's defaults, validate.

Pipeline for one model (the runner drives it)::

    result = discover([Path("models")])                # loader.py: parse only
    source = result.models[0]
    cfg = normalize_config(source.config, model_name=source.name)      # autofill.py
    cfg = apply_auto_complete(cfg, hook_result)        # if the model has auto_complete_config
    validate_config(cfg, source.model_dir)             # validate.py
    config_to_json(cfg)                                # pbtxt.py: the served JSON
"""

from tritonlite.repository.autofill import apply_auto_complete, normalize_config
from tritonlite.repository.errors import ConfigError, Stage
from tritonlite.repository.loader import (
    DiscoveryResult,
    LoadFailure,
    ModelSource,
    discover,
    read_model_source,
    select_versions,
)
from tritonlite.repository.pbtxt import (
    config_from_json,
    config_to_dict,
    config_to_json,
    parse_config,
)
from tritonlite.repository.validate import validate_config

__all__ = [
    "ConfigError",
    "DiscoveryResult",
    "LoadFailure",
    "ModelSource",
    "Stage",
    "apply_auto_complete",
    "config_from_json",
    "config_to_dict",
    "config_to_json",
    "discover",
    "normalize_config",
    "parse_config",
    "read_model_source",
    "select_versions",
    "validate_config",
]
