"""A fast codec for the `tf.train.Example` protocol-buffer wire format, in NumPy.

TFDS stores every RLDS episode as one `tf.train.Example` whose step fields are flattened
columns (`steps/observation/position`: all steps' values in one packed list). TFDS's own
serializer and NumPy parser convert element by element (tens of thousands of steps per
second); this codec moves whole columns with `tobytes`/`frombuffer`, so recording and
streaming run at memory speed. It writes exactly what TFDS writes (packed lists) and
reads what any writer produces; tests check both directions against TFDS.

Wire layout: Example{1: Features{1: map<string, Feature>}};
Feature{1: BytesList{1: repeated bytes}, 2: FloatList{1: packed float},
3: Int64List{1: packed varint int64}}.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

BYTES, FLOAT, INT64 = 1, 2, 3


class WireError(ValueError):
  """A record is not a well-formed tf.train.Example."""


# ---------------------------------------------------------------- varints


_ONE_BYTE = [bytes((i,)) for i in range(0x80)]


def _varint(value: int) -> bytes:
  if 0 <= value < 0x80:
    return _ONE_BYTE[value]
  if 0 <= value < 0x4000:
    return bytes((value & 0x7F | 0x80, value >> 7))
  out = bytearray()
  value &= (1 << 64) - 1
  while True:
    bits = value & 0x7F
    value >>= 7
    if value:
      out.append(bits | 0x80)
    else:
      out.append(bits)
      return bytes(out)


def encode_varints(values: np.ndarray) -> bytes:
  """Packed varint encoding of an int64 array (negative values take 10 bytes)."""
  v = np.ascontiguousarray(values, np.int64).reshape(-1).view(np.uint64)
  if v.size == 0:
    return b''
  if int(v.max()) < 0x80:
    return v.astype(np.uint8).tobytes()
  nbytes = np.ones(v.shape, np.int64)
  for k in range(1, 10):
    nbytes += v >= np.uint64(1 << (7 * k))
  ends = np.cumsum(nbytes)
  starts = ends - nbytes
  out = np.zeros(int(ends[-1]), np.uint8)
  for k in range(10):
    sel = nbytes > k
    if not sel.any():
      break
    chunk = (v[sel] >> np.uint64(7 * k)) & np.uint64(0x7F)
    more = (nbytes[sel] > k + 1).astype(np.uint64) << np.uint64(7)
    out[starts[sel] + k] = (chunk | more).astype(np.uint8)
  return out.tobytes()


def decode_varints(data: memoryview | bytes) -> np.ndarray:
  """Decodes packed varints to int64."""
  b = np.frombuffer(data, np.uint8)
  if b.size == 0:
    return np.zeros(0, np.int64)
  if int(b.max()) < 0x80:
    return b.astype(np.int64)
  ends = (b & 0x80) == 0
  if not ends[-1]:
    raise WireError('truncated varint list')
  end_idx = np.flatnonzero(ends)
  starts = np.concatenate([[0], end_idx[:-1] + 1])
  group = np.repeat(np.arange(starts.size), end_idx - starts + 1)
  shift = (np.arange(b.size) - starts[group]).astype(np.uint64) * np.uint64(7)
  contrib = (b & 0x7F).astype(np.uint64) << shift
  return np.bitwise_or.reduceat(contrib, starts).view(np.int64)


def _read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
  result, shift = 0, 0
  while True:
    if pos >= len(buf):
      raise WireError('truncated record (varint runs past the end)')
    byte = buf[pos]
    pos += 1
    result |= (byte & 0x7F) << shift
    if not byte & 0x80:
      return result, pos
    shift += 7
    if shift > 63:
      raise WireError('malformed varint')


def _length_delimited(field: int, payload: bytes) -> bytes:
  return _ONE_BYTE[(field << 3) | 2] + _varint(len(payload)) + payload


# ---------------------------------------------------------------- encode


def encode_feature(kind: int, values) -> bytes:
  """Serialised `Feature` for a flat list of values of one kind."""
  if kind == FLOAT:
    raw = np.ascontiguousarray(values, '<f4').reshape(-1).tobytes()
    inner = _length_delimited(1, raw) if raw else b''
  elif kind == INT64:
    raw = encode_varints(np.asarray(values))
    inner = _length_delimited(1, raw) if raw else b''
  elif kind == BYTES:
    inner = b''.join(_length_delimited(1, v) for v in values)
  else:
    raise ValueError(f'unknown feature kind {kind}')
  return _length_delimited(kind, inner)


def key_prefix(key: str) -> bytes:
  """The serialised map-entry key field of `key` (computed once per column)."""
  raw = key.encode()
  return b'\x0a' + _varint(len(raw)) + raw


def encode_example(features: Mapping[str, bytes], prefixes=None) -> bytes:
  """Serialised `Example` from {key: serialised Feature} (see `encode_feature`).

  Args:
    features: the serialised features by key.
    prefixes: optional {key: key_prefix(key)} to skip re-encoding the keys.
  """
  parts = []
  for key in sorted(features):
    prefix = prefixes[key] if prefixes is not None else key_prefix(key)
    feature = features[key]
    body_len = len(prefix) + 1 + len(_varint(len(feature))) + len(feature)
    parts += (b'\x0a', _varint(body_len), prefix, b'\x12', _varint(len(feature)),
              feature)
  body = b''.join(parts)
  return b'\x0a' + _varint(len(body)) + body


# ---------------------------------------------------------------- decode


def _fields(buf: memoryview):
  """Yields (field number, wire type, payload memoryview or int) of one message."""
  pos, end = 0, len(buf)
  while pos < end:
    tag, pos = _read_varint(buf, pos)
    field, wire_type = tag >> 3, tag & 7
    if wire_type == 2:
      length, pos = _read_varint(buf, pos)
      if pos + length > end:
        raise WireError('truncated record (field runs past the end)')
      yield field, wire_type, buf[pos:pos + length]
      pos += length
    elif wire_type == 0:
      value, pos = _read_varint(buf, pos)
      yield field, wire_type, value
    elif wire_type == 5:
      if pos + 4 > end:
        raise WireError('truncated record')
      yield field, wire_type, buf[pos:pos + 4]
      pos += 4
    elif wire_type == 1:
      if pos + 8 > end:
        raise WireError('truncated record')
      yield field, wire_type, buf[pos:pos + 8]
      pos += 8
    else:
      raise WireError(f'unsupported wire type {wire_type}')


def _decode_feature(buf: memoryview):
  for kind, wire_type, payload in _fields(buf):
    if wire_type != 2 or kind not in (BYTES, FLOAT, INT64):
      raise WireError(f'unexpected Feature field {kind}')
    if kind == BYTES:
      return [bytes(p) for f, w, p in _fields(payload) if f == 1]
    floats, ints = [], []
    for f, w, p in _fields(payload):
      if f != 1:
        continue
      if kind == FLOAT:
        if w == 2:
          if len(p) % 4:
            raise WireError('packed float list of odd length')
          floats.append(np.frombuffer(p, '<f4'))
        elif w == 5:
          floats.append(np.frombuffer(p, '<f4'))
        else:
          raise WireError('bad float list')
      else:
        if w == 2:
          ints.append(decode_varints(p))
        elif w == 0:
          ints.append(np.array([p], np.uint64).view(np.int64))
        else:
          raise WireError('bad int64 list')
    if kind == FLOAT:
      if len(floats) == 1:
        return floats[0]
      return np.concatenate(floats) if floats else np.zeros(0, np.float32)
    if len(ints) == 1:
      return ints[0]
    return np.concatenate(ints) if ints else np.zeros(0, np.int64)
  return None  # An empty Feature (no list set).


def _varint_at(data: bytes, pos: int) -> tuple[int, int]:
  byte = data[pos]
  if byte < 0x80:
    return byte, pos + 1
  second = data[pos + 1]
  if second < 0x80:
    return (byte & 0x7F) | (second << 7), pos + 2
  third = data[pos + 2]
  if third < 0x80:
    return (byte & 0x7F) | ((second & 0x7F) << 7) | (third << 14), pos + 3
  return _read_varint(memoryview(data), pos)


def decode_example(record: bytes | memoryview, keys=None) -> dict:
  """{key: np.ndarray (float32 / int64) or list[bytes]} of one serialised Example.

  Args:
    record: the serialised `tf.train.Example`.
    keys: optional container of keys to decode; others are skipped unparsed.
  """
  data = bytes(record)
  view = memoryview(data)
  end = len(data)
  try:
    if not end:
      return {}
    if data[0] != 0x0A:
      raise WireError('not a tf.train.Example')
    length, pos = _varint_at(data, 1)
    if pos + length != end:
      # Unusual layout (several Features fields, unknown fields): the general path.
      return _decode_example_general(view, keys)
    out = {}
    while pos < end:
      if data[pos] != 0x0A:
        raise WireError('not a tf.train.Features map')
      entry_len, pos = _varint_at(data, pos + 1)
      entry_end = pos + entry_len
      if entry_end > end:
        raise WireError('truncated record (map entry runs past the end)')
      key, value = None, None
      while pos < entry_end:
        tag = data[pos]
        field_len, pos = _varint_at(data, pos + 1)
        if pos + field_len > entry_end:
          raise WireError('truncated record (field runs past the end)')
        if tag == 0x0A:
          key = data[pos:pos + field_len].decode()
        elif tag == 0x12:
          value = view[pos:pos + field_len]
        else:
          raise WireError(f'unexpected map entry tag {tag}')
        pos += field_len
      if key is None:
        raise WireError('map entry without a key')
      if keys is not None and key not in keys:
        continue
      out[key] = None if value is None else _decode_feature_fast(value)
    return out
  except IndexError:
    raise WireError('truncated record') from None


def _decode_feature_fast(value: memoryview):
  if len(value) < 2:
    return _decode_feature(value)
  kind = value[0]
  inner_len, pos = _varint_at(value, 1)
  if pos + inner_len != len(value) or kind not in (0x0A, 0x12, 0x1A):
    return _decode_feature(value)
  if kind == 0x0A:
    return _decode_feature(value)
  if inner_len == 0:
    return np.zeros(0, np.float32 if kind == 0x12 else np.int64)
  if value[pos] != 0x0A:  # Not packed: the general path.
    return _decode_feature(value)
  list_len, start = _varint_at(value, pos + 1)
  if start + list_len != len(value):
    return _decode_feature(value)
  payload = value[start:start + list_len]
  if kind == 0x12:
    if list_len % 4:
      raise WireError('packed float list of odd length')
    return np.frombuffer(payload, '<f4')
  return decode_varints(payload)


def _decode_example_general(buf: memoryview, keys=None) -> dict:
  """`decode_example` for any valid layout, field by field."""
  out = {}
  for field, wire_type, features in _fields(buf):
    if field != 1 or wire_type != 2:
      raise WireError('not a tf.train.Example')
    for f, w, entry in _fields(features):
      if f != 1 or w != 2:
        raise WireError('not a tf.train.Features map')
      key, value = None, None
      for ef, ew, payload in _fields(entry):
        if ef == 1:
          key = bytes(payload).decode()
        elif ef == 2:
          value = payload
      if key is None:
        raise WireError('map entry without a key')
      if keys is not None and key not in keys:
        continue
      out[key] = None if value is None else _decode_feature(value)
  return out
