"""Free the fixed sizes of an ONNX model's inputs and outputs, so that ONNX Runtime accepts any image size.

YuNet's ONNX file declares a 1x3x640x640 input, but its graph works at any size that is a multiple of 32
(its reshapes use -1 and its resizes use scales): OpenCV re-shapes it, ONNX Runtime refuses other sizes.
:func:`free_dims` turns chosen dimensions into named (symbolic) ones in the serialised model, editing only
the shapes of the graph's inputs and outputs (and dropping the inner tensors' recorded shapes, which
were worked out for the fixed size; ONNX Runtime infers them again), so the core install needs no ``onnx``
package. It works on the protocol-buffer wire format: every message on the way to a shape is re-encoded
with its new length.
"""

from __future__ import annotations

from typing import Callable, Iterable

from ..errors import ModelError

# field numbers in onnx.proto: ModelProto.graph, GraphProto.input / .output, ValueInfoProto.type,
# TypeProto.tensor_type, TypeProto.Tensor.shape, TensorShapeProto.dim, Dimension.dim_param
_GRAPH, _INPUT, _OUTPUT, _TYPE, _TENSOR_TYPE, _SHAPE, _DIM, _DIM_PARAM = 7, 11, 12, 2, 1, 2, 1, 2
_VALUE_INFO = 13  # GraphProto.value_info: the shapes of the graph's inner tensors
_LEN = 2  # wire type of length-delimited fields (messages, strings)


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        b = buf[i]
        value |= (b & 0x7F) << shift
        i += 1
        if b < 0x80:
            return value, i
        shift += 7


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _len_field(field_number: int, payload: bytes) -> bytes:
    """A length-delimited field (a message or a string), encoded."""
    return _varint(field_number << 3 | _LEN) + _varint(len(payload)) + payload


def _fields(buf: bytes):
    """(field number, wire type, start of the whole field, start of the value, end of the field) of a message."""
    i = 0
    while i < len(buf):
        start = i
        key, i = _read_varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, end = _read_varint(buf, i)
            value = i
        elif wire == 1:
            value, end = i, i + 8
        elif wire == _LEN:
            n, value = _read_varint(buf, i)
            end = value + n
        elif wire == 5:
            value, end = i, i + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if end > len(buf):
            raise ValueError("truncated field")
        yield field, wire, start, value, end
        i = end


def _edit(buf: bytes, path: tuple[int, ...], leaf: Callable[[bytes], bytes]) -> bytes:
    """The message ``buf`` with every sub-message reached through the field numbers ``path`` replaced by
    ``leaf(sub-message)``; all other bytes are kept as they are."""
    out = bytearray()
    for field, wire, start, value, end in _fields(buf):
        if field == path[0] and wire == _LEN:
            inner = buf[value:end]
            out += _len_field(field, leaf(inner) if len(path) == 1 else _edit(inner, path[1:], leaf))
        else:
            out += buf[start:end]
    return bytes(out)


def _without(field_number: int) -> Callable[[bytes], bytes]:
    """A message editor that drops every field ``field_number``."""
    def edit(msg: bytes) -> bytes:
        return b"".join(msg[start:end] for field, _, start, _, end in _fields(msg) if field != field_number)
    return edit


def _free(which: frozenset[int]) -> Callable[[bytes], bytes]:
    """A TensorShapeProto editor: the dimensions at the indices ``which`` become named ``dim<index>``."""
    def edit(shape: bytes) -> bytes:
        out = bytearray()
        k = 0
        for field, wire, start, value, end in _fields(shape):
            if field == _DIM and wire == _LEN:
                if k in which:
                    out += _len_field(_DIM, _len_field(_DIM_PARAM, f"dim{k}".encode()))
                else:
                    out += shape[start:end]
                k += 1
            else:
                out += shape[start:end]
        return bytes(out)
    return edit


def free_dims(model: bytes, inputs: Iterable[int] = (), outputs: Iterable[int] = ()) -> bytes:
    """The serialised ONNX ``model`` with the dimensions at indices ``inputs`` of every graph input, and at
    ``outputs`` of every graph output, made symbolic. Raises :class:`ModelError` if the bytes are no model."""
    try:
        model = _edit(model, (_GRAPH,), _without(_VALUE_INFO))
        for which, field in ((frozenset(inputs), _INPUT), (frozenset(outputs), _OUTPUT)):
            if which:
                model = _edit(model, (_GRAPH, field, _TYPE, _TENSOR_TYPE, _SHAPE), _free(which))
    except ValueError as e:
        raise ModelError(f"not an ONNX model ({e})") from None
    return model
