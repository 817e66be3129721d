"""Record the reference Triton's served configs as the suite's expected fixtures.

Usage (from the project root)::

    /work/venv/bin/python tests/conformance/record_expected.py

Starts the reference on ``tests/conformance/models`` and writes

* ``expected/<model>.json``: gRPC ``ModelConfig`` of every model, as
  ``MessageToDict(preserving_proto_field_name=True)`` (proto3 JSON: defaults omitted);
* ``expected/config_args.args_model_config.json``: ``args['model_config']`` as
  the ``config_args`` model received it in ``initialize`` (Triton's JSON, every
  default spelled out).

Rerun it when a model's config.pbtxt changes, and review the diff.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient
from google.protobuf.json_format import MessageToDict

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conformance_utils import EXPECTED, MODELS, copy_repository, launch, make_input


def config_dict(client: grpcclient.InferenceServerClient, model: str) -> dict:
    response = client.get_model_config(model)
    return MessageToDict(response.config, preserving_proto_field_name=True)


def write(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print("wrote", path.relative_to(MODELS.parent))


def main() -> None:
    EXPECTED.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        repository = copy_repository(Path(tmp) / "models")
        server = launch("reference", repository, Path(tmp), name="record")
        try:
            server.wait_until("ready")
            client = grpcclient.InferenceServerClient(server.grpc_url)
            for model_dir in sorted(p for p in MODELS.iterdir() if p.is_dir()):
                write(EXPECTED / f"{model_dir.name}.json", config_dict(client, model_dir.name))
            result = client.infer(
                "config_args", [make_input("INPUT", np.zeros((1, 2), dtype=np.float32))]
            )
            args = json.loads(result.as_numpy("ARGS").reshape(-1)[0])
            write(EXPECTED / "config_args.args_model_config.json", json.loads(args["model_config"]))
            client.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
