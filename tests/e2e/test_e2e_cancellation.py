"""Client cancellation reaches the model (is_cancelled) and drops queued requests."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import tritonclient.grpc as grpcclient
from cancellable import seconds
from tritonclient.utils import InferenceServerException

MODELS = Path(__file__).resolve().parent / "models"


def test_deadline_cancels_running_and_queued_requests(start_server) -> None:
    server = start_server(MODELS, ["--model-control-mode=explicit",
                                   "--load-model=cancellable"])
    client = grpcclient.InferenceServerClient(server.grpc_url)
    with pytest.raises(InferenceServerException) as ei:
        client.infer("cancellable", seconds(5), request_id="running", client_timeout=0.5)
    assert "Deadline" in ei.value.message()
    assert server.wait_for_log("request running saw cancellation", timeout=10)

    # One instance: "blocker" runs for 1.5 s; "queued" times out while waiting for it.
    t = threading.Thread(target=lambda: client.infer("cancellable", seconds(1.5),
                                                     request_id="blocker"))
    t.start()
    time.sleep(0.3)
    with pytest.raises(InferenceServerException):
        client.infer("cancellable", seconds(0), request_id="queued", client_timeout=0.3)
    t.join()
    r = client.infer("cancellable", seconds(0), request_id="after")
    assert r.as_numpy("CANCELLED").tolist() == [False]
    log = server.log()
    assert "executing request blocker" in log and "executing request after" in log
    assert "executing request queued" not in log  # never reached execute
