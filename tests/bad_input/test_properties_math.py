"""Property layer, surface: hostile math. Random nested LaTeX whose exact value is known.

For any expression: the oracle's check against its true value is True or unjudged (None), never
False; against a different value it is False or unjudged, never True; a vote puts two spellings
of one value in one class (or marks one as not grouped) and never merges different values. Each
example runs in the real worker pool, whose hard timeout plus the profile's ``deadline`` bound it.
"""
from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from sandbox.procpool import ProcessPool
from verifiers.answers import MathAnswer
from verifiers.math_check import MAX_DEPTH

Expr = tuple[str, Fraction]  # (LaTeX, exact value)


def latex_of(v: Fraction) -> str:
    """How a gold answer writes a rational: 3, -3, \\frac{2}{3}, -\\frac{2}{3}."""
    if v.denominator == 1:
        return str(v.numerator)
    sign = "-" if v < 0 else ""
    return f"{sign}\\frac{{{abs(v.numerator)}}}{{{v.denominator}}}"


def _wrap(draw, e: Expr) -> str:
    """An operand in brackets of a random kind (so that precedence never matters)."""
    style = draw(st.sampled_from(["()", "lr", "{}"]))
    return {"()": f"({e[0]})", "lr": f"\\left({e[0]}\\right)", "{}": f"{{({e[0]})}}"}[style]


@st.composite
def expressions(draw, depth: int) -> Expr:
    if depth <= 0 or draw(st.integers(0, 3)) == 0:
        n = draw(st.integers(0, 12))
        return str(n), Fraction(n)
    kind = draw(st.sampled_from(["frac", "dfrac", "add", "sub", "mul", "neg", "square", "sqrt", "brace"]))
    a = draw(expressions(depth - 1))
    if kind in ("frac", "dfrac", "add", "sub", "mul"):
        b = draw(expressions(depth - 1))
        if kind in ("frac", "dfrac"):
            assume(b[1] != 0)
            return f"\\{kind}{{{a[0]}}}{{{b[0]}}}", a[1] / b[1]
        op = {"add": "+", "sub": "-", "mul": draw(st.sampled_from(["\\cdot ", "\\times "]))}[kind]
        value = {"add": a[1] + b[1], "sub": a[1] - b[1], "mul": a[1] * b[1]}[kind]
        return f"{_wrap(draw, a)}{op}{_wrap(draw, b)}", value
    if kind == "neg":
        return f"-{_wrap(draw, a)}", -a[1]
    if kind == "square":
        return f"{_wrap(draw, a)}^{{2}}", a[1] ** 2
    if kind == "sqrt":  # the root of a square: |a|
        return f"\\sqrt{{{_wrap(draw, a)}^{{2}}}}", abs(a[1])
    return f"{{{a[0]}}}", a[1]


@st.composite
def deep_expressions(draw) -> Expr:
    """A value under a tower of value-preserving wrappers, often past the parser's limits."""
    e = draw(expressions(2))
    for _ in range(draw(st.integers(MAX_DEPTH // 2, 3 * MAX_DEPTH))):
        wrapper = draw(st.sampled_from(["paren", "double_frac", "plus0", "times1"]))
        text, v = e
        e = ({"paren": f"({text})", "double_frac": f"\\frac{{1}}{{\\frac{{1}}{{{text}}}}}",
              "plus0": f"0+({text})", "times1": f"1\\cdot({text})"}[wrapper], v)
    return e


def small(e: Expr) -> bool:
    return abs(e[1].numerator) < 10**8 and e[1].denominator < 10**8


@pytest.fixture(scope="module")
def check_pool():
    with ProcessPool("verifiers.math_check:check", workers=1, timeout=20.0) as pool:
        yield pool


@pytest.fixture(scope="module")
def math_format():
    fmt = MathAnswer(timeout=20.0, workers=1, group_budget=40.0)
    yield fmt
    fmt.close()


def _check(pool: ProcessPool, gold: str, answer: str) -> bool | None:
    (r,) = pool.map([(gold, answer)])
    if not r.ok:  # the checker itself failed or timed out: the oracle marks that unjudged
        return None
    key, passed, why = r.value
    assert passed in (True, False, None) and isinstance(why, str) and why
    assert key is None or isinstance(key, str)
    return passed


@given(st.one_of(expressions(5), deep_expressions()))
def test_check_is_right_or_unjudged_never_wrong(check_pool, e):
    assume(small(e))
    text, value = e
    assert _check(check_pool, latex_of(value), text) in (True, None), (text, value)
    assert _check(check_pool, latex_of(value + 1), text) in (False, None), (text, value)


@given(expressions(4), expressions(4))
def test_vote_classes_merge_equal_values_and_never_different_ones(math_format, e1, e2):
    assume(small(e1) and small(e2))
    texts = [f"so \\boxed{{{e1[0]}}}", f"\\boxed{{{latex_of(e1[1])}}}", f"\\boxed{{{e2[0]}}}"]
    g = math_format.group(texts)
    assert all(c is not None for c in g.classes)
    if "" == g.status[0] == g.status[1]:  # both read and compared: one value, one class
        assert g.classes[0] == g.classes[1], (texts, g)
    if e1[1] != e2[1]:
        assert g.classes[2] != g.classes[0] and g.classes[2] != g.classes[1], (texts, g)


_TOKENS = list("0123456789+-*/^_{}()[]|!,.=<> x") + [
    "\\frac", "\\sqrt", "\\left(", "\\right)", "\\cdot", "\\pi", "\\infty", "\\text{", "\\boxed{", "\\\\"]


@given(st.lists(st.sampled_from(_TOKENS), max_size=60).map("".join))
def test_garbage_latex_is_judged_or_unjudged_without_crash_or_hang(check_pool, junk):
    passed = _check(check_pool, "5", junk)
    if junk.strip() == "5":
        assert passed is True
    assert _check(check_pool, junk, junk) is True  # an answer always equals itself
