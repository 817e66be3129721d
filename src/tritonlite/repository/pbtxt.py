"""``config.pbtxt`` text <-> ``ModelConfig`` <-> Triton's JSON.

Parsing and printing only: no file is opened here (the loader reads bytes and hands them
over). Three directions:

* :func:`parse_config`: protobuf text format -> ``ModelConfig``. Protobuf's ``ParseError``
  is translated once, here, into a :class:`ConfigError` whose message names the file, the
  line, the column and the offending field::

      /models/m/config.pbtxt:3:1: unknown field 'max_batch_sise' in ModelConfig

* :func:`config_to_json` / :func:`config_to_dict`: ``ModelConfig`` -> the JSON the reference
  Triton 2.51 serves on ``GET /v2/models/<m>/config`` and hands the model as
  ``args['model_config']``. Rules, all checked against the reference:

  - fields appear in declaration order; scalars and repeated/map fields are always
    printed (defaults included), message fields only when set;
  - scalars inside a oneof (``zero_data``, ``data_file``, ...) are printed only when set,
    and after the other fields of their message (so ``initial_state`` prints
    ``data_type, dims, name, zero_data``);
  - enums print their names; map entries print sorted by key;
  - 64-bit integers print as JSON numbers, EXCEPT the three fields Triton forgets to
    fix, which stay strings the way protobuf prints them (:data:`_INT64_KEPT_AS_STRING`);
  - floats print the way C++ protobuf + rapidjson do (``0.5``, ``1`` for 1.0).

* :func:`config_from_json`: Triton-shaped JSON (numbers or strings for 64-bit fields)
  -> ``ModelConfig``; for load requests that carry ``parameters.config``.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import struct
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from google.protobuf import json_format, text_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from tritonclient.grpc.model_config_pb2 import ModelConfig

from tritonlite.repository.errors import ConfigError

__all__ = ["config_from_json", "config_to_dict", "config_to_json", "parse_config"]

# ----------------------------------------------------------------------------- parsing


def parse_config(
    text: str | bytes, *, path: str | os.PathLike[str] = "config.pbtxt"
) -> ModelConfig:
    """Parse protobuf text format into a ``ModelConfig``.

    ``path`` is only used in error messages. An empty text gives an empty config, which is
    what the reference does with an empty ``config.pbtxt`` (the same as a missing one).
    Raises :class:`ConfigError` (INVALID_ARG) on a syntax or schema error.
    """
    where = os.fspath(path)
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{where}: not valid UTF-8 text ({exc})", path=where) from exc
    config = ModelConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise _translate_parse_error(exc, text, where) from exc
    return config


_TYPE = r'"(?:[\w.]+\.)?(\w+)"'  # a quoted full type name; group = its last component

# (protobuf's message, our wording, which group names the offending field or None when
# the field is found from the text around the error).
_PARSE_MESSAGES: list[tuple[re.Pattern[str], str, int | None]] = [
    (re.compile(rf"Message type {_TYPE} has no field named \"([^\"]+)\"\.?$"),
     "unknown field '{1}' in {0}", 2),
    (re.compile(rf"Message type {_TYPE} should not have multiple \"(\w+)\" fields\.?$"),
     "field '{1}' is set more than once in {0}", 2),
    (re.compile(rf"Field \"(\w+)\" is specified along with field \"(\w+)\", another member "
                rf"of oneof \"(\w+)\" for message type {_TYPE}\.?$"),
     "field '{0}' conflicts with field '{1}' (both are in oneof '{2}' of {3})", 1),
    (re.compile(rf"Enum type {_TYPE} has no value named (\S+?)\.?$"),
     "invalid value '{1}' for field '{field}': enum {0} has no such value", None),
    (re.compile(rf"Enum type {_TYPE} has no value with number (\S+?)\.?$"),
     "invalid value {1} for field '{field}': enum {0} has no such value", None),
    (re.compile(r"Couldn't parse (\w+): (.*)$"),
     "invalid value {1} for field '{field}': expected {0}", None),
    (re.compile(r"Expected (.+?)\.?$"),
     "syntax error in field '{field}': expected {0}, found {found}", None),
]


def _translate_parse_error(exc: text_format.ParseError, text: str, where: str) -> ConfigError:
    line, column = exc.GetLine(), exc.GetColumn()
    message = str(exc)
    if line is None or column is None:
        return ConfigError(f"{where}: {message}", path=where)
    message = message.removeprefix(f"{line}:{column} : ")
    lines = text.split("\n")  # protobuf's tokenizer counts lines by "\n" only
    source_line = lines[line - 1] if 0 < line <= len(lines) else ""
    # Tokenizer errors quote the current line first: "'<line>': Expected ...".
    for quoted in (source_line, source_line.strip(), source_line.rstrip()):
        if message.startswith(f"'{quoted}': "):
            message = message[len(quoted) + 4 :]
            break
    offset = sum(len(x) + 1 for x in lines[: line - 1]) + column - 1
    field = _field_at(text, offset)
    described = message if field is None else f"{message} (field '{field}')"
    for pattern, template, field_group in _PARSE_MESSAGES:
        match = pattern.match(message)
        if match is None:
            continue
        if field_group is not None:
            field = match.group(field_group)
        elif field is None:
            template = template.replace(" in field '{field}'", "").replace(
                " for field '{field}'", "")
        described = template.format(*match.groups(), field=field,
                                    found=_token_at(source_line, column - 1))
        break
    return ConfigError(f"{where}:{line}:{column}: {described}", path=where, line=line,
                       column=column, field=field)


_TOKEN = re.compile(r"""#[^\n]*|"(?:[^"\\\n]|\\.)*"?|'(?:[^'\\\n]|\\.)*'?|[\w.+-]+|\S""")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


