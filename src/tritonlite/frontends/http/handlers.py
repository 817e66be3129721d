"""The handlers of the HTTP/REST endpoints: decode, one call on ``ServerApi``, encode.

Each handler takes an :class:`HttpRequest` (method, headers, the whole body) and returns
a :class:`Reply`; routing, body reading and writing are ``app.py``'s. Errors the core
raises carry a kind that ``errors.py`` maps to a status; the body is always
``{"error": "..."}``. Where Triton 2.51 checks something before it reads the body (the
model's existence and transaction policy), a failed decode is refined with the model's
config afterwards, so the error a client sees is Triton's while a good request pays for
one core call only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from tritonclient.grpc import model_config_pb2

from tritonlite.core.errors import (
    DecoupledNotSupported,
    InferenceServerError,
    invalid_arg,
)
from tritonlite.core.interfaces import ServerApi
from tritonlite.core.settings import ServerSettings
from tritonlite.core.types import InferenceResponse
from tritonlite.frontends.common.parameters import forward_headers
from tritonlite.frontends.common.repository import check_repository_name
from tritonlite.frontends.common.tensors import refine_decode_error
from tritonlite.frontends.http import compression, messages
from tritonlite.frontends.http.codec import (
    RAW_INPUT,
    DecodedInfer,
    HeaderLayouts,
    decode_infer_request,
    decode_raw_request,
    encode_infer_response,
)
from tritonlite.frontends.http.errors import (
    DECOUPLED_TEXT,
    METHOD_NOT_ALLOWED,
    error_body,
    http_status,
)
from tritonlite.frontends.http.generate import (
    ONE_RESPONSE_TEXT,
    decode_generate_request,
    encode_generate_response,
    sse_event,
)

__all__ = ["ConfigEncoder", "Handlers", "HttpRequest", "Reply"]

logger = logging.getLogger(__name__)

JSON = "application/json"
TEXT = "text/plain"
SSE = "text/event-stream; charset=utf-8"
BINARY = "application/octet-stream"

ConfigEncoder = Callable[[model_config_pb2.ModelConfig], str]
"""ModelConfig -> the JSON ``GET v2/models/<m>/config`` serves (the composition root
provides Triton's normalized form)."""


def _protobuf_json(config: model_config_pb2.ModelConfig) -> str:
    from google.protobuf.json_format import MessageToJson

    return str(MessageToJson(config, preserving_proto_field_name=True, indent=None))


@dataclass(slots=True)
class HttpRequest:
    method: str
    headers: dict[str, str]  # lower-case names; the last value of a repeated header
    body: bytes = b""
    raw_headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class Reply:
    """What to send. ``body`` parts are written in order; ``stream`` (if set) yields the
    body of a chunked reply instead."""

    status: int = 200
    body: list[bytes | memoryview] = field(default_factory=list)
    content_type: str = JSON
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: AsyncIterator[bytes] | None = None


def json_reply(body: bytes, status: int = 200) -> Reply:
    return Reply(status, [body])


def error_reply(error: InferenceServerError) -> Reply:
    if isinstance(error, DecoupledNotSupported):  # the core words it for gRPC
        return Reply(501, [error_body(DECOUPLED_TEXT)])
    return Reply(http_status(error), [error_body(error.message)])


INTERNAL_TEXT = "internal error in the HTTP frontend; see the server log"


def message_reply(status: int, message: str) -> Reply:
    return Reply(status, [error_body(message)])


def empty_reply(status: int) -> Reply:
    return Reply(status, [], TEXT)


METHOD_NOT_ALLOWED_REPLY = message_reply(405, METHOD_NOT_ALLOWED)


_LEADING_INT = re.compile(r"\s*([+-]?\d+)")


def _atoi(text: str) -> int:
    """C ``atoi``: leading blanks, an optional sign, digits; 0 if there are none."""
    if text.isascii() and text.isdigit():
        return int(text)
    match = _LEADING_INT.match(text)
    return int(match.group(1)) if match else 0


class Handlers:
    """The endpoint handlers over one ``ServerApi``."""

    def __init__(
        self,
        server: ServerApi,
        *,
        max_input_size: int,
        settings: ServerSettings,
        config_json: ConfigEncoder | None = None,
        header_forward_pattern: re.Pattern[str] | None = None,
    ) -> None:
        self.server = server
        self.max_input_size = max_input_size
        self.settings = settings
        self.config_json = config_json or _protobuf_json
        self.header_forward_pattern = header_forward_pattern
        self.layouts = HeaderLayouts()  # JSON headers decoded before (see codec)

    # ------------------------------------------------------------------ health, metadata

    async def health(self, req: HttpRequest, kind: str) -> Reply:
        if req.method != "GET":
            return METHOD_NOT_ALLOWED_REPLY
        ok = self.server.is_live() if kind == "live" else self.server.is_ready()
        return empty_reply(200 if ok else 400)

    async def server_metadata(self, req: HttpRequest) -> Reply:
        if req.method != "GET":
            return METHOD_NOT_ALLOWED_REPLY
        return json_reply(messages.encode_server_metadata(self.server.server_metadata()))

    async def model_ready(self, req: HttpRequest, model: str, version: str) -> Reply:
        if req.method != "GET":
            return METHOD_NOT_ALLOWED_REPLY
        if not self.server.model_ready(model, version):
            return message_reply(400, "Model version not ready")
        return empty_reply(200)

    async def model_metadata(self, req: HttpRequest, model: str, version: str) -> Reply:
        if req.method != "GET":
            return METHOD_NOT_ALLOWED_REPLY
        try:
            meta = self.server.model_metadata(model, version)
        except InferenceServerError as exc:
            return error_reply(exc)
        return json_reply(messages.encode_model_metadata(meta))

    async def model_config(self, req: HttpRequest, model: str, version: str) -> Reply:
        if req.method != "GET":
            return METHOD_NOT_ALLOWED_REPLY
        try:
            config = self.server.model_config(model, version)
        except InferenceServerError as exc:
            return error_reply(exc)
        return json_reply(self.config_json(config).encode("utf-8"))

    async def model_stats(self, req: HttpRequest, model: str = "", version: str = "") -> Reply:
        if req.method != "GET":
            return METHOD_NOT_ALLOWED_REPLY
        try:
            stats = self.server.model_statistics(model, version)
        except InferenceServerError as exc:
            return error_reply(exc)
        return json_reply(messages.encode_model_statistics(stats))

    # ------------------------------------------------------------------------ inference

    def _refine(self, error: InferenceServerError, model: str,
                version: str) -> InferenceServerError:
        """The error Triton reports for a request that failed to decode: it looks the
        model and its transaction policy up before it reads the body."""
        try:
            config = self.server.model_config(model, version)
        except InferenceServerError as exc:
            return exc
        return refine_decode_error(error, config, model_name=model, request_id="",
                                   one_response=True)

    def _decode_infer(self, req: HttpRequest, model: str, version: str,
                      body: bytes, encoded: bool) -> DecodedInfer:
        """Decode an infer request whose (inflated, when ``encoded``) body is ``body``."""
        if encoded:
            content_length = len(body)
        else:
            declared = req.headers.get("content-length")
            content_length = _atoi(declared) if declared is not None else len(body)
        header_length: int | None = None
        header = req.headers.get("inference-header-content-length")
        if header is not None:
            header_length = _atoi(header)
            if header_length < 0 or header_length > content_length:
                raise invalid_arg(
                    f"inference header size should be in range (0, {content_length}), "
                    f"got: {header}"
                )
        elif content_length == 0:
            header_length = 0
        if header_length == 0:
            config = self.server.model_config(model, version)
            if config.model_transaction_policy.decoupled:
                raise DecoupledNotSupported()
            return decode_raw_request(model, version, body, config)
        forwarded = (
            forward_headers(req.raw_headers, self.header_forward_pattern)
            if self.header_forward_pattern is not None
            else None
        )
        return decode_infer_request(
            model, version, body, header_length,
            max_input_size=self.max_input_size, forwarded=forwarded,
            # A ServerApi fake without the extension has no regions.
            shared_memory=getattr(self.server, "shared_memory", None),
            layouts=self.layouts,
        )

    def _decode_failed(self, exc: InferenceServerError, model: str, version: str) -> Reply:
        reply = error_reply(self._refine(exc, model, version))
        if exc.message == compression.UNSUPPORTED_TEXT:
            reply.headers.append(("accept-encoding", "gzip, deflate"))
        return reply

    @staticmethod
    def _infer_failed(exc: InferenceServerError, decoded: DecodedInfer) -> Reply:
        request = decoded.request
        if decoded.raw and request.inputs:
            exc.message = exc.message.replace(
                f"for input '{request.inputs[0].name}'", f"for input '{RAW_INPUT}'")
        return error_reply(exc)

    def _answer(self, response: InferenceResponse, decoded: DecodedInfer) -> Reply:
        """The reply to a finished request (not compressed)."""
        try:
            if response.error is not None:
                raise response.error
            encoded = encode_infer_response(response, decoded.request, decoded)
        except InferenceServerError as exc:
            return self._infer_failed(exc, decoded)
        reply = Reply(200, encoded.parts, JSON)
        if encoded.header_length is not None:
            reply.content_type = BINARY
            reply.headers.append(("inference-header-content-length", str(encoded.header_length)))
        return reply

    async def infer(self, req: HttpRequest, model: str, version: str) -> Reply:
        if req.method != "POST":
            return METHOD_NOT_ALLOWED_REPLY
        try:
            encoding = compression.request_encoding(req.headers.get("content-encoding"))
            body = req.body
            if encoding is not None:
                body = await compression.decompress(body, encoding, self.max_input_size)
            decoded = self._decode_infer(req, model, version, body, encoding is not None)
        except InferenceServerError as exc:
            return self._decode_failed(exc, model, version)
        try:
            response = await self.server.infer(decoded.request)
        except InferenceServerError as exc:
            return self._infer_failed(exc, decoded)
        reply = self._answer(response, decoded)
        encoding = compression.response_encoding(req.headers.get("accept-encoding"))
        if encoding is not None and reply.status == 200:
            packed = await compression.compress(reply.body, encoding)
            if packed is not None:
                reply.body = [packed]
                reply.headers.append(("content-encoding", encoding))
        return reply

    @staticmethod
    def can_infer_now(req: HttpRequest) -> bool:
        """Whether :meth:`infer_now` can answer ``req``: a POST that needs no awaiting
        (no compressed body to inflate, no reply to compress)."""
        headers = req.headers
        return (req.method == "POST"
                and headers.get("content-encoding") in (None, "", "identity")
                and compression.response_encoding(headers.get("accept-encoding")) is None)

    def infer_now(self, req: HttpRequest, model: str, version: str,
                  done: Callable[[Reply], None]) -> Callable[[], None] | None:
        """:meth:`infer` without a task or a future, for a request :meth:`can_infer_now`
        accepts: the reply goes to ``done`` from the core's response callback (on the
        loop), or at once when the request fails before it reaches the core. Returns the
        function that cancels the request in flight; None when ``done`` was called.
        Same decoding, errors and encoding as :meth:`infer`, which it shares them with.
        """
        try:
            decoded = self._decode_infer(req, model, version, req.body, False)
        except InferenceServerError as exc:
            done(self._decode_failed(exc, model, version))
            return None

        def sink(response: InferenceResponse) -> None:
            if not response.final:  # a model answered through infer sends one response
                return
            try:
                answer = self._answer(response, decoded)
            except Exception:  # never into the core's response path
                logger.exception("unexpected error encoding an inference reply")
                answer = message_reply(500, INTERNAL_TEXT)
            try:
                done(answer)
            except Exception:  # nor the transport's
                logger.exception("unexpected error writing an inference reply")

        try:
            return self.server.submit(decoded.request, sink)
        except InferenceServerError as exc:
            done(self._infer_failed(exc, decoded))
            return None

    async def generate(self, req: HttpRequest, model: str, version: str,
                       streaming: bool) -> Reply:
        if req.method != "POST":
            return METHOD_NOT_ALLOWED_REPLY
        try:
            config = self.server.model_config(model, version)
            if req.headers.get("content-encoding", "identity") not in ("", "identity"):
                raise invalid_arg("Unsupported content-encoding, only 'identity' is supported.")
            request = decode_generate_request(model, version, req.body, config)
            responses = self.server.infer_stream(request).__aiter__()
            first = await anext(responses, None)
        except InferenceServerError as exc:
            return error_reply(exc)
        if first is None:  # no response at all: not even the final flag
            return Reply(200, [error_body(ONE_RESPONSE_TEXT)])
        decoupled = bool(config.model_transaction_policy.decoupled)

        def is_marker(response: InferenceResponse) -> bool:
            """The flag-only "complete" response of a decoupled model: not a response."""
            return decoupled and response.is_flag_only

        def encode(response: InferenceResponse) -> bytes:
            if response.error is not None:
                return error_body(response.error.message)
            try:
                return encode_generate_response(response, request)
            except InferenceServerError as exc:
                return error_body(exc.message)

        # Triton sets the status from the first response: 400 if it failed (sic: the
        # error's own code is lost), 200 otherwise, and streams from then on.
        status = 400 if first.error is not None else 200
        if streaming:
            async def events() -> AsyncIterator[bytes]:
                try:
                    response = first
                    while True:
                        if not is_marker(response):
                            yield sse_event(encode(response))
                        if response.final:
                            return
                        response = await anext(responses)
                finally:
                    await _close(responses)

            return Reply(status, [], SSE, stream=events())
        collected: list[InferenceResponse] = []
        try:
            response = first
            while True:
                if not is_marker(response):
                    collected.append(response)
                if response.final:
                    break
                response = await anext(responses)
        finally:
            await _close(responses)
        if len(collected) != 1:
            return Reply(status, [error_body(ONE_RESPONSE_TEXT)])
        return Reply(status, [encode(collected[0])])

    # ----------------------------------------------------------------------- repository

    async def repository_index(self, req: HttpRequest, repository: str) -> Reply:
        if req.method != "POST":
            return METHOD_NOT_ALLOWED_REPLY
        try:
            ready = messages.decode_index_request(req.body)
            entries = self.server.repository_index(ready_only=ready)
        except InferenceServerError as exc:
            return error_reply(exc)
        return json_reply(messages.encode_repository_index(entries))

    async def repository_control(self, req: HttpRequest, repository: str, model: str,
                                 action: str) -> Reply:
        if req.method != "POST":
            return METHOD_NOT_ALLOWED_REPLY
        try:
            check_repository_name(repository)
            if action == "load":
                parameters = messages.decode_load_request(req.body)
                await self.server.load_model(model, parameters or None)
            else:
                dependents = messages.decode_unload_request(req.body)
                await self.server.unload_model(model, unload_dependents=dependents)
        except InferenceServerError as exc:
            return error_reply(exc)
        return Reply(200, [], JSON)

    # -------------------------------------------------------------------- shared memory

    async def shared_memory(self, req: HttpRequest, region: str, action: str,
                            cuda: bool) -> Reply:
        expected = "GET" if action == "status" else "POST"
        if req.method != expected:
            return METHOD_NOT_ALLOWED_REPLY
        registry = self.server.shared_memory
        kind = "cuda" if cuda else "system"
        try:
            if action == "status":
                regions = registry.cuda_status(region) if cuda else registry.status(region)
                return json_reply(messages.encode_shared_memory_status(regions))
            if action == "register":
                if not region:
                    raise invalid_arg(
                        f"'region name' is necessary to register {kind} shared memory region")
                if cuda:
                    registry.register_cuda(region)
                key, offset, byte_size = messages.decode_shared_memory_register(req.body)
                registry.register(region, key, offset, byte_size)
            elif cuda:
                registry.unregister_cuda(region)
            else:
                registry.unregister(region)
        except InferenceServerError as exc:
            return error_reply(exc)
        return Reply(200, [], JSON)

    # ----------------------------------------------------------------- trace, logging

    async def trace_setting(self, req: HttpRequest, model: str = "") -> Reply:
        if req.method not in ("GET", "POST"):
            return METHOD_NOT_ALLOWED_REPLY
        try:
            if model and not self.server.model_ready(model):
                raise invalid_arg(f"Request for unknown model : {model}")
            if req.method == "POST":
                messages.update_trace_settings(self.settings.trace, model, req.body)
        except InferenceServerError as exc:
            return error_reply(exc)
        return json_reply(messages.encode_trace_settings(self.settings.trace, model))

    async def logging(self, req: HttpRequest) -> Reply:
        if req.method not in ("GET", "POST"):
            return METHOD_NOT_ALLOWED_REPLY
        if req.method == "POST":
            try:
                messages.update_log_settings(self.settings.log, req.body)
            except InferenceServerError as exc:
                return error_reply(exc)
        return json_reply(messages.encode_log_settings(self.settings.log))


async def _close(responses: AsyncIterator[InferenceResponse]) -> None:
    """Close the core's response stream at once, so it learns of a cancel."""
    aclose = getattr(responses, "aclose", None)
    if aclose is not None:
        await aclose()
