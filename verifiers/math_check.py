"""Math answer checks that run inside worker processes (see ``sandbox.procpool``).

math-verify's own timeouts use SIGALRM, which only works in a main thread: these functions
are meant to run in the main thread of a pool worker, under the pool's hard timeout.

Undecided is never False. math-verify answers ``False`` (or ``[]``) when its parser or a
comparison times out or errors; here those come back as undecided (``None``, or
:class:`Undecided` for a key), and the callers mark the candidate unjudged. An answer too deep or
too long for the parser to read right is refused before parsing (:func:`too_complex`): past
Python's recursion limit latex2sympy fails inside math-verify, which then quietly keys a
*fragment* of the answer (``\\frac{1}{\\frac{1}{...\\frac{1}{9}}}`` nested 300 deep became
``1/9``). The limits sit far above any real answer (MATH-500's golds: depth 2, 15 operators,
53 characters) and far below where parsing goes wrong (about 60 nested parentheses, 300 chained
operators); the property tests in ``tests/bad_input`` check both sides.
"""
from __future__ import annotations

import re
import sys
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Iterator

import sympy
from latex2sympy2_extended import latex2sympy
from math_verify import parse, verify
from math_verify.errors import TimeoutException
from math_verify.utils import timeout

# imported here, not per call: a worker says it is ready after this, so no call's time limit
# pays for loading sympy and math-verify

_TIMEOUT = 3  # math-verify's own (soft) limit; the pool's hard limit is above it
MAX_DEPTH = 20  # nested brackets ({ ( [)
MAX_OPERATORS = 100  # LaTeX commands and operator signs
MAX_CHARS = 1000
_RECURSION_LIMIT = 5000  # room for what the limits above let through (the default 1000 is close)
_COMMAND_RE = re.compile(r"\\[A-Za-z]+")
_OPERATOR_CHARS = "+-*/^_=<>,!|&"


class Undecided(Exception):
    """The answer could not be read or compared in time (or at all): judge it as unjudged."""


def _strip(s: str) -> str:
    s = re.sub(r"\\(?:left|right|displaystyle|!|,|;|:)", "", s)
    s = re.sub(r"\\text\{\s*([^{}]*)\}", r"\1", s)
    s = s.replace("$", "").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return re.sub(r"\s+", "", s).rstrip(".")


def too_complex(answer: str) -> str | None:
    """Why ``answer`` is beyond what the parser reads right (None when it is within limits)."""
    if len(answer) > MAX_CHARS:
        return f"answer is {len(answer)} characters long (limit {MAX_CHARS})"
    depth = deepest = 0
    for ch in answer:
        if ch in "{([":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "})]":
            depth -= 1
    if deepest > MAX_DEPTH:
        return f"answer is nested {deepest} deep (limit {MAX_DEPTH})"
    ops = len(_COMMAND_RE.findall(answer)) + sum(answer.count(c) for c in _OPERATOR_CHARS)
    if ops > MAX_OPERATORS:
        return f"answer has {ops} operators (limit {MAX_OPERATORS})"
    return None


@contextmanager
def _stack_room() -> Iterator[None]:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, _RECURSION_LIMIT))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


@lru_cache(maxsize=4096)
def _parse(answer: str) -> tuple[tuple[Any, ...], str | None]:
    """(math-verify's extractions, why parsing was undecided or None)."""
    why = too_complex(answer)
    if why:
        return (), why
    try:
        with _stack_room():
            return tuple(parse("\\boxed{" + answer + "}", parsing_timeout=_TIMEOUT, raise_on_error=True)), None
    except TimeoutException:
        return (), f"parsing timed out after {_TIMEOUT}s"
    except RecursionError:
        return (), "too deeply nested to parse"
    except Exception:  # noqa: BLE001 - math-verify's own rule: nothing could be extracted
        return (), None


def _verify(gold: tuple[Any, ...], target: tuple[Any, ...]) -> bool | None:
    """math-verify's comparison (any pair equal), but a pair that timed out is undecided."""
    undecided = False
    for g in gold:
        for t in target:
            try:
                with _stack_room():
                    if verify(g, t, timeout_seconds=_TIMEOUT, raise_on_error=True):
                        return True
            except (TimeoutException, RecursionError):
                undecided = True
            except Exception:  # noqa: BLE001 - math-verify's own rule: a comparison that errors is no match
                pass
    return None if undecided else False


def _sympy_fallback(gold: str, answer: str) -> bool | None:
    """Compare with latex2sympy + sympy when math-verify could not parse one side (None: undecided)."""
    @timeout(timeout_seconds=_TIMEOUT)
    def compare() -> bool:
        a, b = latex2sympy(gold), latex2sympy(answer)
        return bool(sympy.simplify(a - b) == 0)

    try:
        with _stack_room():
            return compare()
    except (Exception, TimeoutException):  # noqa: BLE001 - whatever sympy raises: undecided
        return None


def canonical_key(answer: str) -> str:
    """The voting key of ``answer``: its sympy form, else its stripped text.

    Raises :class:`Undecided` when the answer cannot be read in time (or is too complex): such an
    answer must not be compared with others (every comparison would parse it again)."""
    parsed, why = _parse(answer)
    if why:
        raise Undecided(why)
    if parsed and not isinstance(parsed[0], str):
        key = str(parsed[0])
        if len(key) <= 200:
            return key
    return _strip(answer)


def equivalent(a: str, b: str) -> bool | None:
    """Whether two answers are equal; None when that could not be decided."""
    if _strip(a) == _strip(b):
        return True
    (pa, why_a), (pb, why_b) = _parse(a), _parse(b)
    if why_a or why_b:
        return None
    if pa and pb:
        return _verify(pa, pb)
    return _sympy_fallback(a, b)


def check(gold: str, answer: str) -> tuple[str | None, bool | None, str]:
    """(canonical key of ``answer``, whether it matches ``gold``, which method decided).

    ``passed`` is None when nothing could decide; the third field then says why."""
    if _strip(gold) == _strip(answer):
        try:
            return canonical_key(answer), True, "string"
        except Undecided:
            return _strip(answer), True, "string"
    pa, why = _parse(answer)
    if why:
        return None, None, why
    key = canonical_key(answer)
    pg, why = _parse(gold)
    if why:
        return key, None, f"gold answer: {why}"
    if pg and pa:
        ok = _verify(pg, pa)
        return key, ok, "math-verify" if ok is not None else f"math-verify: comparison timed out after {_TIMEOUT}s"
    fb = _sympy_fallback(gold, answer)
    if fb is None:
        side = "the answer" if not pa else "the gold answer"
        return key, None, f"neither math-verify nor sympy could read {side}"
    return key, fb, "sympy"
