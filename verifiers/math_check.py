"""Math answer checks that run inside worker processes (see ``sandbox.procpool``).

math-verify's own timeouts use SIGALRM, which only works in a main thread: these functions
are meant to run in the main thread of a pool worker, under the pool's hard timeout.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_TIMEOUT = 3  # math-verify's own (soft) limit; the pool's hard limit is above it


def _strip(s: str) -> str:
    s = re.sub(r"\\(?:left|right|displaystyle|!|,|;|:)", "", s)
    s = re.sub(r"\\text\{\s*([^{}]*)\}", r"\1", s)
    s = s.replace("$", "").replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return re.sub(r"\s+", "", s).rstrip(".")


@lru_cache(maxsize=4096)
def _parse(answer: str) -> tuple[Any, ...]:
    from math_verify import parse

    return tuple(parse("\\boxed{" + answer + "}", parsing_timeout=_TIMEOUT))


def _sympy_fallback(gold: str, answer: str) -> bool | None:
    """Compare with latex2sympy + sympy when math-verify could not parse one side."""
    try:
        import sympy
        from latex2sympy2_extended import latex2sympy

        a, b = latex2sympy(gold), latex2sympy(answer)
        return bool(sympy.simplify(a - b) == 0)
    except Exception:  # noqa: BLE001 - sympy raises anything on odd input: undecided
        return None


def canonical_key(answer: str) -> str:
    parsed = _parse(answer)
    if parsed and not isinstance(parsed[0], str):
        key = str(parsed[0])
        if len(key) <= 200:
            return key
    return _strip(answer)


def equivalent(a: str, b: str) -> bool:
    if _strip(a) == _strip(b):
        return True
    from math_verify import verify

    pa, pb = _parse(a), _parse(b)
    if pa and pb:
        return bool(verify(list(pa), list(pb), timeout_seconds=_TIMEOUT))
    return bool(_sympy_fallback(a, b))


def check(gold: str, answer: str) -> tuple[str, bool, str]:
    """(canonical key of ``answer``, whether it matches ``gold``, which method decided)."""
    key = canonical_key(answer)
    if _strip(gold) == _strip(answer):
        return key, True, "string"
    from math_verify import verify

    pg, pa = _parse(gold), _parse(answer)
    if pg and pa:
        return key, bool(verify(list(pg), list(pa), timeout_seconds=_TIMEOUT)), "math-verify"
    fb = _sympy_fallback(gold, answer)
    return key, bool(fb), "sympy" if fb is not None else "string"


def canonical_keys(answers: list[str]) -> list[str]:
    return [canonical_key(a) for a in answers]
