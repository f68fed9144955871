"""EvalPlus comparison semantics on plain data (verifiers.code.compare)."""
from __future__ import annotations

from sandbox.plain import Unserializable
from verifiers.code.compare import check_output, expected_transform, is_floats


def chk(out, exp, atol=0.0, dataset="mbpp", entry="f", inp=()):
    return check_output(dataset, entry, list(inp), out, exp, atol)


def test_exact_equality_follows_python():
    assert chk([1, 2], [1, 2])
    assert not chk((1, 2), [1, 2])  # tuple is not list
    assert chk(True, 1)  # as in EvalPlus (out == exp)
    assert not chk("1", 1)
    assert not chk(Unserializable("X"), 1)


def test_floats_get_default_tolerance_and_type_check():
    assert chk(0.1 + 0.2, 0.3)
    assert chk([1.0, 2.0000000001], [1.0, 2.0])
    assert not chk([1.0, 2.1], [1.0, 2.0])
    assert not chk((1.0, 2.0000001), [1.0, 2.0])  # type differs
    assert not chk([1.0], [1.0, 2.0])  # length differs
    assert chk(1.00005, 1.0, atol=1e-4)
    assert not chk(1.001, 1.0, atol=1e-4)
    assert not chk("x", 1.0)


def test_is_floats():
    assert is_floats(1.0) and is_floats([1.0, 2.0]) and is_floats((1.0,))
    assert not is_floats([]) and not is_floats([1.0, 1]) and not is_floats(1)


def test_set_equality_tasks():
    assert chk((5, 4), (4, 5), entry="similar_elements")
    assert chk([4, 5, 5], (5, 4), entry="similar_elements")
    assert not chk((4,), (4, 5), entry="similar_elements")
    assert not chk((4, 5), (4, 5, 6), entry="Diff")
    assert not chk((4, 5), (5, 4), entry="f")


def test_output_not_none_tasks():
    exp = expected_transform("mbpp", "text_match_three", Unserializable("Match"))
    assert exp is True
    assert chk(Unserializable("Match"), exp, entry="text_match_three")
    assert chk(True, exp, entry="text_match_three")
    assert not chk(None, exp, entry="text_match_three")
    assert not chk(False, exp, entry="text_match_three")
    assert chk(None, expected_transform("mbpp", "check_str", None), entry="check_str")


def test_special_oracles():
    assert chk(12345, 0, entry="are_equivalent")
    assert chk(0, 7, entry="sum_div")
    assert not chk(1, 7, entry="sum_div")
    # base 3, height 4: 9 + 2 * 3 * sqrt(1.5**2 + 16) = 34.6 -> 35
    assert chk(35, 99, entry="surface_Area", inp=(3, 4))
    assert not chk(34, 99, entry="surface_Area", inp=(3, 4))
    assert chk(9, 999, entry="digit_distance_nums", inp=(123, 456))
    assert not chk(8, 999, entry="digit_distance_nums", inp=(123, 456))


def test_find_zero_checks_the_root():
    xs = [-6, 11, -6, 1]  # roots 1, 2, 3
    assert chk(2.0, 1.0, dataset="humaneval", entry="find_zero", inp=(xs,), atol=1e-4)
    assert chk(3.0000001, 1.0, dataset="humaneval", entry="find_zero", inp=(xs,), atol=1e-4)
    assert not chk(2.5, 1.0, dataset="humaneval", entry="find_zero", inp=(xs,), atol=1e-4)
    assert not chk("2", 1.0, dataset="humaneval", entry="find_zero", inp=(xs,), atol=1e-4)


def test_a_tagged_match_is_accepted_only_where_check_output_would_accept():
    """The oracle skips decoding when the candidate's tagged output equals the expected one;
    that shortcut must never accept what check_output rejects (NaN, special oracles)."""
    from sandbox.plain import encode
    from verifiers.code.compare import tagged_match_passes

    nan = float("nan")
    values = [1, 1.0, True, -0.0, 0.0, nan, [nan], (1, (2, nan)), complex(nan, 1), "a", b"a",
              [1, 2], (1, 2), {1, 2}, frozenset({3}), {"k": [1.5, nan]}, None, 10**30, [[]]]
    cases = [("mbpp", "f"), ("mbpp", "check_str"), ("mbpp", "similar_elements"),
             ("humaneval", "g"), ("humaneval", "find_zero")]
    for dataset, entry in cases:
        for v in values:
            t = encode(v)
            if tagged_match_passes(dataset, entry, t):
                assert check_output(dataset, entry, ([1.0, 2.0],), v, v, 0), (dataset, entry, v)
    assert not tagged_match_passes("mbpp", "f", encode([1.0, nan]))
    assert not tagged_match_passes("mbpp", "check_str", encode(True))
    assert not tagged_match_passes("humaneval", "find_zero", encode(1.0))
    assert tagged_match_passes("mbpp", "f", encode({"a": (1, 2.5)}))


def test_atol_carries_through_a_suite_as_in_evalplus():
    """EvalPlus sets atol to 1e-6 once an expected output of a suite is a float (or floats)
    and keeps it for the rest of that suite; base and plus are separate suites."""
    from verifiers.code.compare import FLOAT_ATOL, carried_atols

    exp = [[1, 2], 0.5, [1, 2.5], [[0.5]], 3, [1.0, 2.0], [1, 2.5]]
    got = carried_atols("humaneval", "f", 0.0, exp, n_base=4)
    #      base: [1,2]  0.5   [1,2.5]    [[0.5]]   | plus: 3   [1.,2.]  [1,2.5]
    assert got == [0.0, 0.0, FLOAT_ATOL, FLOAT_ATOL, 0.0, 0.0, FLOAT_ATOL]
    # a dataset atol is kept as it is
    assert carried_atols("mbpp", "f", 1e-3, exp, n_base=4) == [1e-3] * len(exp)
    # HumanEval/32 returns before the float step
    assert carried_atols("humaneval", "find_zero", 0.0, [0.5, 0.5], 2) == [0.0, 0.0]
    # what the carry changes: a mixed list is compared with tolerance only after a float
    assert not chk([1, 2.5000000001], [1, 2.5], atol=0.0)
    assert chk([1, 2.5000000001], [1, 2.5], atol=got[2])
    assert chk([[0.5000000001]], [[0.5]], atol=FLOAT_ATOL)
    assert not chk([[0.5000000001]], [[0.5]], atol=0.0)


def test_numpy_values_compare_as_in_evalplus():
    """numpy outputs (decoded on the host as numpy values): equal ones pass through ``==``;
    a near float of another type fails EvalPlus' ``type(out) == type(exp)``."""
    import numpy as np

    assert chk(np.int64(3), 3) and chk(np.float64(1.5), 1.5) and chk(np.bool_(True), True)
    assert chk([np.int64(1), np.int64(2)], [1, 2])
    assert not chk(np.float64(1.5 + 1e-12), 1.5)  # within atol, but np.float64 is not float
    assert chk(1.5 + 1e-12, 1.5)
    assert chk([np.float64(1.0), np.float64(2.0 + 1e-12)], [1.0, 2.0])  # a list is a list
    assert not chk(np.array([1, 2]), [1, 2])  # == gives an array: its truth is ambiguous
    assert chk(np.array([3]), [3])  # ... unless it has one item, as in EvalPlus
    assert is_floats(np.array([1.0])) and not is_floats(np.array([1]))
