"""Request validation against a model's config, with Triton's error texts verbatim.

Order and wording follow Triton's ``InferenceRequest::Normalize``: requested outputs, input
count, batch dimension, data type, shape, byte size (BYTES: element count). A string
sequence id is accepted whatever the CORRID control's type, as Triton 2.51 accepts it
(the sequence batcher gives numeric CORRID controls a stable hash of the string).
Pure: no I/O, no scheduling.

A frontend that can tell two requests' layouts apart for free (the same header bytes,
``frontends.common.layouts``) names the layout in ``InferenceRequest.layout``; a
:class:`ValidationMemo` then validates each layout once per model version.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from tritonlite.core.errors import invalid_arg, request_prefix
from tritonlite.core.tensor import DataType, Tensor, count_bytes_elements, element_count
from tritonlite.core.types import InferenceRequest


@dataclass(frozen=True, slots=True)
class InputSpec:
    name: str
    datatype: DataType
    dims: tuple[int, ...]
    optional: bool = False
    fixed: bool = field(init=False)  # no variable (-1) dim: a shape must equal dims

    def __post_init__(self) -> None:
        object.__setattr__(self, "dims", tuple(self.dims))
        object.__setattr__(self, "fixed", -1 not in self.dims)


@dataclass(frozen=True, slots=True)
class ModelSignature:
    """What validation needs to know about a model."""

    name: str
    max_batch_size: int
    inputs: dict[str, InputSpec]
    outputs: tuple[str, ...]
    output_datatypes: dict[str, DataType] = field(default_factory=dict)
    required: tuple[str, ...] = field(init=False)  # the inputs that are not optional

    def __post_init__(self) -> None:
        object.__setattr__(self, "required",
                           tuple(s.name for s in self.inputs.values() if not s.optional))


def _dims(dims: Sequence[int]) -> str:
    return "[" + ",".join(str(d) for d in dims) + "]"


def _prefix(request: InferenceRequest) -> str:
    return request_prefix(request.id)


def _check_shape(request: InferenceRequest, n: str, name: str, t: Tensor,
                 shape: tuple[int, ...], spec: InputSpec, mbs: int) -> None:
    """Input ``n``'s shape (without the batch dim) against the config's dims."""
    ok = len(shape) == len(spec.dims)
    if ok:
        for want, got in zip(spec.dims, shape, strict=True):
            if got == -1:
                raise invalid_arg(
                    f"{_prefix(request)}All input dimensions should be specified for input "
                    f"'{n}' for model '{name}', got {_dims(t.shape)}")
            if want != -1 and want != got:
                ok = False
                break
    if not ok:
        full = ([-1] if mbs > 0 else []) + list(spec.dims)
        note = ""
        if mbs > 0:
            note = (
                "NOTE: Setting a non-zero max_batch_size in the model config requires a "
                "batch dimension to be prepended to each input shape. If you want to "
                "specify the full shape including the batch dim in your input dims "
                "config, try setting max_batch_size to zero. See the model configuration "
                "docs for more info on max_batch_size."
            )
        raise invalid_arg(
            f"{_prefix(request)}unexpected shape for input '{n}' for model '{name}'. "
            f"Expected {_dims(full)}, got {_dims(t.shape)}. {note}")


def validate_request(
    request: InferenceRequest, sig: ModelSignature
) -> tuple[tuple[str, ...], int]:
    """Check ``request`` against ``sig``; return (output names to produce, batch size).

    Raises InferenceServerError(INVALID_ARG) with Triton's message on the first problem.
    """
    name = sig.name
    if request.requested_outputs:
        for ro in request.requested_outputs:
            if ro.name not in sig.outputs:
                raise invalid_arg(f"unexpected inference output '{ro.name}' for model '{name}'")
            n_class = ro.parameters.get("classification")
            if n_class is not None:
                if isinstance(n_class, bool) or not isinstance(n_class, int) or n_class < 0:
                    raise invalid_arg("invalid value for 'classification' parameter, "
                                      "expected >= 0")
                if sig.output_datatypes.get(ro.name) is DataType.BYTES:
                    raise invalid_arg(
                        f"{_prefix(request)}classification is not supported for output "
                        f"'{ro.name}' of model '{name}': its data type is BYTES")
        outputs = tuple(ro.name for ro in request.requested_outputs)
    else:
        outputs = sig.outputs

    given: dict[str, Tensor] = {}
    for t in request.inputs:
        given[t.name] = t
    required = sig.required
    names = sorted(given)
    n_cfg = len(sig.inputs)
    if len(given) > n_cfg or len(given) < len(required):
        missing = [f"'{n}'" for n in required if n not in given]
        missing_s = "[" + ",".join(missing) + "]" if missing else "]"
        got_s = "[" + ",".join(f"'{n}'" for n in names) + "]"
        if n_cfg == len(required):
            head = f"expected {n_cfg} inputs but got {len(given)} inputs"
        else:
            head = (f"expected number of inputs between {len(required)} and {n_cfg} "
                    f"but got {len(given)} inputs")
        raise invalid_arg(
            f"{_prefix(request)}{head} for model '{name}'. Got input(s) {got_s}, but missing "
            f"required input(s) {missing_s}. Please provide all required input(s)."
        )
    for n in names:
        if n not in sig.inputs:
            raise invalid_arg(f"unexpected inference input '{n}' for model '{name}'")

    batch = 0
    mbs = sig.max_batch_size
    if mbs > 0:
        for n in names:
            t = given[n]
            if not t.shape:
                raise invalid_arg(
                    f"{_prefix(request)}input '{n}' has no shape but model requires batch "
                    f"dimension for '{name}'")
            if batch == 0:
                batch = t.shape[0]
            elif t.shape[0] != batch:
                raise invalid_arg(
                    f"{_prefix(request)}input '{n}' batch size does not match other inputs "
                    f"for '{name}'")
        if batch > mbs:
            raise invalid_arg(
                f"{_prefix(request)}inference request batch-size must be <= {mbs} for '{name}'")

    for n in names:
        t, spec = given[n], sig.inputs[n]
        if t.datatype is not spec.datatype:
            raise invalid_arg(
                f"{_prefix(request)}inference input '{n}' data-type is '{t.datatype.value}', "
                f"but model '{name}' expects '{spec.datatype.value}'")
        shape = t.shape[1:] if mbs > 0 else t.shape
        if not (spec.fixed and shape == spec.dims):  # the usual case: no dim-by-dim look
            _check_shape(request, n, name, t, shape, spec, mbs)
        count = element_count(t.shape)
        if t.datatype is DataType.BYTES:
            if t.has_array():
                got_n = t.as_numpy().size
            else:
                got_n = count_bytes_elements(t.raw())
                if got_n < 0:
                    raise invalid_arg(
                        f"{_prefix(request)}incomplete string length indicator for inference "
                        f"input '{n}' for model '{name}', expecting 4 bytes but only "
                        f"{len(memoryview(t.raw()).cast('B'))} bytes available. Please make "
                        "sure the string length indicator is in one buffer.")
            if got_n > count:
                raise invalid_arg(
                    f"{_prefix(request)}unexpected number of string elements {count + 1} for "
                    f"inference input '{n}' for model '{name}', expecting {count}")
            if got_n != count:
                raise invalid_arg(
                    f"{_prefix(request)}expected {count} string elements for inference input "
                    f"'{n}' for model '{name}', got {got_n}")
        else:
            expected = count * t.datatype.itemsize
            got_b = t.byte_size
            if got_b != expected:
                raise invalid_arg(
                    f"{_prefix(request)}input byte size mismatch for input '{n}' for model "
                    f"'{name}'. Expected {expected}, got {got_b}")

    return outputs, max(batch, 1)


class ValidationMemo:
    """:func:`validate_request`'s answers by request layout, for one model version.

    ``InferenceRequest.layout`` is a frontend's promise that requests with an equal
    layout have the same input names, datatypes, shapes and byte sizes, and the same
    requested outputs with the same parameters: everything validation looks at apart
    from the id, which only appears in errors, and the elements of a BYTES tensor,
    which are counted in its data. So a layout that passed once passes again, unless a
    BYTES input is among them; failures are never kept (each gets its own message).
    """

    #: Layouts kept; past this the memo starts over (a client that varies its shapes).
    LIMIT = 256

    __slots__ = ("_known",)

    def __init__(self) -> None:
        self._known: dict[Hashable, tuple[tuple[str, ...], int]] = {}

    def __len__(self) -> int:
        return len(self._known)

    def validate(self, request: InferenceRequest,
                 sig: ModelSignature) -> tuple[tuple[str, ...], int]:
        """:func:`validate_request`, once per layout."""
        layout = request.layout
        if layout is None:
            return validate_request(request, sig)
        known = self._known.get(layout)
        if known is not None:
            return known
        known = validate_request(request, sig)
        if all(t.datatype is not DataType.BYTES for t in request.inputs):
            if len(self._known) >= self.LIMIT:
                self._known.clear()
            self._known[layout] = known
        return known