def _field_at(text: str, offset: int) -> str | None:
    """The field whose value (or body) is being parsed at ``offset`` of ``text``: the last
    field named at the current nesting level, else the innermost enclosing field."""
    enclosing: list[str | None] = []
    pending: str | None = None  # the last identifier, until we see what follows it
    current: str | None = None  # the last field named at this nesting level
    for match in _TOKEN.finditer(text, 0, offset):
        token = match.group()
        if token.startswith("#"):
            continue
        if token in (":", "{", "<", "["):
            if pending is not None:
                current, pending = pending, None
            if token != ":":
                enclosing.append(current)
                current = None
        elif token in ("}", ">", "]"):
            opened_by = enclosing.pop() if enclosing else None
            current = opened_by if token == "]" else None
            pending = None
        else:
            pending = token if _IDENTIFIER.fullmatch(token) else None
    if current is not None:
        return current
    return next((name for name in reversed(enclosing) if name is not None), None)


def _token_at(line: str, index: int) -> str:
    match = _TOKEN.match(line, index) if 0 <= index < len(line) else None
    return f"'{match.group()}'" if match else "end of line"


# ----------------------------------------------------------------------- printing (JSON)

# 64-bit fields whose value Triton 2.51 leaves as a JSON string: its ModelConfigToJson
# fixes a hard-coded list of 64-bit fields and misses these (observed on the reference:
# "device_id":"3", "dim":["4"], and initial_state "dims":["2"]).
_INT64_KEPT_AS_STRING = frozenset({
    "inference.ModelInstanceGroup.SecondaryDevice.device_id",
    "inference.ModelOptimizationPolicy.Cuda.GraphSpec.Shape.dim",
    "inference.ModelSequenceBatching.InitialState.dims",
})
# Fields newer than Triton 2.51's model_config.proto: not printed while at their default.
_NEWER_THAN_REFERENCE = frozenset({"inference.ModelEnsembling.max_inflight_requests"})

_INT64_TYPES = frozenset({
    FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_SINT64,
    FieldDescriptor.TYPE_FIXED64, FieldDescriptor.TYPE_SFIXED64,
})
_INT_LIKE = re.compile(r"-?\d+")


def config_to_json(config: Message) -> str:
    """Triton's compact JSON for a ``ModelConfig`` (see the module docstring)."""
    return _message_json(config)


def config_to_dict(config: Message) -> dict[str, Any]:
    """``json.loads(config_to_json(config))``: the dict a model sees in
    ``json.loads(args['model_config'])``."""
    result: dict[str, Any] = json.loads(config_to_json(config))
    return result


