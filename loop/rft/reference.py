"""``fireassay rft --mode reference``: the RFT paper's own selection, as gsm8k-ScRel
(OFA-Sys, ``collect_rejection_sampling.py``) does it, rule for rule:

1. **Correct**: the first ``#### `` followed by ``-?[0-9.,]+`` (commas dropped; text after a NUL
   byte ignored) read as a float equals the gold read the same way from the problem's reference
   solution. The run's own oracle is not asked (its verdicts are counted beside, for comparison).
2. **Equations**: only calculator annotations, every ``<<...>>`` (``<<([^>]*)>>``). Each must
   hold, or the path is dropped: it has an ``=``; the text before the first ``=``, evaluated as
   a Python expression, and the text between the first and second ``=``, read by ``float()``,
   differ by less than 1e-3 (absolute). So ``<<20000*1.01=20210>>``, ``<<2/3=0.67>>`` and
   ``<<x=5>>`` drop their paths, and ``<<5=5=6>>`` holds (the third side is not read).
3. **Key**: ``'|'.join(annotations)`` with every space removed (a path without annotations has
   the key ``""``).
4. **Online Levenshtein rule**, per problem, over its correct sound paths in source order (the
   runs in the order given, each run's samples by sample index): a new key is appended; a path
   whose key is kept already replaces the kept one only if its summed edit distance to the other
   kept paths is strictly larger than the kept one's (the others: every kept path whose text
   differs from the kept one's).
5. The problem's own reference solution is written first for every problem (also for problems
   with nothing kept), then the kept paths in kept order.

The expression evaluator is not ``eval``: it walks the Python syntax tree of numbers, operators
(Python's: ``^`` is XOR, ``%`` modulo, ``//``), comparisons and ``abs round int float min max
pow``, with Python's own arithmetic, so every value is what ``eval`` gives. What ``eval`` would
evaluate beyond that (names other than those, strings, attributes, calls of anything else) is
not arithmetic and drops the path, as the reference's ``NameError`` does for ``<<x=5>>``; a
power or shift past 2**65536 drops it too (``eval`` would run out of time or memory).
"""
from __future__ import annotations

import ast
import operator
import re
from typing import Any, Callable, Sequence, TypeVar

from rapidfuzz.distance import Levenshtein

ANNOTATION_RE = re.compile(r"<<([^>]*)>>")
ANSWER_RE = re.compile(r"#### (\-?[0-9\.\,]+)")
ABS_TOL = 1e-3
MAX_BITS = 1 << 16  # an integer larger than 2**65536 is not followed (eval would hang on 9**9**9)
MAX_EXPR = 100_000  # characters of one annotation side

T = TypeVar("T")


class NotArithmetic(Exception):
    """An annotation side that the reference's ``eval`` would not turn into a number here."""


def reference_answer(text: str) -> float | None:
    """The reference's ``extract_answer``: None where it says ``[invalid]``."""
    if "\x00" in text:
        text = text[: text.find("\x00")]
    m = ANSWER_RE.search(text)
    if not m:
        return None
    try:
        return float(m.group(1).strip().replace(",", ""))
    except ValueError:
        return None


def reference_correct(text: str, gold_text: str) -> bool:
    pred, gold = reference_answer(text), reference_answer(gold_text)
    return pred is not None and gold is not None and pred == gold


def annotations(text: str) -> list[str]:
    return ANNOTATION_RE.findall(text)


def annotation_key(found: Sequence[str]) -> str:
    return "|".join(found).replace(" ", "")


def check_annotation(body: str) -> bool:
    """The reference's ``check_equation``: ``lhs`` before the first ``=``, ``rhs`` between the
    first and the second; ``abs(float(eval(lhs)) - float(rhs)) < 1e-3``; any error is False."""
    if "=" not in body:
        return False
    parts = body.split("=")
    lhs, rhs = parts[0], parts[1]
    try:
        value = float(python_value(lhs))
        return abs(value - float(rhs)) < ABS_TOL
    except (NotArithmetic, ArithmeticError, ValueError, TypeError, RecursionError, MemoryError):
        return False


def sound(text: str) -> tuple[bool, list[str], list[str]]:
    """(every annotation holds, the annotations, the ones that do not)."""
    found = annotations(text)
    bad = [a for a in found if not check_annotation(a)]
    return not bad, found, bad


