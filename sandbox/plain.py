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
- numpy values, when the code imported numpy (what EvalPlus compares them as): a scalar of a
  numeric dtype is ``{"numpy": ["<dtype>", <its value>]}``, an array
  ``{"ndarray": ["<dtype>", [shape], [items, row-major]]}`` (at most ``NUMPY_MAX_ITEMS``
  items); the host decodes them into numpy values it builds itself (a dtype from
  ``NUMPY_DTYPES`` only), so ``np.int64(3) == 3`` holds and ``np.float64`` is not ``float``,
  as in the official evaluator;
- anything else (and anything nested too deep, cyclic, or raising while being read) becomes
  ``{"unserializable": "<type name>"}``; it decodes to an :class:`Unserializable` marker that
  equals nothing but itself.

An output with more than ``DIGEST_NODES`` container items (Mbpp/255's reference builds 1.7
million 77-tuples, 1.1 GB) does not travel as data: :func:`encode_output` sends
``{"digest": ["<sha256 hex>", <items>]}`` instead, a hash of a canonical text of the plain value
(``repr`` of plain types, sets and dicts by their members' sorted hashes). It decodes to a
:class:`Digest`, equal only to a digest of the same value, and the host hashes the other side
the same way to compare (exactly: no float tolerance at that size). The candidate cannot forge
it any better than the data: the expected value never enters the sandbox.

Subclasses of the plain types (``namedtuple``, ``Counter``, ``IntEnum``, ``bool`` excepted:
bool is its own type) are encoded as their plain base type, so a returned value carries no
code of its own to the host: a forged ``__eq__`` never leaves the sandbox.
"""
from __future__ import annotations

import base64 as _b64
import hashlib as _hashlib
import math as _math
import sys as _sys

PLAIN_MAX_DEPTH = 200
# container items (a long string: one per 64 characters) above which a value travels as a digest
DIGEST_NODES = 4_000_000
_SMALL_INT = 10**15
# numpy dtypes that travel as numpy values (anything else numpy makes is unserializable)
NUMPY_DTYPES = frozenset({
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128"})
NUMPY_MAX_ITEMS = 1_000_000


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


class Digest:
    """Stand-in for a value too big to carry: the SHA-256 of its canonical text."""

    __slots__ = ("hex", "nodes")

    def __init__(self, hex_: str, nodes: int) -> None:
        self.hex = hex_
        self.nodes = nodes

    def __repr__(self) -> str:
        return f"<digest of {self.nodes} items {self.hex[:12]}>"

    def __eq__(self, other: object) -> bool:
        return type(other) is Digest and other.hex == self.hex

    def __hash__(self) -> int:
        return hash(self.hex)


def type_name(value: object) -> str:
    """The name of ``value``'s type (at most 100 characters), read past any metaclass trick;
    "object" when even that fails."""
    try:
        name = type.__getattribute__(type(value), "__name__")
        return str.__str__(name)[:100] if isinstance(name, str) else "object"
    except BaseException:  # noqa: BLE001 - untrusted values may raise anything
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
    np = _sys.modules.get("numpy")  # only code that imported numpy can return its values
    if np is not None and isinstance(value, (np.generic, np.ndarray)):
        got = _encode_numpy(np, value, depth)
        if got is not None:
            return got
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
    if t is Digest:
        return {"digest": [value.hex, value.nodes]}
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
    except Exception:  # noqa: BLE001 - a value whose reading raises is not plain data
        return {"unserializable": type_name(value)}
    return {"unserializable": type_name(value)}


def _encode_numpy(np: object, value: object, depth: int) -> object:
    """A numpy scalar or array of a dtype in NUMPY_DTYPES as tagged data; None for other
    numpy values (a numpy ``str_`` is then a str subclass, the rest unserializable)."""
    dtype = value.dtype  # type: ignore[attr-defined]
    name = str.__str__(str(dtype.name))
    if name not in NUMPY_DTYPES:
        return None
    if isinstance(value, np.ndarray):  # type: ignore[attr-defined]
        if value.size > NUMPY_MAX_ITEMS:  # type: ignore[attr-defined]
            return {"unserializable": "ndarray (too big)"}
        shape = [int(n) for n in value.shape]  # type: ignore[attr-defined]
        flat = value.ravel().tolist()  # type: ignore[attr-defined]
        return {"ndarray": [name, shape, [_encode(v, depth + 1) for v in flat]]}
    return {"numpy": [name, _encode(value.item(), depth + 1)]}  # type: ignore[attr-defined]


_NUMPY_KIND = {"b": (bool,), "i": (int,), "u": (int,), "f": (float,), "c": (complex,)}


def _numpy_value(name: object, body: object, d: int) -> object:
    """Host side: a numpy scalar of dtype ``name`` from a decoded plain ``body``."""
    if type(name) is not str or name not in NUMPY_DTYPES:
        raise PlainDecodeError(f"numpy dtype {str(name)[:40]!r} is not one of NUMPY_DTYPES")
    import numpy as np

    dtype = np.dtype(name)
    v = decode(body, d)
    if type(v) not in _NUMPY_KIND[dtype.kind]:
        raise PlainDecodeError(f"a numpy {name} cannot hold a {type(v).__name__}")
    try:
        return dtype.type(v)
    except (OverflowError, ValueError, TypeError):
        raise PlainDecodeError(f"{str(v)[:40]} does not fit a numpy {name}") from None


def _numpy_array(body: object, d: int) -> object:
    parts = _seq(body)
    if len(parts) != 3:
        raise PlainDecodeError("ndarray needs [dtype, shape, items]")
    name, shape, items = parts[0], _seq(parts[1]), _seq(parts[2])
    if len(shape) > 32 or any(type(n) is not int or n < 0 for n in shape):
        raise PlainDecodeError("ndarray shape must be up to 32 non-negative ints")
    size = 1
    for n in shape:
        size *= n
    if size != len(items) or size > NUMPY_MAX_ITEMS:
        raise PlainDecodeError("ndarray shape does not match its items")
    import numpy as np

    values = [_numpy_value(name, v, d) for v in items]
    return np.array(values, dtype=np.dtype(str(name))).reshape(shape)


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
    if tag == "list" or tag == "tuple":
        # fast path for atoms (the common case: millions of items at times)
        items = [v if type(v) is str or type(v) is int or type(v) is float else decode(v, d)
                 for v in _seq(body)]
        return items if tag == "list" else tuple(items)
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
    if tag == "numpy":
        parts = _seq(body)
        if len(parts) != 2:
            raise PlainDecodeError("numpy needs [dtype, value]")
        return _numpy_value(parts[0], parts[1], d)
    if tag == "ndarray":
        return _numpy_array(body, d)
    if tag == "unserializable":
        return Unserializable(str(body)[:100])
    if tag == "digest":
        parts = _seq(body)
        if (len(parts) != 2 or type(parts[0]) is not str or len(parts[0]) != 64
                or type(parts[1]) is not int):
            raise PlainDecodeError("digest needs [sha256 hex, item count]")
        return Digest(parts[0], parts[1])
    raise PlainDecodeError(f"unknown tag {tag!r}")


def _seq(body: object) -> list:
    if type(body) is not list:
        raise PlainDecodeError("container body must be a list")
    return body


# -- digests of big values ---------------------------------------------------------------------

_ATOMS = frozenset({str, int, float, bool, type(None), bytes, complex})
_FLUSH = 8192


class _NoDigest(Exception):
    """The value holds something that is not plain data (or nests too deep)."""


def count_nodes(value: object, cap: int) -> int:
    """Container items in ``value`` (a long str or bytes weighs one per 64 characters),
    counted until the count passes ``cap``. Reads containers through their base types only."""
    stack = [value]
    n = 0
    while stack:
        v = stack.pop()
        t = type(v)
        if t is str or t is bytes:
            n += len(v) >> 6
        elif t in _ATOMS:
            continue
        else:
            try:
                if isinstance(v, dict):
                    items = list(dict.keys(v)) + list(dict.values(v))
                elif isinstance(v, list):
                    items = list(list.__iter__(v))
                elif isinstance(v, tuple):
                    items = list(tuple.__iter__(v))
                elif isinstance(v, (set, frozenset)):
                    items = list(frozenset.__iter__(v) if isinstance(v, frozenset)
                                 else set.__iter__(v))
                else:
                    continue
            except Exception:  # noqa: BLE001 - an unreadable member counts as no items
                continue
            n += len(items)
            types = set(map(type, items))
            if not types <= _ATOMS:
                stack.extend(x for x in items if type(x) not in _ATOMS)
            elif str in types and len(items) < 4096:
                stack.extend(x for x in items if type(x) is str and len(x) > 64)
        if n > cap:
            return n
    return n


def _plain_atom(v: object) -> object:
    t = type(v)
    if t in _ATOMS:
        return v
    if isinstance(v, int):
        return int.__int__(v)
    if isinstance(v, float):
        return float.__float__(v)
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    if isinstance(v, complex):
        return complex(float.__float__(v.real), float.__float__(v.imag))
    raise _NoDigest(type_name(v))


def _feed(parts: list, h: object, v: object, depth: int) -> None:
    t = type(v)
    if t in _ATOMS:
        parts.append(repr(v))
        return
    if depth > PLAIN_MAX_DEPTH:
        raise _NoDigest("too deep")
    if t is list or t is tuple:
        if set(map(type, v)) <= _ATOMS:  # the bulk: plain atoms, repr'd in C
            parts.append(repr(v))
            if len(parts) > _FLUSH:
                h.update("".join(parts).encode("utf-8", "surrogatepass"))
                parts.clear()
            return
        items, is_tuple = v, t is tuple
    elif isinstance(v, list):
        items, is_tuple = list(list.__iter__(v)), False
    elif isinstance(v, tuple):
        items, is_tuple = list(tuple.__iter__(v)), True
    elif isinstance(v, (set, frozenset, dict)):
        def sub(x: object) -> str:
            p: list = []
            hh = _hashlib.sha256()
            _feed(p, hh, x, depth + 1)
            hh.update("".join(p).encode("utf-8", "surrogatepass"))
            return hh.hexdigest()

        if isinstance(v, dict):
            body = sorted(sub(k) + ":" + sub(dict.__getitem__(v, k)) for k in list(dict.keys(v)))
            parts.append("dict{" + ",".join(body) + "}")
        else:
            fs = isinstance(v, frozenset)
            body = sorted(sub(x) for x in list(frozenset.__iter__(v) if fs else set.__iter__(v)))
            parts.append(("frozenset{" if fs else "set{") + ",".join(body) + "}")
        return
    else:
        parts.append(repr(_plain_atom(v)))
        return
    parts.append("(" if is_tuple else "[")
    for i, x in enumerate(items):
        if i:
            parts.append(", ")
        _feed(parts, h, x, depth + 1)
        if len(parts) > _FLUSH:
            h.update("".join(parts).encode("utf-8", "surrogatepass"))
            parts.clear()
    if is_tuple and len(items) == 1:
        parts.append(",")
    parts.append(")" if is_tuple else "]")


def digest_of(value: object) -> "Digest | Unserializable":
    """The :class:`Digest` of a plain value (``repr`` text of plain types, exactly; sets and
    dicts by their members' sorted hashes); :class:`Unserializable` if it holds other things."""
    if type(value) is Digest or type(value) is Unserializable:
        return value
    get = getattr(_sys, "get_int_max_str_digits", None)
    old = get() if get else None
    try:
        if old is not None:
            _sys.set_int_max_str_digits(0)  # repr of a huge int must not fail on one side only
        h = _hashlib.sha256()
        parts: list = []
        _feed(parts, h, value, 0)
        h.update("".join(parts).encode("utf-8", "surrogatepass"))
        return Digest(h.hexdigest(), count_nodes(value, 1 << 62))
    except _NoDigest as e:
        return Unserializable(str(e)[:100])
    except RecursionError:
        return Unserializable("RecursionError")
    except Exception:  # noqa: BLE001 - a value whose reading raises has no digest
        return Unserializable(type_name(value))
    finally:
        if old is not None:
            _sys.set_int_max_str_digits(old)


def encode_output(value: object, cap: int = DIGEST_NODES) -> object:
    """``encode(value)``, or its digest when it holds more than ``cap`` nodes."""
    try:
        big = count_nodes(value, cap) > cap
    except RecursionError:
        big = False
    return encode(digest_of(value)) if big else encode(value)