def _message_json(message: Message) -> str:
    parts: list[str] = []
    oneof_scalars: list[str] = []
    for field in message.DESCRIPTOR.fields:
        if field.is_repeated:
            value = getattr(message, field.name)
            if _is_map(field):
                text = _map_json(field, value)
            else:
                text = "[" + ",".join(_value_json(field, item) for item in value) + "]"
        elif field.message_type is not None:
            if not message.HasField(field.name):
                continue
            text = _message_json(getattr(message, field.name))
        elif field.has_presence:
            if message.HasField(field.name):
                oneof_scalars.append(
                    f'"{field.name}":{_value_json(field, getattr(message, field.name))}')
            continue
        else:
            value = getattr(message, field.name)
            if field.full_name in _NEWER_THAN_REFERENCE and not value:
                continue
            text = _value_json(field, value)
        parts.append(f'"{field.name}":{text}')
    return "{" + ",".join(parts + oneof_scalars) + "}"


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _map_json(field: FieldDescriptor, value: Any) -> str:
    key_field = field.message_type.fields_by_name["key"]
    value_field = field.message_type.fields_by_name["value"]
    items = []
    for key in sorted(value):
        if key_field.type == FieldDescriptor.TYPE_BOOL:
            key_text = "true" if key else "false"
        else:
            key_text = str(key)
        items.append(f"{json.dumps(key_text, ensure_ascii=False)}:"
                     f"{_value_json(value_field, value[key])}")
    return "{" + ",".join(items) + "}"


def _value_json(field: FieldDescriptor, value: Any) -> str:
    kind = field.type
    if kind in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
        return _message_json(value)
    if kind == FieldDescriptor.TYPE_ENUM:
        enum_value = field.enum_type.values_by_number.get(value)
        return json.dumps(enum_value.name) if enum_value is not None else str(value)
    if kind == FieldDescriptor.TYPE_BOOL:
        return "true" if value else "false"
    if kind == FieldDescriptor.TYPE_STRING:
        return json.dumps(value, ensure_ascii=False)
    if kind == FieldDescriptor.TYPE_BYTES:
        return json.dumps(base64.b64encode(value).decode("ascii"))
    if kind == FieldDescriptor.TYPE_FLOAT:
        return _float_json(value, single=True)
    if kind == FieldDescriptor.TYPE_DOUBLE:
        return _float_json(value, single=False)
    if kind in _INT64_TYPES and field.full_name in _INT64_KEPT_AS_STRING:
        return f'"{value}"'
    return str(int(value))


def _float_json(value: float, *, single: bool) -> str:
    """C++ protobuf prints floats with SimpleFtoa/SimpleDtoa; Triton then re-reads and
    re-writes the JSON with rapidjson, so an integral text stays an integer and anything
    else comes out the way rapidjson writes a double (``0.5``, ``1000000.0``, ``1e-7``)."""
    if math.isnan(value):
        return '"NaN"'
    if math.isinf(value):
        return '"Infinity"' if value > 0 else '"-Infinity"'
    if single:
        text = f"{value:.6g}"
        if _as_float32(float(text)) != _as_float32(value):
            text = f"{value:.9g}"
    else:
        text = f"{value:.15g}"
        if float(text) != value:
            text = f"{value:.17g}"
    return text if _INT_LIKE.fullmatch(text) else _rapidjson_double(float(text))


def _rapidjson_double(value: float) -> str:
    """rapidjson's ``Writer::Double``: shortest digits, laid out by its ``Prettify``."""
    sign, digit_tuple, raw_exponent = Decimal(repr(value)).normalize().as_tuple()
    exponent = int(raw_exponent)  # finite here, never 'n'/'N'/'F'
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + exponent  # value = 0.<digits> * 10**point
    prefix = "-" if sign else ""
    if value == 0:
        return prefix + "0.0"
    if exponent >= 0 and point <= 21:
        return f"{prefix}{digits}{'0' * exponent}.0"
    if 0 < point <= 21:
        return f"{prefix}{digits[:point]}.{digits[point:]}"
    if -6 < point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    mantissa = digits if len(digits) == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{prefix}{mantissa}e{point - 1}"


def _as_float32(value: float) -> float:
    result: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return result


# ----------------------------------------------------------------------- reading (JSON)


def config_from_json(
    source: str | bytes | Mapping[str, Any], *, where: str = "model configuration"
) -> ModelConfig:
    """Parse Triton-shaped JSON (text or an already decoded mapping) into a ``ModelConfig``.

    Unknown fields are an error, as in Triton's ``JsonToModelConfig``. Raises
    :class:`ConfigError` naming ``where``.
    """
    config = ModelConfig()
    try:
        if isinstance(source, Mapping):
            json_format.ParseDict(dict(source), config)
        else:
            json_format.Parse(source, config)
    except (json_format.ParseError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    return config