# -- a Python-expression evaluator for numbers (what eval() computes, without eval) ----------

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.BitXor: operator.xor, ast.BitAnd: operator.and_, ast.BitOr: operator.or_,
    ast.LShift: operator.lshift, ast.RShift: operator.rshift,
}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert, ast.Not: operator.not_,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
_NUMBER_TYPES = (int, float, complex, bool)


def _bounded_pow(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        if b * max(1, abs(a).bit_length()) > MAX_BITS:
            raise NotArithmetic("power too large to follow")
    return pow(a, b)


def _bounded_lshift(a: Any, b: Any) -> Any:
    if isinstance(b, int) and b > MAX_BITS:
        raise NotArithmetic("shift too large to follow")
    return a << b


def _safe_builtin(fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        if fn is pow and len(args) == 2:
            return _bounded_pow(*args)
        return fn(*args)
    return call


_BUILTINS: dict[str, Callable[..., Any]] = {
    name: _safe_builtin(fn) for name, fn in
    {"abs": abs, "round": round, "int": int, "float": float, "min": min, "max": max, "pow": pow}.items()
}


def python_value(expr: str) -> Any:
    """The value ``eval(expr)`` has, for expressions of numbers (see the module doc)."""
    if len(expr) > MAX_EXPR:
        raise NotArithmetic("expression too long")
    try:
        tree = ast.parse(expr.lstrip(" \t"), mode="eval")
    except (SyntaxError, ValueError) as e:  # ValueError: a NUL byte
        raise NotArithmetic(str(e)) from None
    return _eval(tree.body)


def _check_size(v: Any) -> Any:
    if isinstance(v, int) and v.bit_length() > MAX_BITS:
        raise NotArithmetic("integer too large to follow")
    return v


def _eval(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, _NUMBER_TYPES) or node.value is None:
            return node.value
        raise NotArithmetic(f"{type(node.value).__name__} literal")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _eval(node.left), _eval(node.right)
        if not (isinstance(left, _NUMBER_TYPES) and isinstance(right, _NUMBER_TYPES)):
            # [1]*10**9 would build a list eval's float() then refuses: refused before building it
            raise NotArithmetic("an operation on a tuple or list")
        if isinstance(node.op, ast.Pow):
            return _check_size(_bounded_pow(left, right))
        if isinstance(node.op, ast.LShift):
            return _check_size(_bounded_lshift(left, right))
        return _check_size(_BINOPS[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.Compare) and all(type(op) in _COMPARE for op in node.ops):
        left = _eval(node.left)
        for op, comp in zip(node.ops, node.comparators):
            right = _eval(comp)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    if isinstance(node, ast.BoolOp):
        value: Any = None
        for v in node.values:
            value = _eval(v)
            if isinstance(node.op, ast.And) and not value:
                return value
            if isinstance(node.op, ast.Or) and value:
                return value
        return value
    if isinstance(node, ast.IfExp):
        return _eval(node.body) if _eval(node.test) else _eval(node.orelse)
    if isinstance(node, (ast.Tuple, ast.List)):
        items = [_eval(e) for e in node.elts]
        return tuple(items) if isinstance(node, ast.Tuple) else items
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _BUILTINS
            and not node.keywords):
        return _check_size(_BUILTINS[node.func.id](*(_eval(a) for a in node.args)))
    raise NotArithmetic(f"{type(node).__name__} is not evaluated")


# -- the online Levenshtein rule -------------------------------------------------------------

def online_farthest(paths: Sequence[T], key: Callable[[T], str], text: Callable[[T], str]) -> list[T]:
    """The reference's dedupe, in the order given (see the module doc, rule 4)."""
    kept: list[T] = []
    keys: list[str] = []
    for p in paths:
        k = key(p)
        if k not in keys:
            kept.append(p)
            keys.append(k)
            continue
        i = keys.index(k)
        now = text(kept[i])
        others = [text(r) for r in kept if text(r) != now]
        now_score = sum(Levenshtein.distance(now, r) for r in others)
        q_score = sum(Levenshtein.distance(text(p), r) for r in others)
        if q_score > now_score:
            kept[i] = p
    return kept
