"""Busy polling (``--busy-poll-us``, core/busy_poll.py), seen from outside: after the last
request in flight is answered, the server process keeps its core busy for the window
(its CPU time grows while nothing is asked of it), but not for a client that came back
later than the window; with 0 it sleeps at once; and while a request is in flight it does
not poll (a model worker may need the core).

The window is set long (0.4 s) so that the CPU time it burns stands out from the noise
of a shared machine.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import psutil
import tritonclient.grpc as grpcclient

MODELS = Path(__file__).resolve().parent / "models"
WINDOW_S = 0.4


def seconds(value: float) -> list[grpcclient.InferInput]:
    i = grpcclient.InferInput("SECONDS", [1], "FP32")
    i.set_data_from_numpy(np.array([value], np.float32))
    return [i]


def cpu_during(pid: int, wall_s: float) -> float:
    """CPU seconds the server's main process (not its workers) spends in ``wall_s``."""
    proc = psutil.Process(pid)
    before = proc.cpu_times()
    time.sleep(wall_s)
    after = proc.cpu_times()
    return (after.user + after.system) - (before.user + before.system)


def start(start_server, window_us: int):
    server = start_server(MODELS, ["--model-control-mode=explicit",
                                   "--load-model=cancellable", f"--busy-poll-us={window_us}"])
    assert server.proc is not None
    client = grpcclient.InferenceServerClient(server.grpc_url)
    client.infer("cancellable", seconds(0))  # warm: connection and worker
    time.sleep(WINDOW_S * 1.5)  # the warm-up's own polling is over
    return server.proc.pid, client


def test_the_server_polls_for_the_window_after_its_last_answer(start_server) -> None:
    pid, client = start(start_server, int(WINDOW_S * 1e6))
    client.infer("cancellable", seconds(0))  # after the long pause above: not polled for
    client.infer("cancellable", seconds(0))  # right after an answer: polling pays again
    busy = cpu_during(pid, WINDOW_S)
    quiet = cpu_during(pid, WINDOW_S)  # the window is over: asleep
    assert busy > WINDOW_S * 0.25, (busy, quiet)
    assert quiet < busy / 3, (busy, quiet)


def test_a_client_slower_than_the_window_is_not_polled_for(start_server) -> None:
    pid, client = start(start_server, int(WINDOW_S * 1e6))
    client.infer("cancellable", seconds(0))
    time.sleep(WINDOW_S * 1.5)  # comes back after the window
    client.infer("cancellable", seconds(0))
    assert cpu_during(pid, WINDOW_S) < WINDOW_S * 0.1


def test_no_polling_with_zero(start_server) -> None:
    pid, client = start(start_server, 0)
    client.infer("cancellable", seconds(0))
    assert cpu_during(pid, WINDOW_S) < WINDOW_S * 0.1


def test_no_polling_while_a_request_is_in_flight(start_server) -> None:
    pid, client = start(start_server, int(WINDOW_S * 1e6))
    client.infer("cancellable", seconds(0))
    client.infer("cancellable", seconds(0))  # its answer starts a window of polling...
    # ...which the next request stops. The model sleeps for 1 s: it needs no CPU.
    worker = threading.Thread(target=client.infer, args=("cancellable", seconds(1.0)))
    worker.start()
    time.sleep(0.05)
    try:
        assert cpu_during(pid, WINDOW_S * 0.75) < WINDOW_S * 0.1
    finally:
        worker.join()
