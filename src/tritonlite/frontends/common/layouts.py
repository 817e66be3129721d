"""Request headers decoded before: what both frontends keep, so a header is decoded once.

A client that sends one kind of request sends the same header every time: tritonclient
writes the HTTP JSON header, or the ``ModelInferRequest`` fields before
``raw_input_contents``, from the same inputs and outputs, and only the tensor bytes after
it change. Parsing and checking that header is most of what decoding a small request
costs, so each frontend keeps, by the header's bytes, what the header decoded to
(:class:`RequestTemplate`), and builds the next request that sends it from there.

A built request carries its layout in ``InferenceRequest.layout``: the same layout means
the same input names, datatypes, shapes and byte sizes and the same requested outputs,
which lets the core validate it once per model version
(``core.validation.ValidationMemo``).

Only a header whose decoding depends on nothing but its bytes may be kept: every input's
data follows the header (binary), and nothing names shared memory (a region can be
unregistered between two requests). Each frontend checks that before it keeps one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from tritonlite.core.tensor import DataType, Tensor
from tritonlite.core.types import InferenceRequest, SequenceInfo

__all__ = ["LayoutStore", "RequestTemplate"]

V = TypeVar("V")


class RequestTemplate:
    """Everything of a decoded request that its header fixes (all but the tensors' bytes).

    :meth:`build` makes a request with fresh containers for what a request may change
    later (its parameters, inputs, the list of requested outputs, its sequence). The
    :class:`RequestedOutput` s are shared: nothing changes them once decoded.
    """

    __slots__ = ("custom", "id", "inputs", "model_name", "model_version", "priority",
                 "requested", "sequence", "timeout_us")

    def __init__(self, request: InferenceRequest) -> None:
        #: (name, datatype, shape, byte size) of each input, in order.
        self.inputs: tuple[tuple[str, DataType, tuple[int, ...], int], ...] = tuple(
            (t.name, t.datatype, t.shape, t.byte_size) for t in request.inputs)
        self.model_name = request.model_name
        self.model_version = request.model_version
        self.id = request.id
        seq = request.sequence
        self.sequence = None if seq is None else (seq.correlation_id, seq.start, seq.end)
        self.priority = request.priority
        self.timeout_us = request.timeout_us
        self.custom = dict(request.parameters)
        self.requested = tuple(request.requested_outputs)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(size for _, _, _, size in self.inputs)

    def build(self, raws: Sequence[bytes | memoryview], layout: object,
              model_name: str | None = None,
              model_version: str | None = None) -> InferenceRequest:
        """The request with these input bytes (one per input, each of the size the
        template has), marked with ``layout``; the model named as given, or as in the
        template."""
        inputs = [Tensor(name, datatype, shape, raw=raw)
                  for (name, datatype, shape, _), raw in zip(self.inputs, raws, strict=True)]
        request = InferenceRequest(
            self.model_name if model_name is None else model_name, inputs,
            self.model_version if model_version is None else model_version, self.id,
            list(self.requested), dict(self.custom) if self.custom else {})
        if self.sequence is not None:
            request.sequence = SequenceInfo(*self.sequence)
        request.priority = self.priority
        request.timeout_us = self.timeout_us
        request.layout = layout
        return request


class LayoutStore(Generic[V]):
    """Layouts by header bytes, bounded; a client whose headers never repeat (a new
    request id each time) fills it without a hit, and then nothing is kept for a while."""

    #: Headers kept; past this the store starts over.
    LIMIT = 256
    #: After a store that filled with fewer hits than headers: headers not kept.
    REST = 4096
    #: Longer headers are not kept (memory: at most LIMIT of these per store).
    MAX_HEADER_BYTES = 16 * 1024

    __slots__ = ("_hits", "_known", "_rest")

    def __init__(self) -> None:
        self._known: dict[bytes, V] = {}
        self._hits = 0
        self._rest = 0

    def __len__(self) -> int:
        return len(self._known)

    def get(self, header: bytes) -> V | None:
        layout = self._known.get(header)
        if layout is not None:
            self._hits += 1
        return layout

    def offered(self) -> bool:
        """Whether a header not found here would be kept now (False while the store
        rests; each call counts the rest down). Ask once per header not found."""
        if self._rest:
            self._rest -= 1
            return False
        return True

    def keep(self, header: bytes, layout: V) -> bool:
        """Keep ``layout`` for ``header``; False if it was not kept (a header longer
        than :data:`MAX_HEADER_BYTES`, or the store has just begun a rest)."""
        if len(header) > self.MAX_HEADER_BYTES:
            return False
        if len(self._known) >= self.LIMIT:
            if self._hits < len(self._known):
                self._rest = self.REST
            self._known.clear()
            self._hits = 0
            if self._rest:
                return False
        self._known[header] = layout
        return True
