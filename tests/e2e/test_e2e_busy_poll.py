"""Busy polling (``--busy-poll-us``, core/busy_poll.py), seen from outside: after the last
request in flight is answered, the server process keeps its core busy for the window
(its CPU time grows while nothing is asked of it); with 0 it sleeps at once; while a
request is in flight it does not poll (a model worker may need the core); and a client
slower than the window is polled for only now and then (the poll backs off).

Windows are long (0.1-0.4 s) so that the CPU time they burn stands out from the noise of a
shared machine.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psutil
import tritonclient.grpc as grpcclient
from cancellable import seconds

from tritonlite.core.busy_poll import FIRST_BACKOFF

MODELS = Path(__file__).resolve().parent / "models"
WINDOW_S = 0.4


def cpu_seconds(pid: int) -> float:
    """CPU time of the server's main process (not its workers)."""
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def cpu_during(pid: int, wall_s: float) -> float:
    before = cpu_seconds(pid)
    time.sleep(wall_s)
    return cpu_seconds(pid) - before


def start(start_server, window_s: float):
    server = start_server(MODELS, ["--model-control-mode=explicit", "--load-model=cancellable",
                                   f"--busy-poll-us={int(window_s * 1e6)}"])
    assert server.proc is not None
    client = grpcclient.InferenceServerClient(server.grpc_url)
    client.infer("cancellable", seconds(0))  # warm: connection and worker
    return server, client


def back_to_back(client: grpcclient.InferenceServerClient) -> None:
    """Requests one right after another's answer, enough to get past any back-off: the
    last answers are polled for, and polling pays."""
    for _ in range(FIRST_BACKOFF + 3):
        client.infer("cancellable", seconds(0))


def test_the_server_polls_for_the_window_after_its_last_answer(start_server) -> None:
    server, client = start(start_server, WINDOW_S)
    back_to_back(client)
    busy = cpu_during(server.proc.pid, WINDOW_S)
    quiet = cpu_during(server.proc.pid, WINDOW_S)  # the window is over: asleep
    assert busy > WINDOW_S * 0.15, (busy, quiet)
    assert quiet < busy / 3, (busy, quiet)


def test_no_polling_with_zero(start_server) -> None:
    server, client = start(start_server, 0)
    back_to_back(client)
    assert cpu_during(server.proc.pid, WINDOW_S) < WINDOW_S * 0.1


def test_no_polling_while_a_request_is_in_flight(start_server) -> None:
    server, client = start(start_server, WINDOW_S)
    back_to_back(client)  # the last answer starts a window of polling...
    # ...which the next request stops. The model sleeps for 1.5 s: it needs no CPU.
    worker = threading.Thread(target=client.infer, args=("cancellable", seconds(1.5)),
                              kwargs={"request_id": "long"})
    worker.start()
    try:
        assert server.wait_for_log("executing request long", timeout=10)
        assert cpu_during(server.proc.pid, WINDOW_S * 0.75) < WINDOW_S * 0.1
    finally:
        worker.join()


def test_a_client_slower_than_the_window_is_polled_for_now_and_then(start_server) -> None:
    window = 0.1
    server, client = start(start_server, window)
    back_to_back(client)
    time.sleep(window * 2)  # that poll ran out: the back-off starts
    before = cpu_seconds(server.proc.pid)
    periods = 2 * FIRST_BACKOFF + 4
    for _ in range(periods):  # each answer is followed by a gap longer than the window
        client.infer("cancellable", seconds(0))
        time.sleep(window * 1.5)
    spent = cpu_seconds(server.proc.pid) - before
    # Polling after every answer would cost ~periods windows; backing off costs ~2.
    assert spent < periods * window / 4, spent
