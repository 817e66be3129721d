"""``tritonlite serve`` as a process: start-up table, exit-on-error, SIGTERM, idle notify."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

ROOT = Path(__file__).resolve().parents[2]
ServerFactory = Callable[..., Any]

SLOW = '''
import time
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        out = []
        for r in requests:
            x = pb_utils.get_input_tensor_by_name(r, "INPUT").as_numpy()
            time.sleep(float(x[0]))
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT", x)]))
        return out

    def finalize(self):
        pb_utils.Logger.log_info("slow model finalized")
'''

SLOW_CONFIG = '''
name: "slow"
backend: "python"
input [ { name: "INPUT" data_type: TYPE_FP32 dims: [ 1 ] } ]
output [ { name: "OUTPUT" data_type: TYPE_FP32 dims: [ 1 ] } ]
'''

SEQ_STATE = '''
import json
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.state = {}

    def execute(self, requests):
        out = []
        for r in requests:
            cid = r.correlation_id()
            params = json.loads(r.parameters() or "{}")
            if params.get("tritonlite_sequence_idle_release"):
                self.state.pop(cid, None)
                pb_utils.Logger.log_info(f"released state of sequence {cid}")
                out.append(pb_utils.InferenceResponse([]))
                continue
            x = pb_utils.get_input_tensor_by_name(r, "INPUT").as_numpy()
            self.state[cid] = self.state.get(cid, 0) + int(x[0])
            live = np.array([len(self.state)], dtype=np.int32)
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("LIVE", live)]))
        return out
'''

SEQ_CONFIG = '''
name: "seq_state"
backend: "python"
input [ { name: "INPUT" data_type: TYPE_INT32 dims: [ 1 ] } ]
output [ { name: "LIVE" data_type: TYPE_INT32 dims: [ 1 ] } ]
instance_group [ { count: 1 kind: KIND_CPU } ]
sequence_batching {
  max_sequence_idle_microseconds: 300000
  oldest { max_candidate_sequences: 8 }
}
parameters { key: "tritonlite_sequence_idle_notify" value { string_value: "true" } }
'''


def model(root: Path, name: str, config: str, code: str) -> None:
    (root / name / "1").mkdir(parents=True)
    (root / name / "config.pbtxt").write_text(textwrap.dedent(config))
    (root / name / "1" / "model.py").write_text(textwrap.dedent(code))


def f32(value: float) -> list[grpcclient.InferInput]:
    i = grpcclient.InferInput("INPUT", [1], "FP32")
    i.set_data_from_numpy(np.array([value], np.float32))
    return [i]


def test_startup_table_and_sigterm_completes_inflight(
        tmp_path: Path, start_server: ServerFactory) -> None:
    model(tmp_path / "repo", "slow", SLOW_CONFIG, SLOW)
    server = start_server(tmp_path / "repo")
    log = server.log()
    assert "| Model | Version | Status |" in log and "| slow  | 1       | READY  |" in log
    client = grpcclient.InferenceServerClient(server.grpc_url)
    result: dict[str, object] = {}

    def slow_call() -> None:
        try:
            result["out"] = client.infer("slow", f32(1.5)).as_numpy("OUTPUT")
        except Exception as exc:  # reported below
            result["err"] = exc

    t = threading.Thread(target=slow_call)
    t.start()
    time.sleep(0.5)
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    with pytest.raises(Exception, match="has no available versions"):
        grpcclient.InferenceServerClient(server.grpc_url).infer("slow", f32(0.0))
    t.join(20)
    assert "err" not in result, result
    assert result["out"].tolist() == [1.5]
    assert server.wait_exit(30) == 0
    assert server.wait_for_log("slow model finalized")


def test_exit_on_error_default_exits(tmp_path: Path, start_server: ServerFactory) -> None:
    model(tmp_path / "repo", "slow", SLOW_CONFIG, "raise RuntimeError('cannot import')\n")
    server = start_server(tmp_path / "repo", wait="none")
    assert server.wait_exit(60) == 1
    log = server.log()
    assert "error: creating server: Internal - failed to load all models" in log
    assert "RuntimeError: cannot import" in log


def test_config_error_names_file_line_and_field(tmp_path: Path,
                                                start_server: ServerFactory) -> None:
    model(tmp_path / "repo", "slow", SLOW_CONFIG.replace("backend", "bakend"), SLOW)
    server = start_server(tmp_path / "repo", ["--exit-on-error=false"], wait="live")
    client = grpcclient.InferenceServerClient(server.grpc_url)
    (row,) = client.get_model_repository_index(as_json=True)["models"]
    assert row["state"] == "UNAVAILABLE"
    assert "config.pbtxt:3:" in row["reason"] and "bakend" in row["reason"], row


def test_idle_sequence_release_is_notified(tmp_path: Path, start_server: ServerFactory) -> None:
    model(tmp_path / "repo", "seq_state", SEQ_CONFIG, SEQ_STATE)
    server = start_server(tmp_path / "repo")
    client = grpcclient.InferenceServerClient(server.grpc_url)

    def step(cid: int, start: bool = False) -> int:
        i = grpcclient.InferInput("INPUT", [1], "INT32")
        i.set_data_from_numpy(np.array([1], np.int32))
        r = client.infer("seq_state", [i], sequence_id=cid, sequence_start=start)
        return int(r.as_numpy("LIVE")[0])

    assert step(1, start=True) == 1
    assert step(2, start=True) == 2
    assert server.wait_for_log("released state of sequence 1", timeout=10)
    assert server.wait_for_log("released state of sequence 2", timeout=10)
    assert step(3, start=True) == 1  # the model's per-sequence state did not leak
    with pytest.raises(Exception, match="must specify the START flag"):
        step(1)


def test_python_dash_m_and_version() -> None:
    out = subprocess.run([sys.executable, "-m", "tritonlite", "serve", "--version"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0 and "tritonlite" in out.stdout
    out = subprocess.run([sys.executable, "-m", "tritonlite", "--help"],
                         capture_output=True, text=True, timeout=60)
    for flag in ("--model-repository", "--grpc-port", "--http-port", "--metrics-port",
                 "--exit-on-error", "--strict-readiness", "--log-verbose"):
        assert flag in out.stdout
    json.dumps(out.stdout)
