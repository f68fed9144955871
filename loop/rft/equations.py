"""The arithmetic inside a reasoning path: extraction and checking.

Two kinds of equation are found, in the order they appear:

* GSM8K calculator annotations ``<<48/2=24>>`` (the form GSM8K's gold solutions and models
  trained on them write),
* plain steps in the text, ``48 / 2 = 24`` or chains ``3 * 4 = 12 + 1 = 13`` (what other
  models write); annotations are cut out first, so ``48/2 = <<48/2=24>>24`` yields the
  annotation only.

Each side is evaluated by a tiny recursive-descent parser (no ``eval``): numbers with
decimals, thousands commas and a ``$`` sign, ``+ - * / ^ ( )``, ``x``/``×``/``·`` and ``÷``,
unary minus, and ``%``: modulo between two operands (``7 % 3``), a percent sign otherwise
(``20% * 50`` is 10). An equation holds when every side equals the last one within an ABSOLUTE
tolerance of 1e-3 (the RFT reference's rule: ``2/3 = 0.67`` and ``20000*1.01 = 20210`` do not
hold; float noise on large exact values, at most 1e-12 of them, is not counted). A running total
``3*4 = 12+1 = 13`` is a chain of steps: where a side other than the last starts with the value
of the side before it and goes on with an operator (``12+1`` after ``3*4``), a new step starts
there, so it reads 3*4 = 12, then 12+1 = 13.

This is ``fireassay rft --mode extended``; ``--mode reference`` checks only the annotations, as
the reference code does (``loop.rft.reference``).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

ABS_TOL = 1e-3
_FLOAT_NOISE = 1e-12  # relative: what float arithmetic on exact values may be off by
_LEADING = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)(?=[+\-*/^%])")

_ANNOTATION = re.compile(r"<<([^<>]*?)>>")
# a run of characters that can belong to arithmetic, holding at least one "="
_REGION = re.compile(r"[0-9.,$ \t()+\-*/^%=×÷·−–]*=[0-9.,$ \t()+\-*/^%=×÷·−–]*")
# "5 x 3" (a letter x between two operands) is multiplication
_TIMES_X = re.compile(r"(?<=[\d)%])\s*[xX]\s*(?=[$(\d.])")
_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?!\d)(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+")
_OPERATORS = set("+-*/^%")


class ParseError(ValueError):
    pass


@dataclass(frozen=True)
class Equation:
    """``sides``: the normalized text of each side (white space, ``$`` and thousands commas
    removed; ``×``/``x`` -> ``*``, ``÷`` -> ``/``, ``**`` -> ``^``); the last side is the
    result, every other side must equal it."""

    sides: tuple[str, ...]
    source: str  # "annotation" or "text"

    @property
    def text(self) -> str:
        return "=".join(self.sides)

    def check(self, abs_tol: float = ABS_TOL) -> bool | None:
        """True: it holds; False: it does not (a division by zero included); None: a side is
        not arithmetic this parser reads (an annotation like ``<<x=5>>``): not judged.
        Running totals split the chain into steps (see the module doc)."""
        try:
            values = [evaluate(s) for s in self.sides]
        except (ParseError, RecursionError):
            return None
        except (ZeroDivisionError, OverflowError):
            return False
        steps: list[list[float]] = [[values[0]]]
        for i in range(1, len(values)):
            lead = _LEADING.match(self.sides[i]) if i < len(values) - 1 else None
            if (lead is not None and not _close(values[i - 1], values[i], abs_tol)
                    and _close(float(lead.group(0)), values[i - 1], abs_tol)):
                steps.append([values[i]])  # a running total: "12+1" goes on from the 12 before
            else:
                steps[-1].append(values[i])
        return all(_close(v, step[-1], abs_tol) for step in steps for v in step[:-1])


def _close(value: float, target: float, abs_tol: float) -> bool:
    if not (math.isfinite(value) and math.isfinite(target)):
        return False
    return abs(value - target) < abs_tol + _FLOAT_NOISE * max(abs(value), abs(target))


# -- tokenizing and parsing ----------------------------------------------------------------

def _canonical_ops(expr: str) -> str:
    s = _TIMES_X.sub("*", expr)
    s = s.replace("**", "^")
    for a, b in (("×", "*"), ("·", "*"), ("÷", "/"), ("−", "-"), ("–", "-")):
        s = s.replace(a, b)
    return s.replace("$", "")


def normalize(expr: str) -> str:
    """White space, ``$`` and thousands commas removed; one spelling per operator."""
    s = re.sub(r"\s+", "", _canonical_ops(expr))
    return re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", s)


def _tokens(expr: str) -> list[str]:
    """Tokens of ``expr``; white space separates tokens (so ``8. 2`` is not ``8.2``)."""
    s = _canonical_ops(expr)
    out: list[str] = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch.isspace():
            i += 1
            continue
        if ch in _OPERATORS or ch in "()":
            out.append(ch)
            i += 1
            continue
        m = _NUMBER.match(s, i)
        if not m:
            raise ParseError(f"unexpected {ch!r} in {expr!r}")
        out.append(m.group(0).replace(",", ""))
        i = m.end()
    return out


class _Parser:
    """expr := term (('+'|'-') term)*; term := unary (('*'|'/'|'%') unary)*;
    unary := '-' unary | power; power := postfix ('^' unary)?; postfix := atom '%'*;
    atom := NUMBER | '(' expr ')'."""

    def __init__(self, tokens: list[str]) -> None:
        self.t = tokens
        self.i = 0

    def peek(self, k: int = 0) -> str | None:
        j = self.i + k
        return self.t[j] if j < len(self.t) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise ParseError("unexpected end")
        self.i += 1
        return tok

    def parse(self) -> float:
        if not self.t:
            raise ParseError("empty expression")
        v = self.expr()
        if self.peek() is not None:
            raise ParseError(f"unexpected {self.peek()!r}")
        return v

    def expr(self) -> float:
        v = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            r = self.term()
            v = v + r if op == "+" else v - r
        return v

    def term(self) -> float:
        v = self.unary()
        while self.peek() in ("*", "/", "%"):
            op = self.take()
            r = self.unary()
            if op == "*":
                v = v * r
            elif op == "/":
                v = v / r
            else:
                v = math.fmod(v, r)
        return v

    def unary(self) -> float:
        if self.peek() == "-":
            self.take()
            return -self.unary()
        if self.peek() == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> float:
        v = self.postfix()
        if self.peek() == "^":
            self.take()
            e = self.unary()
            if abs(e) > 1000 or abs(v) > 1e100:
                raise ParseError("power too large")
            v = float(v) ** e
            if isinstance(v, complex):
                raise ParseError("complex result")
        return v

    def postfix(self) -> float:
        v = self.atom()
        # '%' is a percent sign unless an operand follows it (then it is modulo, in term())
        while self.peek() == "%" and not _starts_operand(self.peek(1)):
            self.take()
            v = v / 100.0
        return v

    def atom(self) -> float:
        tok = self.take()
        if tok == "(":
            v = self.expr()
            if self.take() != ")":
                raise ParseError("missing ')'")
            return v
        if tok[0].isdigit() or tok[0] == ".":
            return float(tok)
        raise ParseError(f"unexpected {tok!r}")


def _starts_operand(tok: str | None) -> bool:
    return tok is not None and (tok == "(" or tok[0].isdigit() or tok[0] == ".")


def evaluate(expr: str) -> float:
    """The value of an arithmetic expression (see the module doc); :class:`ParseError` if it is
    not one, ``ZeroDivisionError`` on a division by zero."""
    if len(expr) > 10 * MAX_SIDE:
        raise ParseError("expression too long")
    try:
        return _Parser(_tokens(expr)).parse()
    except RecursionError:
        raise ParseError("nested too deep") from None


def _parses(expr: str) -> bool:
    try:
        evaluate(expr)
        return True
    except (ParseError, ZeroDivisionError, OverflowError):
        return False


MAX_SIDE = 200  # characters: a longer run of digits and operators is not one readable side


def _has_operator(side: str) -> bool:
    s = normalize(side).lstrip("-+")
    return any(op in s for op in _OPERATORS)


# -- extraction -----------------------------------------------------------------------------

def _longest_suffix(text: str) -> tuple[str, int]:
    """The longest suffix of ``text`` that parses, not starting inside a number, and the
    offset where it starts (``("", -1)`` if none)."""
    for i in range(max(0, len(text) - MAX_SIDE), len(text)):
        if text[i].isspace() or (i > 0 and text[i - 1].isdigit() and text[i].isdigit()):
            continue
        chunk = text[i:].rstrip()
        if _parses(chunk):
            return chunk, i
    return "", -1


def _longest_prefix(text: str) -> tuple[str, int]:
    """The longest prefix of ``text`` that parses, not ending inside a number, and the
    offset just after it (``("", -1)`` if none)."""
    start = len(text) - len(text.lstrip())
    for j in range(min(len(text), start + MAX_SIDE), start, -1):
        if text[j - 1].isspace() or (j < len(text) and text[j].isdigit() and text[j - 1].isdigit()):
            continue
        chunk = text[start:j]
        if _parses(chunk):
            return chunk, j
    return "", -1


_BAD_NEIGHBOUR = set("+-*/^%()") | set("0123456789")


def _clean_start(text: str, start: int, chunk: str) -> bool:
    """Nothing before ``chunk`` continues the expression: no variable or number glued to it
    (``S + 143``, ``2(3+4)``, ``1 1/2``, ``16,0000``), no operator or bracket before it."""
    if chunk[0] in "+*/^%":
        return False
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] in ",.$:"):
        return False
    before = text[:start].rstrip()
    if not before:
        return True
    if before[-1] in _BAD_NEIGHBOUR:
        return False
    return not (chunk[0] == "-" and before[-1].isalpha())


def _clean_end(text: str, end: int) -> bool:
    """Nothing after the result continues it (``5A``, ``1 1/2``, ``8 + x``)."""
    if end < len(text) and (text[end].isalnum() or text[end] == ":"):
        return False
    after = text[end:].lstrip()
    return not after or after[0] not in _BAD_NEIGHBOUR


def _counted_thing(text: str, start: int, chunk: str) -> bool:
    """A bare number right after a word (``of 150 = 75 + 15``, ``Remaining 10 = 62300/10``)
    belongs to the sentence, not to the equation that follows."""
    if _has_operator(chunk):
        return False
    before = text[:start].rstrip(" \t$")
    return bool(before) and before[-1].isalpha()


def _plain_equations(text: str) -> list[Equation]:
    """Plain ``a op b = c`` steps (and chains ``a = b = c``) in text without annotations."""
    text = _TIMES_X.sub("*", text)
    out: list[Equation] = []

    def flush(sides: list[str]) -> None:
        if len(sides) >= 2 and any(_has_operator(x) for x in sides[:-1]):
            out.append(Equation(tuple(normalize(x) for x in sides), "text"))

    for m in _REGION.finditer(text):
        pos = m.start()
        chain: list[str] = []
        parts = m.group(0).split("=")
        for k, part in enumerate(parts):
            last = k == len(parts) - 1
            if k > 0 and not last and _parses(part):
                chain.append(part.strip())
            else:
                if k > 0:
                    # this side ends the chain (its parseable start is the result)
                    head, end = _longest_prefix(part)
                    if head and chain and _clean_end(text, pos + end):
                        chain.append(head)
                    flush(chain)
                # what follows in the same part may start the next chain
                chain = []
                if not last:
                    tail, start = _longest_suffix(part)
                    if tail and _clean_start(text, pos + start, tail) and not _counted_thing(text, pos + start, tail):
                        chain = [tail]
            pos += len(part) + 1
    return out


def _annotation(body: str) -> Equation | None:
    if "=" not in body:
        return None
    return Equation(tuple(normalize(x) for x in body.split("=")), "annotation")


def extract_equations(text: str) -> list[Equation]:
    """Every equation of a reasoning path, in order (annotations and plain steps)."""
    out: list[Equation] = []
    pos = 0
    for m in _ANNOTATION.finditer(text):
        out.extend(_plain_equations(text[pos:m.start()] + "\n"))
        eq = _annotation(m.group(1))
        if eq is not None:
            out.append(eq)
        pos = m.end()
    out.extend(_plain_equations("\n" + text[pos:]))
    return out


def wrong_steps(equations: list[Equation], abs_tol: float = ABS_TOL) -> list[Equation]:
    """The equations that do not hold (unreadable ones are not judged, so not counted)."""
    return [e for e in equations if e.check(abs_tol) is False]
