"""Triton's validation texts, verbatim (TRITON-BEHAVIOUR.md §3 e1-e8)."""

from __future__ import annotations

import numpy as np
import pytest

from tritonlite.core.errors import ErrorKind, InferenceServerError
from tritonlite.core.tensor import DataType, Tensor
from tritonlite.core.types import InferenceRequest, RequestedOutput, SequenceInfo
from tritonlite.core.validation import (
    InputSpec,
    ModelSignature,
    ValidationMemo,
    validate_request,
)

PLAIN = ModelSignature("plain", 0, {"INPUT": InputSpec("INPUT", DataType.FP32, (2, 3))},
                       ("OUTPUT",))
BATCH = ModelSignature("plain_batch", 8, {"INPUT": InputSpec("INPUT", DataType.FP32, (3,))},
                       ("OUTPUT",))


def err(req: InferenceRequest, sig: ModelSignature) -> str:
    with pytest.raises(InferenceServerError) as ei:
        validate_request(req, sig)
    assert ei.value.kind is ErrorKind.INVALID_ARG
    return ei.value.message


def t(name: str, arr: np.ndarray) -> Tensor:
    return Tensor.from_numpy(name, arr)


def test_ok_returns_outputs_and_batch() -> None:
    req = InferenceRequest("plain", [t("INPUT", np.zeros((2, 3), np.float32))])
    assert validate_request(req, PLAIN) == (("OUTPUT",), 1)
    req = InferenceRequest("plain_batch", [t("INPUT", np.zeros((5, 3), np.float32))])
    assert validate_request(req, BATCH) == (("OUTPUT",), 5)


def test_e1_dtype() -> None:
    req = InferenceRequest("plain", [t("INPUT", np.zeros((2, 3), np.int32))])
    assert err(req, PLAIN) == ("[request id: <id_unknown>] inference input 'INPUT' data-type is "
                               "'INT32', but model 'plain' expects 'FP32'")


def test_e2_shape_with_trailing_space_and_request_id() -> None:
    req = InferenceRequest("plain", [t("INPUT", np.zeros((3, 2), np.float32))], id="r7")
    assert err(req, PLAIN) == ("[request id: r7] unexpected shape for input 'INPUT' for model "
                               "'plain'. Expected [2,3], got [3,2]. ")


def test_e3_byte_size() -> None:
    req = InferenceRequest("plain", [Tensor("INPUT", DataType.FP32, (2, 3), raw=b"\0" * 20)])
    assert err(req, PLAIN) == ("[request id: <id_unknown>] input byte size mismatch for input "
                               "'INPUT' for model 'plain'. Expected 24, got 20")


def test_e4_missing_and_e5_extra() -> None:
    assert err(InferenceRequest("plain", []), PLAIN) == (
        "[request id: <id_unknown>] expected 1 inputs but got 0 inputs for model 'plain'. Got "
        "input(s) [], but missing required input(s) ['INPUT']. Please provide all required "
        "input(s).")
    req = InferenceRequest("plain", [t("INPUT", np.zeros((2, 3), np.float32)),
                                     t("BOGUS", np.zeros(1, np.float32))])
    assert err(req, PLAIN) == (
        "[request id: <id_unknown>] expected 1 inputs but got 2 inputs for model 'plain'. Got "
        "input(s) ['BOGUS','INPUT'], but missing required input(s) ]. Please provide all "
        "required input(s).")


def test_e6_unknown_output() -> None:
    req = InferenceRequest("plain", [t("INPUT", np.zeros((2, 3), np.float32))],
                           requested_outputs=[RequestedOutput("NOPE")])
    assert err(req, PLAIN) == "unexpected inference output 'NOPE' for model 'plain'"


def test_e7_batch_too_big_and_e8_missing_batch_dim() -> None:
    req = InferenceRequest("plain_batch", [t("INPUT", np.zeros((9, 3), np.float32))])
    assert err(req, BATCH) == ("[request id: <id_unknown>] inference request batch-size must "
                               "be <= 8 for 'plain_batch'")
    req = InferenceRequest("plain_batch", [t("INPUT", np.zeros(3, np.float32))])
    assert err(req, BATCH).startswith(
        "[request id: <id_unknown>] unexpected shape for input 'INPUT' for model 'plain_batch'."
        " Expected [-1,3], got [3]. NOTE: Setting a non-zero max_batch_size")


