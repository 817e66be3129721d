"""The worker side of BLS and model control: pb_utils' ServerHandler over the socket.

``InferenceRequest.exec()`` in a model becomes a ``BlsRequestMsg`` to the server (input
tensors written to the response ring); the server runs it like any client request and
answers with ``BlsResponseMsg`` frames (output tensors in the request ring), which the
stub's reader thread hands to the waiting call here. ``load_model`` / ``unload_model`` /
``is_model_ready`` travel the same way as ``ControlMsg``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import queue
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from tritonlite.backends.python import ipc, pb_utils
from tritonlite.backends.python.shm import RingReader
from tritonlite.core.tensor import DataType, deserialize_bytes

_ids = itertools.count(1)


class _Call:
    """One outstanding BLS or control call, completed by the reader thread."""

    def __init__(self, iterator: pb_utils.ResponseIterator | None = None) -> None:
        self.replies: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.iterator = iterator


class StubMetricsHandler:
    """Forwards ``pb_utils.MetricFamily`` events to the server (``pb_utils.MetricsHandler``)."""

    def __init__(self, send: Callable[[object], None]) -> None:
        self._send = send

    def family_created(self, name: str, description: str, kind: Any) -> None:
        self._send(ipc.MetricMsg("family", name, description=description,
                                 kind=getattr(kind, "name", str(kind))))

    def metric_created(self, family_name: str, labels: dict[str, str],
                       buckets: list[float] | None) -> None:
        self._send(ipc.MetricMsg("metric", family_name, labels=dict(labels),
                                 buckets=list(buckets) if buckets is not None else None))

    def metric_update(self, family_name: str, labels: dict[str, str], op: str,
                      value: float) -> None:
        self._send(ipc.MetricMsg(op, family_name, labels=dict(labels), value=float(value)))


class StubServerHandler:
    """Implements ``pb_utils.ServerHandler`` for one worker process."""

    def __init__(
        self,
        send: Callable[[object], None],
        write_tensor: Callable[[Any], ipc.TensorRef],
        req_ring: RingReader,
        may_call: Callable[[], bool],
    ) -> None:
        self._send = send
        self._write_tensor = write_tensor
        self._req_ring = req_ring
        self._may_call = may_call
        self._calls: dict[int, _Call] = {}
        self._lock = threading.Lock()

    # ---- called by the reader thread ----------------------------------------------------
    def on_message(self, msg: ipc.BlsResponseMsg | ipc.ControlReplyMsg) -> None:
        with self._lock:
            call = self._calls.get(msg.call_id)
            if call is not None and (isinstance(msg, ipc.ControlReplyMsg) or msg.final):
                del self._calls[msg.call_id]
        if isinstance(msg, ipc.BlsResponseMsg):
            response = self._response(msg)  # always drains the ring, even if nobody waits
            if call is None:
                return
            if call.iterator is not None:
                call.iterator._put(None if msg.empty_final else response, final=msg.final)
            else:
                call.replies.put(response)
        elif call is not None:
            call.replies.put(msg)

    def _response(self, msg: ipc.BlsResponseMsg) -> pb_utils.InferenceResponse:
        tensors = [self._tensor(ref) for ref in msg.outputs]
        error = None
        if msg.error_code >= 0:
            error = pb_utils.TritonError(msg.error_message, msg.error_code)
        return pb_utils.InferenceResponse._from_server(
            tensors, error, json.dumps(msg.parameters, separators=(",", ":")))

    def _tensor(self, ref: ipc.TensorRef) -> pb_utils.Tensor:
        if ref.inline is not None:
            buf: Any = ref.inline
        elif ref.nbytes:
            self._req_ring.claim(ref.pos, ref.nbytes)
            buf = self._req_ring.view(ref.pos, ref.nbytes)
        else:
            buf = b""
        dt = DataType.from_name(ref.datatype)
        try:
            if dt is DataType.BYTES:
                arr = deserialize_bytes(buf).reshape(ref.shape)
            else:
                np_dt = np.dtype("<u2") if dt is DataType.BF16 else dt.numpy_dtype
                arr = np.frombuffer(buf, dtype=np_dt).reshape(ref.shape).copy()
        finally:
            if isinstance(buf, memoryview):
                buf.release()
            if ref.inline is None and ref.nbytes:
                self._req_ring.release(ref.pos)
        return pb_utils.Tensor._from_array(ref.name, arr, dt.code)

    # ---- pb_utils.ServerHandler ---------------------------------------------------------
    def _start(self, call_id: int, request: Any, decoupled: bool,
               iterator: pb_utils.ResponseIterator | None) -> _Call:
        if not self._may_call():
            raise pb_utils.TritonModelException(
                "BLS is only supported during the 'execute' function.")
        call = _Call(iterator)
        with self._lock:
            self._calls[call_id] = call
        inputs = tuple(self._write_tensor(t) for t in request.inputs())
        version = request._model_version
        self._send(ipc.BlsRequestMsg(
            call_id=call_id,
            model_name=request._model_name,
            model_version="" if version is None or version < 0 else str(version),
            request_id=request.request_id(),
            correlation_id=request.correlation_id(),
            flags=request.flags(),
            parameters=json.loads(request.parameters() or "{}"),
            requested_output_names=tuple(request._requested_output_names),
            timeout_us=request.timeout(),
            inputs=inputs,
            decoupled=decoupled,
        ))
        return call

    def exec(self, request: Any, decoupled: bool) -> Any:
        call_id = next(_ids)
        if decoupled:
            iterator = pb_utils.ResponseIterator(
                cancel_fn=lambda: self._send(ipc.BlsCancelMsg(call_id)))
            self._start(call_id, request, True, iterator)
            return iterator
        return self._start(call_id, request, False, None).replies.get()

    def async_exec(self, request: Any, decoupled: bool) -> Awaitable[Any]:
        if not self._may_call():
            raise pb_utils.TritonModelException(
                "BLS is only supported during the 'execute' function.")
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(None, self.exec, request, decoupled)

    def _control(self, msg_factory: Callable[[int], ipc.ControlMsg]) -> ipc.ControlReplyMsg:
        call_id = next(_ids)
        call = _Call()
        with self._lock:
            self._calls[call_id] = call
        self._send(msg_factory(call_id))
        reply: ipc.ControlReplyMsg = call.replies.get()
        if reply.error_code >= 0:
            raise pb_utils.TritonModelException(reply.error_message)
        return reply

    def load_model(self, name: str, config: str, files: dict[str, bytes]) -> None:
        self._control(lambda i: ipc.ControlMsg(i, "load", name, config=config,
                                               files=dict(files)))

    def unload_model(self, name: str, unload_dependents: bool) -> None:
        self._control(lambda i: ipc.ControlMsg(i, "unload", name,
                                               unload_dependents=unload_dependents))

    def is_model_ready(self, name: str, version: int) -> bool:
        return self._control(lambda i: ipc.ControlMsg(i, "ready", name, version=version)).result
