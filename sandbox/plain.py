"""Tagged plain data: a JSON-safe codec that keeps Python types exactly.

Used on both sides of the sandbox boundary (the in-container runner inlines this file), so it
is stdlib only and defines nothing at import time beyond functions and constants.

Encoding (every encoded value is standard JSON; no NaN literals):

- ``None``, ``True``/``False``, ``str`` and ints with at most 15 digits stay as they are;
  finite floats stay JSON numbers (``repr`` round-trips, and a float is written with a ``.``
  or an exponent, so it decodes as a float again);
- everything else is a one-key object naming its type: ``{"int": "<hex>"}`` (big ints),
  ``{"float": "nan"|"inf"|"-inf"}``, ``{"complex": [re, im]}``, ``{"bytes": "<base64>"}``,
  ``{"list": [...]}``, ``{"tuple": [...]}``, ``{"set": [...]}``, ``{"frozenset": [...]}``,
  ``{"dict": [[k, v], ...]}``;
- anything else (and anything nested too deep, cyclic, or raising while being read) becomes
  ``{"unserializable": "<type name>"}``; it decodes to an :class:`Unserializable` marker that
  equals nothing but itself.

Subclasses of the plain types (``namedtuple``, ``Counter``, ``IntEnum``, ``bool`` excepted:
bool is its own type) are encoded as their plain base type, so a returned value carries no
code of its own to the host: a forged ``__eq__`` never leaves the sandbox.
"""
from __future__ import annotations

import base64 as _b64
import math as _math

PLAIN_MAX_DEPTH = 200
_SMALL_INT = 10**15


class Unserializable:
    """Stand-in for a value the codec could not carry. Equal only to an identical marker."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<unserializable {self.type_name}>"

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


def _type_name(value: object) -> str:
    try:
        name = type.__getattribute__(type(value), "__name__")
        return str.__str__(name)[:100] if isinstance(name, str) else "object"
    except BaseException:
        return "object"


def encode(value: object, _depth: int = 0) -> object:
    """Python value -> tagged JSON-safe value (never raises for ordinary exceptions)."""
    try:
        return _encode(value, _depth)
    except RecursionError:
        return {"unserializable": "RecursionError"}


def _encode(value: object, depth: int) -> object:
    if depth > PLAIN_MAX_DEPTH:
        return {"unserializable": "too deep"}
    t = type(value)
    # fast paths for the exact plain types (the common case, millions of items at times)
    if t is str:
        return value
    if t is int:
        return value if -_SMALL_INT < value < _SMALL_INT else {"int": format(value, "x")}
    if t is tuple or t is list:
        d = depth + 1
        items = [v if type(v) is str or (type(v) is int and -_SMALL_INT < v < _SMALL_INT)
                 else _encode(v, d) for v in value]
        return {"tuple": items} if t is tuple else {"list": items}
    if t is float and _math.isfinite(value):
        return value
    if value is None or t is bool:
        return value
    if isinstance(value, int) and t is not bool:
        v = int.__int__(value)  # plain int even for subclasses with odd __int__
        if -_SMALL_INT < v < _SMALL_INT:
            return v
        return {"int": int.__format__(v, "x")}
    if isinstance(value, float):
        f = float.__float__(value)
        if _math.isnan(f):
            return {"float": "nan"}
        if _math.isinf(f):
            return {"float": "inf" if f > 0 else "-inf"}
        return f
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, complex):
        c = complex.__complex__(value) if hasattr(complex, "__complex__") else complex(value)
        return {"complex": [_encode(c.real, depth + 1), _encode(c.imag, depth + 1)]}
    if t is Unserializable:
        return {"unserializable": value.type_name}
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
        return {"bytes": _b64.b64encode(raw).decode("ascii")}
    try:
        if isinstance(value, list):
            return {"list": [_encode(v, depth + 1) for v in list.__iter__(value)]}
        if isinstance(value, tuple):
            return {"tuple": [_encode(v, depth + 1) for v in tuple.__iter__(value)]}
        if isinstance(value, frozenset):
            return {"frozenset": [_encode(v, depth + 1) for v in frozenset.__iter__(value)]}
        if isinstance(value, set):
            return {"set": [_encode(v, depth + 1) for v in set.__iter__(value)]}
        if isinstance(value, dict):
            return {
                "dict": [
                    [_encode(k, depth + 1), _encode(dict.__getitem__(value, k), depth + 1)]
                    for k in dict.__iter__(value)
                ]
            }
    except RecursionError:
        raise
    except Exception:
        return {"unserializable": _type_name(value)}
    return {"unserializable": _type_name(value)}


class PlainDecodeError(ValueError):
    """The tagged value is malformed (unknown tag, wrong shape)."""


def decode(data: object, _depth: int = 0) -> object:
    """Tagged JSON-safe value -> Python value of exactly the encoded type."""
    if _depth > PLAIN_MAX_DEPTH + 5:
        raise PlainDecodeError("nested too deep")
    t = type(data)
    if data is None or t is bool or t is int or t is str:
        return data
    if t is float:
        return data
    if t is not dict or len(data) != 1:
        raise PlainDecodeError(f"not a tagged value: {type(data).__name__}")
    ((tag, body),) = data.items()
    d = _depth + 1
    if tag == "list":
        return [decode(v, d) for v in _seq(body)]
    if tag == "tuple":
        return tuple(decode(v, d) for v in _seq(body))
    if tag == "set":
        return {decode(v, d) for v in _seq(body)}
    if tag == "frozenset":
        return frozenset(decode(v, d) for v in _seq(body))
    if tag == "dict":
        out = {}
        for pair in _seq(body):
            if type(pair) is not list or len(pair) != 2:
                raise PlainDecodeError("dict items must be [key, value] pairs")
            out[decode(pair[0], d)] = decode(pair[1], d)
        return out
    if tag == "int":
        if type(body) is not str:
            raise PlainDecodeError("int body must be a hex string")
        return int(body, 16)
    if tag == "float":
        if body not in ("nan", "inf", "-inf"):
            raise PlainDecodeError(f"bad float body {body!r}")
        return float(body)
    if tag == "complex":
        parts = _seq(body)
        if len(parts) != 2:
            raise PlainDecodeError("complex needs [real, imag]")
        re_, im = (decode(p, d) for p in parts)
        if type(re_) is not float or type(im) is not float:
            raise PlainDecodeError("complex parts must be floats")
        return complex(re_, im)
    if tag == "bytes":
        if type(body) is not str:
            raise PlainDecodeError("bytes body must be base64 text")
        return _b64.b64decode(body.encode("ascii"), validate=True)
    if tag == "unserializable":
        return Unserializable(str(body)[:100])
    raise PlainDecodeError(f"unknown tag {tag!r}")


def _seq(body: object) -> list:
    if type(body) is not list:
        raise PlainDecodeError("container body must be a list")
    return body
