"""EvalPlus output comparison on plain data (the host side; expected outputs never leave it).

Mirrors the comparison in ``evalplus.eval.unsafe_execute`` (EvalPlus v0.3.1): exact equality;
the special oracles of MBPP+ (set equality, output-not-None, Mbpp/164, 295, 558, 581) and
HumanEval+ (HumanEval/32 ``find_zero``: the root is checked through the polynomial); for floats
(or ``atol != 0``) the same type and length, then ``numpy.allclose(rtol=1e-7, atol=atol)``.

The tolerance is EvalPlus' exactly, quirk included: when the dataset gives ``atol`` 0, the
first input of a suite (base, then plus, each judged on its own) whose expected output is a
float or a list/tuple of floats sets ``atol`` to 1e-6 *for the rest of that suite*, so a later
input whose expected output is, say, ``[1, 2.5]`` or ``[[0.5]]`` is then compared with
tolerance too. :func:`carried_atols` gives the ``atol`` each input starts with; pass it to
:func:`check_output`. Both sides are plain data decoded by :mod:`sandbox.plain` (numpy
scalars and arrays as numpy values, built on the host), so ``==`` here is never the
candidate's. An output too big to carry arrives as a :class:`sandbox.plain.Digest` and is
compared exactly, by hash.
"""
from __future__ import annotations

import math
import sys
from typing import Any, Sequence

from sandbox.plain import Digest, digest_of

MBPP_OUTPUT_NOT_NONE_TASKS = frozenset({"check_str", "text_match_three", "text_starta_endb"})
MBPP_OUTPUT_SET_EQ_TASKS = frozenset({
    "similar_elements",  # Mbpp/2
    "find_char_long",  # Mbpp/7
    "common_in_nested_lists",  # Mbpp/111
    "extract_singly",  # Mbpp/140
    "larg_nnum",  # Mbpp/232
    "intersection_array",  # Mbpp/249
    "find_dissimilar",  # Mbpp/579
    "Diff",  # Mbpp/769
})


def surface_area_oracle(base_edge: Any, height: Any) -> int:
    """Mbpp/581: the height is the perpendicular distance from the base to the apex."""
    slant = math.sqrt((base_edge / 2) ** 2 + height**2)
    return round(base_edge**2 + 4 * (base_edge * slant) / 2)


def digit_distance_oracle(num1: Any, num2: Any) -> int:
    """Mbpp/558: both numbers zero-padded to the same length."""
    a, b = str(num1), str(num2)
    width = max(len(a), len(b))
    return sum(abs(int(x) - int(y)) for x, y in zip(a.zfill(width), b.zfill(width)))


def poly(xs: Sequence[Any], x: float) -> float:
    """HumanEval/32: the polynomial with coefficients ``xs`` at ``x``."""
    return sum(coeff * math.pow(x, i) for i, coeff in enumerate(xs))


def is_floats(x: Any) -> bool:
    """A float, a non-empty list/tuple of floats, or a float64/float32 numpy array (evalplus
    ``is_floats``)."""
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    np = sys.modules.get("numpy")  # no numpy imported: no numpy array (imported when needed)
    if np is not None and isinstance(x, np.ndarray):
        return bool(x.dtype == np.float64 or x.dtype == np.float32)
    return False


FLOAT_ATOL = 1e-6  # what EvalPlus sets atol to once an expected output is a float


def carried_atols(dataset: str, entry_point: str, atol: float, expected: Sequence[Any],
                  n_base: int) -> list[float]:
    """The ``atol`` each input's comparison starts with, as EvalPlus carries it: per suite
    (``expected[:n_base]`` is the base suite, the rest the plus suite) it starts at the
    dataset's ``atol``; once an input's expected output passes :func:`is_floats` while it is 0,
    it is :data:`FLOAT_ATOL` for every later input of that suite. (HumanEval/32 ``find_zero``
    returns before that step, so there it never changes.)"""
    out: list[float] = []
    cur = float(atol)
    for i, exp in enumerate(expected):
        if i == n_base:
            cur = float(atol)
        out.append(cur)
        if dataset == "humaneval" and entry_point == "find_zero":
            continue
        if cur == 0 and is_floats(exp):
            cur = FLOAT_ATOL
    return out