def test_bytes_element_count() -> None:
    sig = ModelSignature("s", 0, {"I": InputSpec("I", DataType.BYTES, (1,))}, ("O",))
    two = Tensor("I", DataType.BYTES, (1,), raw=b"\1\0\0\0a\1\0\0\0b")
    assert err(InferenceRequest("s", [two]), sig) == (
        "[request id: <id_unknown>] unexpected number of string elements 2 for inference "
        "input 'I' for model 's', expecting 1")
    none = Tensor("I", DataType.BYTES, (1,), raw=b"")
    assert err(InferenceRequest("s", [none]), sig) == (
        "[request id: <id_unknown>] expected 1 string elements for inference input 'I' for "
        "model 's', got 0")


def test_string_id_with_numeric_corrid_is_accepted() -> None:
    sig = ModelSignature("seq", 0, {"I": InputSpec("I", DataType.FP32, (1,))}, ("O",))
    req = InferenceRequest("seq", [t("I", np.zeros(1, np.float32))],
                           sequence=SequenceInfo("abc", start=True))
    assert validate_request(req, sig) == (("O",), 1)


# ------------------------------------------------------------------ ValidationMemo


def test_memo_validates_a_layout_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from tritonlite.core import validation

    calls: list[InferenceRequest] = []

    def counted(req: InferenceRequest, sig: ModelSignature) -> tuple[tuple[str, ...], int]:
        calls.append(req)
        return validate_request(req, sig)

    monkeypatch.setattr(validation, "validate_request", counted)
    memo = ValidationMemo()
    layout = object()
    for _ in range(3):
        req = InferenceRequest("plain", [t("INPUT", np.zeros((2, 3), np.float32))],
                               layout=layout)
        assert memo.validate(req, PLAIN) == (("OUTPUT",), 1)
    assert len(calls) == 1
    # Without a layout, every request is validated.
    for _ in range(2):
        memo.validate(InferenceRequest("plain", [t("INPUT", np.zeros((2, 3), np.float32))]),
                      PLAIN)
    assert len(calls) == 3


def test_memo_keeps_no_failure_and_no_bytes_layout() -> None:
    memo = ValidationMemo()
    bad = object()
    for _ in range(2):  # each failing request gets its own error, with its own id
        req = InferenceRequest("plain", [t("INPUT", np.zeros((3, 3), np.float32))],
                               id=f"r{_}", layout=bad)
        with pytest.raises(InferenceServerError, match=rf"request id: r{_}\] unexpected shape"):
            memo.validate(req, PLAIN)
    assert len(memo) == 0
    sig = ModelSignature("s", 0, {"IN": InputSpec("IN", DataType.BYTES, (2,))}, ("OUT",))
    strings = object()
    ok = InferenceRequest("s", [t("IN", np.array([b"a", b"b"], dtype=np.object_))],
                          layout=strings)
    assert memo.validate(ok, sig) == (("OUT",), 1)
    assert len(memo) == 0  # a BYTES tensor's elements are counted in its data
    short = Tensor("IN", DataType.BYTES, (2,), raw=b"\x01\x00\x00\x00a")
    with pytest.raises(InferenceServerError, match="expected 2 string elements"):
        memo.validate(InferenceRequest("s", [short], layout=strings), sig)


def test_memo_starts_over_when_full() -> None:
    memo = ValidationMemo()
    for _ in range(ValidationMemo.LIMIT):
        memo.validate(InferenceRequest("plain", [t("INPUT", np.zeros((2, 3), np.float32))],
                                       layout=object()), PLAIN)
    assert len(memo) == ValidationMemo.LIMIT
    memo.validate(InferenceRequest("plain", [t("INPUT", np.zeros((2, 3), np.float32))],
                                   layout=object()), PLAIN)
    assert len(memo) == 1
