"""HTTP/2 carrying gRPC messages, on one asyncio protocol per connection.

Why it is written here: pinned to one core, a 16-float ModelInfer echo costs ~100 µs of
server CPU per request on grpcio's thread-pool server (the fastest grpcio shape), ~97 µs
on the ``h2`` library's state machine, and ~28 µs on this module (``bench/README.md``,
"The gRPC transport"). grpcio passes each call between several threads; ``h2`` spends
its time in per-frame event objects. Here a connection is one protocol object on the
server's event loop: frames are parsed in place, every response of one loop turn leaves
in one write, and nothing crosses a thread. Header compression (HPACK with its Huffman
code and dynamic table) is the ``hpack`` library's; responses use only the static table
and literals, so encoding keeps no state.

Scope: what gRPC clients speak on an insecure channel, cleartext HTTP/2 with prior
knowledge (RFC 9113): SETTINGS, PING, GOAWAY, RST_STREAM, CONTINUATION, padding, and flow
control in both directions. On top of that the gRPC framing: length-prefixed messages
(gzip and deflate request messages are inflated), response headers and trailers,
``grpc-timeout``. Not here: TLS, server push, priorities, HTTP/1.1 upgrade.

:class:`Connection` owns the frames; each request becomes a :class:`Stream` handed to the
application's ``open_stream`` callback, which sets the stream's ``on_message``,
``on_half_close`` and ``on_cancel`` and answers with ``send_message`` and ``finish``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, cast

import hpack
import hpack.exceptions
from grpc import StatusCode

__all__ = ["Connection", "Stream"]

logger = logging.getLogger(__name__)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types (RFC 9113 §6).
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE = 0, 1, 2, 3, 4, 5
PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 6, 7, 8, 9
# Flags.
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
# Error codes (§7).
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0, 1, 2, 3
STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR = 5, 6, 7, 8, 9
# Settings (§6.5.2).
SETTINGS_HEADER_TABLE_SIZE, SETTINGS_INITIAL_WINDOW_SIZE, SETTINGS_MAX_FRAME_SIZE = 1, 4, 5

MAX_WINDOW = 2**31 - 1
DEFAULT_WINDOW = 65_535
DEFAULT_MAX_FRAME = 16_384
#: What this server lets a client send before it acknowledges: per stream and per
#: connection. Data is taken off the socket as it comes, so these bound buffering only.
STREAM_WINDOW = 1 << 24
CONNECTION_WINDOW = 1 << 26
#: Largest frame payload this server accepts (the HTTP/2 maximum: fewer frames per
#: large tensor).
MAX_FRAME = (1 << 24) - 1
#: Largest header block (HEADERS plus CONTINUATION) accepted before the connection fails.
MAX_HEADER_BLOCK = 1 << 16


def _frame_header(length: int, ftype: int, flags: int, stream_id: int) -> bytes:
    return (length << 48 | ftype << 40 | flags << 32 | stream_id).to_bytes(9, "big")


def _frame(ftype: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return _frame_header(len(payload), ftype, flags, stream_id) + payload


def _literal(name: bytes, value: bytes) -> bytes:
    """An HPACK "literal header field without indexing, new name", no Huffman coding.
    Names and values here are short (a gRPC status message is capped below)."""
    return b"\x00" + _hpack_int(len(name)) + name + _hpack_int(len(value)) + value


def _hpack_int(value: int) -> bytes:
    """An HPACK integer with a 7-bit prefix and the Huffman bit clear (RFC 7541 §5.1)."""
    if value < 0x7F:
        return bytes((value,))
    out = bytearray((0x7F,))
    value -= 0x7F
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# ":status: 200" is static-table entry 8; content-type (entry 31) and
# grpc-accept-encoding go as literals without indexing.
_RESPONSE_HEADERS = (
    b"\x88"
    + b"\x0f\x10" + _hpack_int(16) + b"application/grpc"
    + _literal(b"grpc-accept-encoding", b"identity,deflate,gzip")
)
_STATUS_OK = _literal(b"grpc-status", b"0")
_MESSAGE_MAX = 4096  # bytes of grpc-message kept (percent-encoded)
_UNRESERVED = frozenset(range(0x20, 0x7F)) - {ord("%")}


def _percent_encode(message: str) -> bytes:
    """``grpc-message`` encoding: printable ASCII except ``%`` as is, the rest as %XX."""
    raw = message.encode("utf-8", "replace")
    if all(b in _UNRESERVED for b in raw):
        return raw[:_MESSAGE_MAX]
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in raw).encode(
        "ascii")[:_MESSAGE_MAX]


def _trailer_block(code: StatusCode, message: str) -> bytes:
    if code is StatusCode.OK and not message:
        return _STATUS_OK
    block = _literal(b"grpc-status", str(code.value[0]).encode())
    if message:
        block += _literal(b"grpc-message", _percent_encode(message))
    return block


_TIMEOUT_UNITS = {b"H": 3600.0, b"M": 60.0, b"S": 1.0, b"m": 1e-3, b"u": 1e-6, b"n": 1e-9}


def parse_timeout(value: bytes) -> float | None:
    """``grpc-timeout`` (up to 8 digits and a unit) in seconds; None if malformed."""
    unit = _TIMEOUT_UNITS.get(value[-1:])
    digits = value[:-1]
    if unit is None or not digits.isdigit() or len(digits) > 8:
        return None
    return int(digits) * unit


class StreamError(Exception):
    """A request the stream cannot deliver; ``code``/``message`` become its status."""

    def __init__(self, code: StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Stream:
    """One gRPC call: the request's headers and messages in, messages and status out.

    The application sets the three callbacks in ``open_stream``: ``on_message(data)`` for
    each complete request message (bytes, or a memoryview that owns its buffer for large
    ones), ``on_half_close()`` when the client has sent its last message, and
    ``on_cancel()`` when the call ends without a status from us (RST_STREAM, connection
    lost, server stopping). After :meth:`finish` none of them is called.
    """

    __slots__ = (
        "_conn",
        "_encoding",
        "_inbuf",
        "_pending",
        "_recv_unacked",
        "_trailers",
        "closed",
        "headers",
        "headers_sent",
        "id",
        "on_cancel",
        "on_half_close",
        "on_message",
        "path",
        "remote_closed",
        "send_window",
        "timeout",
    )

    def __init__(self, conn: Connection, stream_id: int, path: str,
                 headers: tuple[tuple[bytes, bytes], ...], timeout: float | None,
                 encoding: bytes, send_window: int) -> None:
        self._conn = conn
        self.id = stream_id
        self.path = path
        self.headers = headers  # the request's non-pseudo headers, in order
        self.timeout = timeout  # seconds, from grpc-timeout
        self._encoding = encoding
        self._inbuf = bytearray()
        self._recv_unacked = 0
        self.send_window = send_window
        self._pending: deque[memoryview] = deque()  # DATA waiting for flow control
        self._trailers: bytes | None = None  # to send once _pending drains
        self.headers_sent = False
        self.closed = False  # our side is done (trailers queued or sent, or reset)
        self.remote_closed = False
        self.on_message: Callable[[Any], None] | None = None
        self.on_half_close: Callable[[], None] | None = None
        self.on_cancel: Callable[[], None] | None = None

    def metadata(self) -> list[tuple[str, str | bytes]]:
        """The custom request metadata as grpcio presents it: ``-bin`` keys base64-decoded
        to bytes, the rest as str; HTTP/2 and gRPC transport headers left out."""
        out: list[tuple[str, str | bytes]] = []
        for name, value in self.headers:
            if name in _TRANSPORT_HEADERS:
                continue
            key = name.decode("latin-1")
            if key.endswith("-bin"):
                try:
                    out.append((key, base64.b64decode(value + b"=" * (-len(value) % 4))))
                except ValueError:
                    continue
            else:
                out.append((key, value.decode("latin-1")))
        return out

    # ---------------------------------------------------------------- receiving

    def _data(self, payload: memoryview) -> None:
        """Request bytes from DATA frames: cut them into gRPC messages."""
        if self.closed:  # answered already: what the client still sends is dropped
            return
        buf = self._inbuf
        if not buf and len(payload) >= 5:
            # The common case, one whole message in one frame: no stream buffer at all.
            length = int.from_bytes(payload[1:5], "big")
            if len(payload) == 5 + length and length <= self._conn.max_message_bytes:
                message: Any = payload[5:] if length >= 65536 else bytes(payload[5:])
                if payload[0]:
                    message = self._inflate(message)
                if self.on_message is not None:
                    self.on_message(message)
                return
        buf += payload
        while len(buf) >= 5 and not self.closed:
            length = int.from_bytes(buf[1:5], "big")
            if length > self._conn.max_message_bytes:
                raise StreamError(
                    StatusCode.RESOURCE_EXHAUSTED,
                    f"Received message larger than max ({length} vs. "
                    f"{self._conn.max_message_bytes})")
            end = 5 + length
            if len(buf) < end:
                return
            compressed = buf[0]
            if len(buf) == end and length >= 65536:
                message = memoryview(buf)[5:]  # hand the buffer over, no copy
                self._inbuf = buf = bytearray()
            else:
                message = bytes(buf[5:end])
                del buf[:end]
            if compressed:
                message = self._inflate(message)
            if self.on_message is not None:
                self.on_message(message)

    def _inflate(self, message: Any) -> bytes:
        """The message a compressed one stands for, no larger than the message limit
        (checked on the inflated size, as grpcio does: a small "zip bomb" must not fill
        the server's memory)."""
        encoding = self._encoding
        if encoding in (b"gzip", b"deflate"):
            limit = self._conn.max_message_bytes
            inflater = zlib.decompressobj(31 if encoding == b"gzip" else 15)
            try:
                data = inflater.decompress(message, limit + 1)
            except zlib.error as exc:
                raise StreamError(StatusCode.INTERNAL,
                                  f"Failed to decompress the message: {exc}") from exc
            if len(data) > limit or inflater.unconsumed_tail:
                raise StreamError(
                    StatusCode.RESOURCE_EXHAUSTED,
                    f"Received message larger than max (more than {limit} bytes once "
                    f"decompressed vs. {limit})")
            return data
        if not encoding or encoding == b"identity":
            raise StreamError(StatusCode.INTERNAL,
                              "Compressed message without a grpc-encoding header")
        raise StreamError(StatusCode.UNIMPLEMENTED,
                          f"Compression algorithm '{encoding.decode('latin-1')}' "
                          "not supported")

    # ---------------------------------------------------------------- sending

    def send_message(self, parts: bytes | Sequence[bytes | memoryview]) -> None:
        """Send one gRPC message (its serialized bytes, or pieces to concatenate)."""
        if self.closed:
            return
        if isinstance(parts, bytes | bytearray | memoryview):
            parts = (parts,)
        total = 0
        for part in parts:  # bytes, or views of any format: count bytes, not items
            total += part.nbytes if isinstance(part, memoryview) else len(part)
        conn = self._conn
        out = conn._out
        if not self.headers_sent:
            self.headers_sent = True
            out.append(_frame(HEADERS, END_HEADERS, self.id, _RESPONSE_HEADERS))
        prefix = b"\x00" + total.to_bytes(4, "big")
        size = total + 5
        if (not self._pending and size <= conn.send_window and size <= self.send_window
                and size <= conn.peer_max_frame):
            conn.send_window -= size
            self.send_window -= size
            out.append(_frame_header(size, DATA, 0, self.id) + prefix)
            out.extend(parts)
            conn._schedule_flush()
            return
        self._pending.append(memoryview(prefix))
        self._pending.extend(memoryview(p).cast("B") for p in parts if len(p))
        conn._drain(self)

    def finish(self, code: StatusCode = StatusCode.OK, message: str = "") -> None:
        """End the call with a status (trailers after any data still waiting)."""
        if self.closed:
            return
        self.closed = True
        conn = self._conn
        if not self.headers_sent:  # Trailers-Only: status in the one HEADERS frame
            self.headers_sent = True
            block = _RESPONSE_HEADERS + _trailer_block(code, message)
            conn._out.append(_frame(HEADERS, END_HEADERS | END_STREAM, self.id, block))
            conn._closed(self)
            conn._flush_after_call()
            return
        self._trailers = _frame(HEADERS, END_HEADERS | END_STREAM, self.id,
                                _trailer_block(code, message))
        if not self._pending:
            conn._out.append(self._trailers)
            self._trailers = None
            conn._closed(self)
        conn._flush_after_call()

    def reset(self, error: int = CANCEL) -> None:
        """Abort the stream (RST_STREAM); nothing more is sent on it."""
        conn = self._conn
        if conn._streams.get(self.id) is not self:
            return
        conn._out.append(_frame(RST_STREAM, 0, self.id, error.to_bytes(4, "big")))
        self.remote_closed = True  # no second RST_STREAM from _closed
        self._cancelled()  # the application stops its work
        conn._closed(self)
        conn._schedule_flush()

    def _cancelled(self) -> None:
        """The call ends without (more of) our answer: output still queued is dropped,
        and the application hears of it unless it had already finished."""
        self._pending.clear()
        self._trailers = None
        if not self.closed:
            self.closed = True
            _call_guarded(self.on_cancel, self.path)
        self._release()

    def _release(self) -> None:
        """Drop the application's callbacks: they close over the stream, and the cycle
        would otherwise leave every call to the cyclic garbage collector, whose pauses
        (milliseconds, several times a second under load) set the latency tail."""
        self.on_message = self.on_half_close = self.on_cancel = None


def _call_guarded(callback: Callable[[], None] | None, path: str) -> None:
    if callback is not None:
        try:
            callback()
        except Exception:
            logger.exception("error cancelling gRPC call %s", path)


_TRANSPORT_HEADERS = frozenset((
    b"te", b"content-type", b"grpc-timeout", b"grpc-encoding", b"grpc-accept-encoding",
    b"content-length", b"connection", b"host",
))


class _RequestHead(NamedTuple):
    """What a request's headers say, decoded once (and cached, see ``_decode_headers``)."""

    post: bool
    grpc: bool  # content-type application/grpc[+...]
    path: str
    headers: tuple[tuple[bytes, bytes], ...]  # the non-pseudo headers, in order
    timeout: float | None
    encoding: bytes


_INDEX_BYTES = bytes(range(0x80, 0x100))  # one-byte "indexed header field"s
_HEADER_CACHE_SIZE = 64


class ProtocolFailure(Exception):
    """A connection-level protocol error: GOAWAY with ``code``, then close."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Connection(asyncio.Protocol):
    """One client connection (see the module doc). ``open_stream`` receives each new
    call once its headers are complete; ``on_close`` is told when the connection ends."""

    def __init__(self, open_stream: Callable[[Stream], None], *,
                 max_message_bytes: int = 2**31 - 1,
                 on_close: Callable[[Connection], None] | None = None) -> None:
        self._open_stream = open_stream
        self._on_close = on_close
        self.max_message_bytes = max_message_bytes
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_event_loop()
        # Bytes of an incomplete frame, kept as received until ``_need`` bytes are there
        # (then joined once: a large frame is copied once, not once per read).
        self._chunks: list[bytes] = []
        self._have = 0
        self._need = 0
        self._preface = False
        self._decoder = hpack.Decoder()
        self._header_cache: dict[bytes, _RequestHead] = {}
        self._streams: dict[int, Stream] = {}
        self._last_id = 0
        self._out: list[Any] = []
        self._flush_scheduled = False
        self._reading = False  # in data_received: it writes what its frames produced
        self._recv_unacked = 0
        self.send_window = DEFAULT_WINDOW
        self.peer_initial_window = DEFAULT_WINDOW
        self.peer_max_frame = DEFAULT_MAX_FRAME
        self._blocked: dict[int, Stream] = {}  # streams waiting for the connection window
        self._header_block: bytearray | None = None  # HEADERS awaiting CONTINUATION
        self._header_stream = 0
        self._header_flags = 0
        self._going_away = False
        self.closed = False

    # ---------------------------------------------------------------- life cycle

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._transport = transport
        settings = (SETTINGS_INITIAL_WINDOW_SIZE.to_bytes(2, "big")
                    + STREAM_WINDOW.to_bytes(4, "big")
                    + SETTINGS_MAX_FRAME_SIZE.to_bytes(2, "big") + MAX_FRAME.to_bytes(4, "big"))
        transport.write(_frame(SETTINGS, 0, 0, settings)
                        + _frame(WINDOW_UPDATE, 0, 0,
                                 (CONNECTION_WINDOW - DEFAULT_WINDOW).to_bytes(4, "big")))

    def pause_writing(self) -> None:
        """The socket's send buffer is full (a client that does not read): read no more
        from it until it drains, so answers to its PINGs, SETTINGS and calls cannot pile
        up here without bound."""
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None and not self.closed:
            self._transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_all()
        if self._on_close is not None:
            self._on_close(self)

    def _cancel_all(self) -> None:
        self.closed = True
        streams, self._streams = self._streams, {}
        self._blocked.clear()
        for stream in streams.values():
            stream._cancelled()

    @property
    def active_streams(self) -> int:
        return len(self._streams)

    def go_away(self) -> None:
        """Refuse new calls (GOAWAY); close once the running ones have finished."""
        if self._going_away or self.closed:
            return
        self._going_away = True
        self._out.append(_frame(GOAWAY, 0, 0, self._last_id.to_bytes(4, "big")
                                + NO_ERROR.to_bytes(4, "big")))
        self._flush()
        if not self._streams and self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Cancel every call (now) and drop the connection."""
        if self._transport is not None and not self.closed:
            self._transport.abort()
        self._cancel_all()

    # ---------------------------------------------------------------- output

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush_after_call(self) -> None:
        """A call ended: write at once when no other call is open on this connection (no
        other answer can join this write before the loop's turn ends, and the client is
        waiting for this one; A/B: small gRPC c1 and the video frames unary 1.03x),
        else at the end of the turn, with the answers of the others. A call answered
        while its connection's input is being read (a refusal, a cache hit) waits for
        the end of that read: the calls behind it in the same read are not open yet."""
        if self._streams or self._reading:
            self._schedule_flush()
        else:
            self._flush()

    def _flush(self) -> None:
        self._flush_scheduled = False
        out = self._out
        if not out or self._transport is None or self.closed:
            out.clear()
            return
        self._out = []
        if len(out) == 1:
            self._transport.write(out[0])
        else:
            self._transport.writelines(out)

    def _drain(self, stream: Stream) -> None:
        """Send what flow control allows of ``stream``'s waiting DATA (then its trailers)."""
        pending = stream._pending
        out = self._out
        max_frame = self.peer_max_frame
        while pending:
            room = min(self.send_window, stream.send_window, max_frame)
            if room <= 0:
                break
            frame: list[memoryview] = []
            size = 0
            while pending and size < room:
                chunk = pending[0]
                take = min(len(chunk), room - size)
                if take == len(chunk):
                    frame.append(pending.popleft())
                else:
                    frame.append(chunk[:take])
                    pending[0] = chunk[take:]
                size += take
            self.send_window -= size
            stream.send_window -= size
            out.append(_frame_header(size, DATA, 0, stream.id))
            out.extend(frame)
        if pending:
            if self.send_window <= 0:
                self._blocked[stream.id] = stream
        else:
            self._blocked.pop(stream.id, None)
            if stream._trailers is not None:
                out.append(stream._trailers)
                stream._trailers = None
                self._closed(stream)
        self._schedule_flush()

    def _closed(self, stream: Stream) -> None:
        """Our side of ``stream`` is done: forget it (late DATA for it is dropped)."""
        stream._release()
        # The client may still be sending: tell it to stop (as gRPC servers do).
        if (self._streams.pop(stream.id, None) is not None and not stream.remote_closed
                and stream._trailers is None):
            self._out.append(_frame(RST_STREAM, 0, stream.id,
                                        NO_ERROR.to_bytes(4, "big")))
        self._blocked.pop(stream.id, None)
        self._close_if_done()

    def _close_if_done(self) -> None:
        """After a GOAWAY (ours or the client's), close once no call is left."""
        if self._going_away and not self._streams and self._transport is not None:
            self._flush()
            self._transport.close()

    def _fail(self, code: int, message: str) -> None:
        logger.info("closing a gRPC connection: %s", message)
        self._out.append(_frame(GOAWAY, 0, 0, self._last_id.to_bytes(4, "big")
                                + code.to_bytes(4, "big") + message.encode()[:256]))
        self._flush()
        if self._transport is not None:
            self._transport.close()
        self.closed = True

    # ---------------------------------------------------------------- input

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        chunks = self._chunks
        if chunks:
            chunks.append(data)
            self._have += len(data)
            if self._have < self._need:
                return
            data = b"".join(chunks)
            chunks.clear()
        self._reading = True
        try:
            pos = self._frames(data)
        except ProtocolFailure as exc:
            self._fail(exc.code, str(exc))
            return
        except Exception:
            logger.exception("error in a gRPC connection")
            self._fail(INTERNAL_ERROR, "internal error")
            return
        finally:
            self._reading = False
        if pos < len(data):
            rest = data[pos:] if pos else data
            chunks.append(rest)
            self._have = len(rest)
            # The next frame's header, or the whole frame once its header is here.
            self._need = (24 if not self._preface else
                          9 + (int.from_bytes(rest[:3], "big") if len(rest) >= 9 else 0))
        if self._out:
            self._flush()

    def _frames(self, data: bytes) -> int:
        """Handle every complete frame in ``data``; returns how many bytes were used.

        Payloads go on as memoryviews of ``data``: immutable, so whoever keeps one (a
        large request message is parsed in place) keeps valid bytes."""
        pos = 0
        if not self._preface:
            if len(data) < 24:
                if not PREFACE.startswith(data):
                    raise ProtocolFailure(PROTOCOL_ERROR, "not an HTTP/2 client preface")
                return 0
            if data[:24] != PREFACE:
                raise ProtocolFailure(PROTOCOL_ERROR, "not an HTTP/2 client preface")
            self._preface = True
            pos = 24
        end = len(data)
        view = memoryview(data)
        while end - pos >= 9:
            head = int.from_bytes(data[pos:pos + 9], "big")
            length = head >> 48
            if length > MAX_FRAME:
                raise ProtocolFailure(FRAME_SIZE_ERROR, f"frame of {length} bytes")
            if end - pos - 9 < length:
                break
            ftype = (head >> 40) & 0xFF
            flags = (head >> 32) & 0xFF
            stream_id = head & 0x7FFFFFFF
            start = pos + 9
            pos = start + length
            if self._header_block is not None and ftype != CONTINUATION:
                raise ProtocolFailure(PROTOCOL_ERROR, "expected CONTINUATION")
            if ftype == DATA:
                self._on_data(view[start:pos], flags, stream_id, length)
            elif ftype == HEADERS:
                self._on_headers(view[start:pos], flags, stream_id)
            elif ftype == CONTINUATION:
                self._on_continuation(view[start:pos], flags, stream_id)
            elif ftype == WINDOW_UPDATE:
                self._on_window_update(bytes(view[start:pos]), stream_id)
            elif ftype == PING:
                if stream_id:
                    raise ProtocolFailure(PROTOCOL_ERROR, "PING on a stream")
                if length != 8:
                    raise ProtocolFailure(FRAME_SIZE_ERROR, "PING length")
                if not flags & ACK:
                    self._out.append(_frame(PING, ACK, 0, bytes(view[start:pos])))
            elif ftype == SETTINGS:
                self._on_settings(bytes(view[start:pos]), flags, stream_id)
            elif ftype == RST_STREAM:
                stream = self._streams.get(stream_id)
                if stream is not None:
                    stream.remote_closed = True  # no RST_STREAM back from _closed
                    stream._cancelled()
                    self._closed(stream)
            elif ftype == GOAWAY:
                self._going_away = True
                self._close_if_done()
            elif ftype == PUSH_PROMISE:
                raise ProtocolFailure(PROTOCOL_ERROR, "PUSH_PROMISE from a client")
            # PRIORITY and unknown frame types are ignored (§5.5).
        return pos

    def _on_data(self, payload: memoryview, flags: int, stream_id: int, length: int) -> None:
        if stream_id == 0:
            raise ProtocolFailure(PROTOCOL_ERROR, "DATA on stream 0")
        # Flow control counts the whole payload, padding included (§6.9.1).
        self._recv_unacked += length
        if self._recv_unacked >= CONNECTION_WINDOW // 2:
            self._out.append(_frame(WINDOW_UPDATE, 0, 0, self._recv_unacked.to_bytes(4, "big")))
            self._recv_unacked = 0
        stream = self._streams.get(stream_id)
        if stream is None or stream.remote_closed:
            if stream_id > self._last_id:
                raise ProtocolFailure(PROTOCOL_ERROR, "DATA on an idle stream")
            return  # a stream we already ended: drop it
        if stream.closed:  # answered, trailers waiting for flow control: input is dropped
            if flags & END_STREAM:
                stream.remote_closed = True
            return
        if flags & PADDED:
            if not length or payload[0] >= length:
                raise ProtocolFailure(PROTOCOL_ERROR, "bad padding")
            payload = payload[1:length - payload[0]]
        stream._recv_unacked += length
        if stream._recv_unacked >= STREAM_WINDOW // 2 and not flags & END_STREAM:
            self._out.append(_frame(WINDOW_UPDATE, 0, stream_id,
                                    stream._recv_unacked.to_bytes(4, "big")))
            stream._recv_unacked = 0
        end = flags & END_STREAM
        if end:  # before the message is handed on, so an answer to it needs no RST_STREAM
            stream.remote_closed = True
        try:
            if len(payload):
                stream._data(payload)
            if end:
                self._half_closed(stream)
        except Exception as exc:
            self._stream_failed(stream, exc)

    def _stream_failed(self, stream: Stream, exc: Exception) -> None:
        """``stream``'s input could not be taken (or the application failed on it): end
        that call alone with a status; the connection's other calls go on."""
        if not isinstance(exc, StreamError):
            logger.error("error in gRPC call %s", stream.path, exc_info=exc)
            exc = StreamError(StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")
        callback, stream.on_cancel = stream.on_cancel, None
        stream.finish(exc.code, exc.message)  # tells a still-sending client to stop
        stream.remote_closed = True
        _call_guarded(callback, stream.path)

    def _half_closed(self, stream: Stream) -> None:
        stream.remote_closed = True
        if stream.closed:  # answered: _closed forgets it once its output has left
            return
        if len(stream._inbuf):
            raise StreamError(StatusCode.INTERNAL, "Incomplete message at the end of the stream")
        if stream.on_half_close is not None:
            stream.on_half_close()

    def _on_headers(self, payload: memoryview, flags: int, stream_id: int) -> None:
        start, stop = 0, len(payload)
        if flags & PADDED:
            if not stop or payload[0] >= stop:
                raise ProtocolFailure(PROTOCOL_ERROR, "bad padding")
            start, stop = 1, stop - payload[0]
        if flags & PRIORITY_FLAG:
            start += 5
        if start > stop:
            raise ProtocolFailure(PROTOCOL_ERROR, "HEADERS too short")
        block = bytes(payload[start:stop])
        if flags & END_HEADERS:
            self._headers_complete(block, flags, stream_id)
        else:
            self._header_block = bytearray(block)
            self._header_stream = stream_id
            self._header_flags = flags

    def _on_continuation(self, payload: memoryview, flags: int, stream_id: int) -> None:
        block = self._header_block
        if block is None or stream_id != self._header_stream:
            raise ProtocolFailure(PROTOCOL_ERROR, "unexpected CONTINUATION")
        block += payload
        if len(block) > MAX_HEADER_BLOCK:
            raise ProtocolFailure(PROTOCOL_ERROR, "header block too large")
        if flags & END_HEADERS:
            self._header_block = None
            self._headers_complete(bytes(block), self._header_flags, stream_id)

    def _headers_complete(self, block: bytes, flags: int, stream_id: int) -> None:
        request = self._header_cache.get(block)
        if request is None:
            request = self._decode_headers(block)
        existing = self._streams.get(stream_id)
        if existing is not None:  # trailers from the client: only END_STREAM matters
            if flags & END_STREAM:
                try:
                    self._half_closed(existing)
                except Exception as exc:
                    self._stream_failed(existing, exc)
            return
        if stream_id % 2 == 0:
            raise ProtocolFailure(PROTOCOL_ERROR, "bad stream id")
        if stream_id <= self._last_id:
            return  # a stream already ended (frames in flight are ignored, §5.1)
        self._last_id = stream_id
        if self._going_away:
            self._out.append(_frame(RST_STREAM, 0, stream_id,
                                    REFUSED_STREAM.to_bytes(4, "big")))
            return
        self._new_stream(request, flags, stream_id)

    def _decode_headers(self, block: bytes) -> _RequestHead:
        """Decode a request's header block (HPACK) into what a stream needs.

        A client repeating a call sends the same bytes each time: every field an index
        into the tables (one byte of 0x81-0xFF each). Such a block leaves the dynamic
        table as it was, so its meaning is fixed until a block that is not all indexes
        arrives; until then the decoded result is cached by its bytes (decoding costs
        more than the rest of the transport's work for a call)."""
        try:
            headers = self._decoder.decode(block, raw=True)
        except (hpack.exceptions.HPACKError, IndexError, ValueError) as exc:
            raise ProtocolFailure(COMPRESSION_ERROR, f"bad header block: {exc}") from exc
        method = path = content_type = b""
        timeout: float | None = None
        encoding = b""
        rest: list[tuple[bytes, bytes]] = []
        for name, value in headers:
            if name[:1] == b":":
                if name == b":path":
                    path = value
                elif name == b":method":
                    method = value
                continue
            if name == b"content-type":
                content_type = value
            elif name == b"grpc-timeout":
                timeout = parse_timeout(value)
            elif name == b"grpc-encoding":
                encoding = value
            rest.append((name, value))
        head = _RequestHead(method == b"POST", content_type.startswith(b"application/grpc"),
                            path.decode("latin-1"), tuple(rest), timeout, encoding)
        cache = self._header_cache
        if block.translate(None, _INDEX_BYTES):  # not all indexes: the table may differ now
            cache.clear()
        elif len(cache) < _HEADER_CACHE_SIZE:
            cache[block] = head
        return head

    def _new_stream(self, head: _RequestHead, flags: int, stream_id: int) -> None:
        stream = Stream(self, stream_id, head.path, head.headers, head.timeout, head.encoding,
                        self.peer_initial_window)
        self._streams[stream_id] = stream
        if not head.post or not head.grpc:
            # Not a gRPC call: an HTTP status alone ("literal without indexing" whose name
            # is static entry 8, ":status"), as gRPC servers answer.
            status = b"405" if not head.post else b"415"
            stream.headers_sent = stream.closed = True
            self._out.append(_frame(HEADERS, END_HEADERS | END_STREAM, stream_id,
                                    b"\x08\x03" + status))
            self._closed(stream)
            return
        try:
            self._open_stream(stream)
        except Exception:
            logger.exception("error opening gRPC call %s", stream.path)
            stream.finish(StatusCode.INTERNAL, "Internal error opening the call")
            return
        if flags & END_STREAM:
            try:
                self._half_closed(stream)
            except Exception as exc:
                self._stream_failed(stream, exc)

    def _on_settings(self, payload: bytes, flags: int, stream_id: int) -> None:
        if stream_id:
            raise ProtocolFailure(PROTOCOL_ERROR, "SETTINGS on a stream")
        if flags & ACK:
            return
        if len(payload) % 6:
            raise ProtocolFailure(FRAME_SIZE_ERROR, "SETTINGS length")
        for i in range(0, len(payload), 6):
            key = int.from_bytes(payload[i:i + 2], "big")
            value = int.from_bytes(payload[i + 2:i + 6], "big")
            if key == SETTINGS_INITIAL_WINDOW_SIZE:
                if value > MAX_WINDOW:
                    raise ProtocolFailure(FLOW_CONTROL_ERROR, "initial window too large")
                delta = value - self.peer_initial_window
                self.peer_initial_window = value
                for stream in self._streams.values():
                    stream.send_window += delta
                    if stream.send_window > MAX_WINDOW:
                        raise ProtocolFailure(FLOW_CONTROL_ERROR, "stream window overflow")
            elif key == SETTINGS_MAX_FRAME_SIZE:
                if not DEFAULT_MAX_FRAME <= value <= MAX_FRAME:
                    raise ProtocolFailure(PROTOCOL_ERROR, "bad max frame size")
                self.peer_max_frame = value
            # HEADER_TABLE_SIZE: responses never index, so the peer's decoder table size
            # does not matter; the others do not apply to a server.
        self._out.append(_frame(SETTINGS, ACK, 0))
        for stream in list(self._streams.values()):
            if stream._pending:
                self._drain(stream)

    def _on_window_update(self, payload: bytes, stream_id: int) -> None:
        if len(payload) != 4:
            raise ProtocolFailure(FRAME_SIZE_ERROR, "WINDOW_UPDATE length")
        increment = int.from_bytes(payload, "big") & 0x7FFFFFFF
        if stream_id == 0:
            if not increment:
                raise ProtocolFailure(PROTOCOL_ERROR, "WINDOW_UPDATE of 0")
            self.send_window += increment
            if self.send_window > MAX_WINDOW:
                raise ProtocolFailure(FLOW_CONTROL_ERROR, "connection window overflow")
            for blocked in list(self._blocked.values()):
                if self.send_window <= 0:
                    break
                self._drain(blocked)
            return
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        if not increment:
            stream.reset(PROTOCOL_ERROR)
            return
        stream.send_window += increment
        if stream.send_window > MAX_WINDOW:
            stream.reset(FLOW_CONTROL_ERROR)
            return
        if stream._pending:
            self._drain(stream)
