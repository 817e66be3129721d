"""Batch-forming math shared by the dynamic and the sequence batchers. Pure: no clock, no I/O.

Rules (Triton's ``DynamicBatchScheduler::GetDynamicBatch``, read in triton-inference-server/core):

* Requests join a batch in queue order while the sum of their batch sizes stays
  <= ``max_batch_size``; a request that does not fit, or whose shapes cannot share the
  batch, ends it (it is never skipped, so order is kept).
* The largest *preferred* size reachable is sent at once. Once a request would push the
  batch past the largest preferred size, the batch so far is marked as the one to send.
* Otherwise the batch waits until its oldest request has waited
  ``max_queue_delay_microseconds`` (0: send what is there now) or until it reaches the
  largest preferred size; when the delay is exceeded everything that fits is sent.
* Shapes: an input with a variable dimension that does not ``allow_ragged_batch`` must have
  the same shape in every request of a batch; a model with optional inputs only batches
  requests that carry the same set of inputs (``RequiredEqualInputs`` in scheduler_utils.cc).

Also here, as zero-filled tensors: the inputs of the "null" requests the direct sequence
batcher pads empty slots with, and the implicit-state inputs (``sequence_batching.state``).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tritonlite.core.tensor import DataType, Tensor, element_count


def _zeros(name: str, datatype: DataType, shape: Sequence[int]) -> Tensor:
    width = 4 if datatype is DataType.BYTES else datatype.itemsize  # BYTES: empty strings
    return Tensor(name, datatype, shape, raw=bytes(element_count(shape) * width))


@dataclass(frozen=True, slots=True)
class BatchInput:
    """What batching needs to know about one configured input."""

    name: str
    datatype: DataType
    dims: tuple[int, ...]
    optional: bool = False
    allow_ragged_batch: bool = False


def batch_inputs(inputs: Iterable[Any]) -> tuple[BatchInput, ...]:
    """``BatchInput`` for each ``ModelInput`` message of a config."""
    return tuple(BatchInput(i.name, DataType.from_config(i.data_type), tuple(i.dims),
                            bool(i.optional), bool(i.allow_ragged_batch)) for i in inputs)


class ShapeRule:
    """Computes a key per request; requests with different keys cannot share a batch."""

    def __init__(self, inputs: Sequence[BatchInput]) -> None:
        self.equal_shape = frozenset(i.name for i in inputs
                                     if -1 in i.dims and not i.allow_ragged_batch)
        self.has_optional = any(i.optional for i in inputs)

    @property
    def active(self) -> bool:
        return bool(self.equal_shape) or self.has_optional

    def key(self, tensors: Iterable[Tensor]) -> Hashable:
        if not self.active:
            return None
        shapes: list[tuple[str, tuple[int, ...] | None]] = []
        for t in tensors:
            if t.name in self.equal_shape:
                shapes.append((t.name, t.shape))
            elif self.has_optional:
                shapes.append((t.name, None))
        return tuple(sorted(shapes))


@dataclass(frozen=True, slots=True)
class Candidate:
    """A queued request as batch formation sees it."""

    batch_size: int
    arrival_ns: int
    shape_key: Hashable = None


@dataclass(frozen=True, slots=True)
class BatchDecision:
    """Send the first ``count`` candidates now; if ``count`` is 0, look again at
    ``wait_until_ns`` (None: nothing to wait for). A batch that waits holds the first
    ``waiting`` candidates, whose batch sizes sum to ``waiting_size``."""

    count: int
    wait_until_ns: int | None = None
    waiting: int = 0
    waiting_size: int = 0


def form_batch(candidates: Iterable[Candidate], *, now_ns: int, max_batch_size: int,
               preferred: Sequence[int], max_queue_delay_ns: int) -> BatchDecision:
    """Decide which prefix of ``candidates`` (in queue order) to send now, or when to look
    again. ``preferred`` empty means "as large as possible" (the served config always
    fills it in with ``[max_batch_size]``)."""
    max_batch = max(1, max_batch_size)
    preferred_set = frozenset(preferred)
    max_preferred = max(preferred_set) if preferred_set else max_batch
    pending = count = 0
    best: int | None = None
    send_now = False
    first_key: Hashable = None
    oldest: int | None = None
    for c in candidates:
        size = max(1, c.batch_size)
        if count == 0:
            first_key = c.shape_key
        else:
            if pending + size > max_preferred and best is None:
                best = count
            if pending + size > max_batch or c.shape_key != first_key:
                send_now = True
                break
        pending += size
        count += 1
        oldest = c.arrival_ns if oldest is None else min(oldest, c.arrival_ns)
        if pending in preferred_set:
            best = count
    if count == 0 or oldest is None:
        return BatchDecision(0)
    delay_exceeded = max_queue_delay_ns != 0 and now_ns - oldest >= max_queue_delay_ns
    if best is not None and not delay_exceeded:
        return BatchDecision(best)
    if send_now or pending >= max_preferred or delay_exceeded or max_queue_delay_ns == 0:
        return BatchDecision(count)
    return BatchDecision(0, oldest + max_queue_delay_ns, count, pending)


def slots_ready(*, ready: int, max_batch_size: int, oldest_ns: int, now_ns: int,
                max_queue_delay_ns: int, minimum_slot_utilization: float) -> int | None:
    """Direct sequence batching: None to send the ready slots now, else the time to look
    again (``direct { max_queue_delay_microseconds, minimum_slot_utilization }``)."""
    if max_queue_delay_ns == 0 or minimum_slot_utilization == 0.0:
        return None
    if now_ns - oldest_ns > max_queue_delay_ns:
        return None
    if ready / max(1, max_batch_size) >= minimum_slot_utilization:
        return None
    return oldest_ns + max_queue_delay_ns + 1


def null_inputs(representative: Iterable[Tensor], skip: frozenset[str]) -> list[Tensor]:
    """Data inputs of a null (padding) request: the representative request's tensors
    (names, data types, shapes) filled with zeros (Triton leaves them uninitialized).
    ``skip`` names the injected tensors (controls, state) the caller adds itself."""
    return [_zeros(t.name, t.datatype, t.shape) for t in representative if t.name not in skip]


def state_inputs(sequence_batching: Any, max_batch_size: int) -> list[Tensor]:
    """The implicit-state inputs of ``sequence_batching.state``: shaped [1, *dims] when
    batching (variable dims as 1, or the ``initial_state`` dims), zero-filled. A
    ``data_file`` initial state is not read (it starts as zeros too)."""
    out = []
    for st in sequence_batching.state:
        dims = [1 if d == -1 else int(d) for d in st.dims]
        if len(st.initial_state):
            dims = [int(d) for d in st.initial_state[0].dims]
        shape = ([1] if max_batch_size > 0 else []) + dims
        out.append(_zeros(st.input_name, DataType.from_config(st.data_type), shape))
    return out
