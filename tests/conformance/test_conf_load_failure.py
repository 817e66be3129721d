"""A model that fails to load, with and without --exit-on-error (extra servers)."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from conformance_utils import MODELS, copy_repository, expect_error, make_input, status_name

BROKEN_CONFIG = """name: "{name}"
backend: "python"
max_batch_size: 0
input [ {{ name: "INPUT0", data_type: TYPE_FP32, dims: [ -1 ] }} ]
output [ {{ name: "OUTPUT0", data_type: TYPE_FP32, dims: [ -1 ] }} ]
"""

BROKEN_SYNTAX = "def broken(:\n"

BROKEN_INIT = """import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        raise pb_utils.TritonModelException("cannot init: weights missing")

    def execute(self, requests):
        return []
"""


def make_repository(root: Path, broken: dict[str, str]) -> Path:
    """A repository with identity_fp32 plus the given broken models (name -> model.py)."""
    repository = root / "repository"
    copy_repository(repository / "identity_fp32", MODELS / "identity_fp32")
    for name, source in broken.items():
        (repository / name / "1").mkdir(parents=True)
        (repository / name / "config.pbtxt").write_text(BROKEN_CONFIG.format(name=name))
        (repository / name / "1" / "model.py").write_text(source)
    return repository


def settled_index(
    client: grpcclient.InferenceServerClient, names: set[str], timeout: float = 60
) -> dict:
    """The repository index once every model in ``names`` is listed and none is loading."""
    deadline = time.monotonic() + timeout
    while True:
        index = client.get_model_repository_index(as_json=True)
        models = {entry["name"]: entry for entry in index.get("models", [])}
        states = {entry.get("state") for entry in models.values()}
        settled = names <= set(models) and states <= {"READY", "UNAVAILABLE"}
        if settled or time.monotonic() > deadline:
            return models
        time.sleep(0.1)


def test_exit_on_error_false_keeps_serving(server_factory, tmp_path: Path) -> None:
    repository = make_repository(
        tmp_path, {"broken_syntax": BROKEN_SYNTAX, "broken_init": BROKEN_INIT}
    )
    extra = server_factory(repository, ["--exit-on-error=false"], wait="live")
    client = grpcclient.InferenceServerClient(extra.grpc_url)
    try:
        models = settled_index(client, {"broken_init", "broken_syntax", "identity_fp32"})
        assert sorted(models) == ["broken_init", "broken_syntax", "identity_fp32"]
        assert models["identity_fp32"]["state"] == "READY"

        syntax = models["broken_syntax"]
        assert syntax["state"] == "UNAVAILABLE"
        assert syntax["version"] == "1"
        # e.g. "Internal: SyntaxError: invalid syntax (model.py, line 1)"
        assert re.fullmatch(r"Internal: SyntaxError: .+ \(model\.py, line 1\)", syntax["reason"]), (
            syntax["reason"]
        )

        init = models["broken_init"]
        assert init["state"] == "UNAVAILABLE"
        assert init["reason"].startswith(
            "Internal: TritonModelException: cannot init: weights missing\n\nAt:\n"
        ), init["reason"]
        assert re.search(r"broken_init/1/model\.py\(\d+\): initialize\n$", init["reason"])

        # strict readiness: a failed model makes the server not ready, but it is live.
        assert client.is_server_live() is True
        assert client.is_server_ready() is False
        assert client.is_model_ready("broken_init") is False
        assert client.is_model_ready("identity_fp32") is True
        with pytest.raises(urllib.error.HTTPError) as http_error:
            urllib.request.urlopen(f"http://{extra.http_url}/v2/health/ready", timeout=10)
        assert http_error.value.code == 400
        http_error.value.close()

        data = np.array([1.0, 2.0], dtype=np.float32)
        result = client.infer("identity_fp32", [make_input("INPUT0", data)])
        np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), data)

        error = expect_error(client.infer, "broken_init", [make_input("INPUT0", data)])
        assert status_name(error) == "NOT_FOUND"
        assert (
            error.message() == "Request for unknown model: 'broken_init' has no available versions"
        )
    finally:
        client.close()
    assert extra.returncode() is None


def test_exit_on_error_default_exits_non_zero(server_factory, tmp_path: Path) -> None:
    repository = make_repository(tmp_path, {"broken_syntax": BROKEN_SYNTAX})
    extra = server_factory(repository, wait=None)
    code = extra.wait_exit(timeout=90)
    assert code is not None, "the server kept running although a model failed to load"
    assert code != 0
    log = extra.log()
    assert "broken_syntax" in log
    assert "failed to load" in log


WORKING = """import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        return [pb_utils.InferenceResponse([pb_utils.Tensor(
            "OUTPUT0", pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy())])
            for r in requests]
"""


def test_load_api_reports_which_version_failed(server_factory, tmp_path: Path) -> None:
    """Loading through the repository API: a version whose initialize raises is named with
    its reason (INVALID_ARG / HTTP 400); versions that did load are unloaded again (all or
    none); a failed reload keeps the old version serving."""
    repository = make_repository(tmp_path, {"broken_init": BROKEN_INIT})
    two = repository / "two_versions"
    for version, source in (("1", WORKING), ("2", BROKEN_INIT)):
        (two / version).mkdir(parents=True)
        (two / version / "model.py").write_text(source)
    (two / "config.pbtxt").write_text(
        BROKEN_CONFIG.format(name="two_versions") + "version_policy: { all { } }\n")
    reloaded = repository / "reloaded"
    (reloaded / "1").mkdir(parents=True)
    (reloaded / "1" / "model.py").write_text(WORKING)
    (reloaded / "config.pbtxt").write_text(BROKEN_CONFIG.format(name="reloaded"))

    extra = server_factory(repository, ["--model-control-mode=explicit"], wait="live")
    client = grpcclient.InferenceServerClient(extra.grpc_url)
    try:
        at = f"{repository}/broken_init/1/model.py"
        error = expect_error(client.load_model, "broken_init")
        assert status_name(error) == "INVALID_ARGUMENT"
        assert error.message() == (
            "load failed for model 'broken_init': version 1 is at UNAVAILABLE state: "
            "Internal: TritonModelException: cannot init: weights missing\n\nAt:\n"
            f"  {at}(6): initialize\n;\n")

        error = expect_error(client.load_model, "two_versions")
        assert status_name(error) == "INVALID_ARGUMENT"
        assert error.message().startswith(
            "load failed for model 'two_versions': version 2 is at UNAVAILABLE state: "
            "Internal: TritonModelException: cannot init: weights missing")
        assert "version 1" not in error.message()
        assert not client.is_model_ready("two_versions", "1")

        client.load_model("reloaded")
        (reloaded / "1" / "model.py").write_text(BROKEN_INIT)
        error = expect_error(client.load_model, "reloaded")
        assert status_name(error) == "INVALID_ARGUMENT"
        assert error.message().startswith(
            "load failed for model 'reloaded': version 1 is at UNAVAILABLE state: Internal: "
            "TritonModelException: cannot init: weights missing")
        assert client.is_model_ready("reloaded", "1")  # the old version still serves
        result = client.infer("reloaded", [make_input("INPUT0", np.ones(2, np.float32))])
        np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), np.ones(2, np.float32))
    finally:
        client.close()
