"""sandbox.plain: the tagged codec keeps exact types and never carries code."""
from __future__ import annotations

import collections
import enum
import json
import math

import pytest

from sandbox.plain import PlainDecodeError, Unserializable, decode, encode


def roundtrip(value):
    wire = json.dumps(encode(value), allow_nan=False)  # standard JSON, no NaN literals
    return decode(json.loads(wire))


@pytest.mark.parametrize("value", [
    None, True, False, 0, -7, 10**15, -(10**15), 2**200, -(3**500),
    0.0, -0.0, 1.5, 1e300, 5e-324, "", "héllo\n\x00", "\ud800", b"", b"\x00\xff",
    [], (), [1, (2, 3)], (1,), {1: "a", (2, 3): [4]}, set(), {1, 2}, frozenset({(1, 2)}),
    {"k": {frozenset({1}): (True, None)}}, complex(1, -2), [[[[]]]],
])
def test_roundtrip_exact_type(value):
    back = roundtrip(value)
    assert back == value
    assert type(back) is type(value)
    if isinstance(value, float):
        assert math.copysign(1, back) == math.copysign(1, value)


def test_nested_types_are_preserved():
    back = roundtrip([True, 1, 1.0, (1,), [1]])
    assert [type(x) for x in back] == [bool, int, float, tuple, list]
    assert roundtrip({True: 1})  # bool key stays bool
    assert type(next(iter(roundtrip({True: 1})))) is bool


def test_nan_and_inf():
    assert math.isnan(roundtrip(float("nan")))
    assert roundtrip(float("inf")) == float("inf")
    assert roundtrip(float("-inf")) == float("-inf")


def test_other_objects_are_unserializable():
    class Forged:
        def __eq__(self, other):
            return True

    for obj in (Forged(), object(), len, iter([1]), [Forged()]):
        back = roundtrip(obj)
        target = back[0] if isinstance(back, list) else back
        assert isinstance(target, Unserializable)
        assert target != 1 and target != target.__class__("x")


def test_subclasses_become_their_plain_base():
    class EvilInt(int):
        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

    Point = collections.namedtuple("Point", "x y")

    class Color(enum.IntEnum):
        RED = 3

    back = roundtrip(EvilInt(5))
    assert type(back) is int and back == 5 and back != 6
    assert type(roundtrip(Point(1, 2))) is tuple
    assert roundtrip(collections.Counter("aab")) == {"a": 2, "b": 1}
    assert type(roundtrip(collections.OrderedDict(a=1))) is dict
    assert type(roundtrip(Color.RED)) is int


def test_cycles_and_depth_are_unserializable():
    cyc: list = []
    cyc.append(cyc)
    assert roundtrip(cyc) is not None  # does not hang or raise
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    wire = encode(deep)
    json.dumps(wire)


@pytest.mark.parametrize("bad", [[1, 2], {"list": 1}, {"nope": []}, {"a": 1, "b": 2},
                                 {"int": 5}, {"float": "1.0"}, {"dict": [[1]]}])
def test_malformed_input_raises(bad):
    with pytest.raises((PlainDecodeError, ValueError)):
        decode(bad)


def test_huge_int_beyond_str_digit_limit():
    big = 7**20000  # > 4300 decimal digits: str() would refuse, hex does not
    assert roundtrip(big) == big


# -- digests: how a value too big to carry is compared -----------------------------------------

from sandbox.plain import Digest, count_nodes, digest_of, encode_output  # noqa: E402


def test_digest_is_canonical_for_equal_plain_values():
    Pair = collections.namedtuple("Pair", "a b")

    class MyList(list):
        pass

    class MyStr(str):
        def __repr__(self):
            return "'forged'"

    base = [(1, "x"), (2, "y")]
    assert digest_of(base) == digest_of([Pair(1, "x"), Pair(2, MyStr("y"))])
    assert digest_of(base) == digest_of(MyList(base))
    assert digest_of({"a", "b", "c"}) == digest_of({"c", "b", "a"})
    assert digest_of({1: [2], 3: (4,)}) == digest_of({3: (4,), 1: [2]})
    assert digest_of(frozenset({1})) != digest_of({1})
    assert digest_of([1]) != digest_of((1,)) != digest_of([1.0]) != digest_of([True])
    assert digest_of(["a, 'b'"]) != digest_of(["a", "b"])
    assert digest_of([10**5000]) == digest_of([10**5000]) != digest_of([10**5000 + 1])
    assert digest_of(["\ud800"]) != digest_of(["\ud801"])
    assert decode(encode(digest_of(base))) == digest_of(base)


def test_digest_of_non_plain_data_is_unserializable():
    cyclic: list = []
    cyclic.append(cyclic)
    assert type(digest_of([object()])) is Unserializable
    assert type(digest_of(cyclic)) is Unserializable
    assert digest_of([object()]) != digest_of([object()])


def test_encode_output_digests_only_big_values():
    small = list(range(100))
    assert encode_output(small, cap=1000) == encode(small)
    big = [(i, str(i)) for i in range(1000)]  # 3000 items
    tagged = encode_output(big, cap=1000)
    assert set(tagged) == {"digest"} and decode(tagged) == digest_of(big)
    assert type(decode(tagged)) is Digest and decode(tagged).nodes == 3000
    assert count_nodes("x" * 64_000, 10**9) == 1000  # a long string weighs too
    with pytest.raises(PlainDecodeError):
        decode({"digest": ["abc", 1]})


def test_numpy_values_roundtrip_as_numpy():
    import json

    import numpy as np

    for v in (np.int64(-3), np.uint8(200), np.float64(1.5), np.float32(0.1), np.bool_(False),
              np.complex128(1 - 2j), np.float64("inf")):
        d = decode(json.loads(json.dumps(encode(v))))
        assert type(d) is type(v) and (d == v)
    arr = np.arange(6, dtype=np.int32).reshape(2, 3)
    d = decode(json.loads(json.dumps(encode(arr))))
    assert type(d) is np.ndarray and d.dtype == np.int32 and d.shape == (2, 3)
    assert (d == arr).all()
    assert decode(encode([np.int64(1), (np.float64(2.0),)])) == [1, (2.0,)]
    assert type(decode(encode(np.str_("ab")))) is str  # a str subclass: plain str
    assert type(decode(encode(np.array(["a"])))) is Unserializable
    assert type(decode(encode(np.longdouble(1)))) is Unserializable


@pytest.mark.parametrize("bad", [
    {"numpy": ["object", 1]}, {"numpy": ["int64", 2**70]}, {"numpy": ["int64", 1.5]},
    {"numpy": ["uint8", -1]}, {"numpy": ["float64"]}, {"numpy": [["float64"], 1.0]},
    {"ndarray": ["int64", [2], [1]]}, {"ndarray": ["int64", [-1], []]},
    {"ndarray": ["int64", [1] * 33, [1]]}, {"ndarray": ["str", [1], ["a"]]},
    {"ndarray": ["int64", [10**7], []]}, {"ndarray": ["int64", [1], [{"list": []}]]},
])
def test_hostile_numpy_tags_raise(bad):
    with pytest.raises(PlainDecodeError):
        decode(bad)
