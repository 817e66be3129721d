"""``TritonPythonModel.auto_complete_config`` in a throw-away process, as Triton runs it.

The server calls :func:`auto_complete` with the normalized config as JSON; a short-lived
``python -m tritonlite.backends.python.autocomplete`` imports the model file the way the
stub does, calls the static hook with a ``pb_utils.ModelConfig`` and writes the completed
config back as JSON. A model that defines no hook costs nothing: the file is checked for
the name before any process starts.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

HOOK = "auto_complete_config"


def defines_hook(model_file: Path) -> bool:
    try:
        return HOOK in model_file.read_text(errors="replace")
    except OSError:
        return False


async def auto_complete(model_file: Path, model_dir: Path, version_dir: Path,
                        config: dict[str, Any]) -> dict[str, Any]:
    """Run the hook; returns the completed config dict. Raises RuntimeError with the
    model's error (worded like Triton's load failure reasons) if it fails."""
    with tempfile.TemporaryDirectory(prefix="tritonlite-autocomplete-") as tmp:
        src, dst = Path(tmp) / "in.json", Path(tmp) / "out.json"
        src.write_text(json.dumps(config))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tritonlite.backends.python.autocomplete",
            str(model_file), str(model_dir), str(version_dir), str(src), str(dst),
            stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        if proc.returncode != 0 or not dst.exists():
            text = err.decode(errors="replace").strip().splitlines()
            raise RuntimeError(text[-1] if text else f"exit code {proc.returncode}")
        result: dict[str, Any] = json.loads(dst.read_text())
        return result


def main(argv: list[str]) -> int:
    model_file, model_dir, version_dir, src, dst = argv
    from tritonlite.backends.python import pb_utils
    from tritonlite.backends.python.stub import _import_model, format_exception

    for p in (model_dir, version_dir):
        sys.path.insert(0, p)
    pb_utils._set_model_dir(version_dir)
    try:
        module = _import_model(model_file, Path(version_dir).name)
        cls = module.TritonPythonModel
        config = pb_utils.ModelConfig(Path(src).read_text())
        hook = getattr(cls, HOOK, None)
        if hook is not None:
            config = hook(config)
        if not isinstance(config, pb_utils.ModelConfig):
            raise TypeError(f"{HOOK} must return the pb_utils.ModelConfig it was given")
        Path(dst).write_text(json.dumps(config.as_dict()))
    except BaseException as exc:
        sys.stderr.write(format_exception(exc).replace("\n", "\\n") + "\n")
        sys.stderr.flush()
        os._exit(1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