def uses_input(dataset: str, entry_point: str) -> bool:
    """Whether :func:`check_output` reads the input for this task (its special oracles)."""
    return (dataset == "mbpp" and entry_point in ("surface_Area", "digit_distance_nums")) or \
        (dataset == "humaneval" and entry_point == "find_zero")


def tagged_match_passes(dataset: str, entry_point: str, expected_tagged: Any) -> bool:
    """Whether an output whose tagged form equals the expected tagged form may be accepted
    without decoding: equal tagged data decode to equal values, so :func:`check_output`
    accepts them, except where a special oracle transforms or re-reads the values, where a
    NaN (never equal to itself, and EvalPlus' ``allclose`` has no ``equal_nan``) is inside, and
    where a numpy array is (``==`` on arrays is an array, whose truth EvalPlus cannot take)."""
    if dataset == "mbpp" and (entry_point in MBPP_OUTPUT_NOT_NONE_TASKS
                              or entry_point in MBPP_OUTPUT_SET_EQ_TASKS):
        return False
    if dataset == "humaneval" and entry_point == "find_zero":
        return False
    return not _has_unequal_tag(expected_tagged)


def _has_unequal_tag(tagged: Any) -> bool:
    """Whether tagged data holds a NaN or a numpy array (values ``==`` does not accept)."""
    stack = [tagged]
    while stack:
        t = stack.pop()
        if type(t) is dict:
            if t.get("float") == "nan" or "ndarray" in t:
                return True
            stack.extend(t.values())
        elif type(t) is list:
            stack.extend(x for x in t if type(x) is dict or type(x) is list)
    return False


def expected_transform(dataset: str, entry_point: str, value: Any) -> Any:
    """What EvalPlus stores as the expected output for a reference output ``value``."""
    if dataset == "mbpp" and entry_point in MBPP_OUTPUT_NOT_NONE_TASKS:
        return value is not None
    return value


def check_output(dataset: str, entry_point: str, inp: Sequence[Any], out: Any, exp: Any,
                 atol: float) -> bool:
    """True when ``out`` is accepted for expected ``exp`` on input ``inp`` (never raises).
    ``atol`` is the tolerance this input starts with (:func:`carried_atols`; the dataset's
    own ``atol`` for a lone comparison)."""
    try:
        if type(out) is Digest or type(exp) is Digest:  # a huge value: compared by its hash
            return digest_of(out) == digest_of(exp)
        return bool(_check(dataset, entry_point, inp, out, exp, atol))
    except Exception:  # noqa: BLE001 - a candidate's output may make any comparison raise: not accepted
        return False


def _check(dataset: str, entry_point: str, inp: Sequence[Any], out: Any, exp: Any,
           atol: float) -> bool:
    exact = out == exp
    if dataset == "mbpp":
        if entry_point == "are_equivalent":  # Mbpp/164
            exact = True
        elif entry_point == "sum_div":  # Mbpp/295
            exact = exact or out == 0
        elif entry_point == "surface_Area":  # Mbpp/581
            exact = exact or abs(out - surface_area_oracle(*inp)) <= atol
        elif entry_point == "digit_distance_nums":  # Mbpp/558
            exact = exact or out == digit_distance_oracle(*inp)
        elif entry_point in MBPP_OUTPUT_SET_EQ_TASKS:
            exact = set(out) == set(exp)
        elif entry_point in MBPP_OUTPUT_NOT_NONE_TASKS:
            exact = out == exp if isinstance(out, bool) else exp == (out is not None)
    if dataset == "humaneval" and entry_point == "find_zero":  # HumanEval/32
        return abs(poly(*inp, out)) <= atol
    if atol == 0 and is_floats(exp):
        atol = FLOAT_ATOL
    if not exact and atol != 0:
        if type(out) is not type(exp):
            return False
        if isinstance(exp, (list, tuple)) and len(out) != len(exp):
            return False
        import numpy as np  # only where floats are compared: a verify's start-up skips it

        return bool(np.allclose(out, exp, rtol=1e-07, atol=atol))
    return bool(exact)
