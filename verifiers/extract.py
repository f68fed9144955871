"""Pulling a final answer out of a model's text: boxed LaTeX, GSM8K markers, last number."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_IS_RE = re.compile(r"answer is[:\s]*\$?(.+?)(?:\$|\n|$)", re.IGNORECASE)
_HASH_RE = re.compile(r"####\s*([^\n]+)")
_NUMBER_RE = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?|-?\.\d+")


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox``), nested braces respected."""
    starts = [m.end() for m in _BOX_RE.finditer(text)]
    for start in reversed(starts):
        depth = 1
        i = start
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text):
                i += 2
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return text[start:i].strip()
            i += 1
    # "\boxed 5" without braces
    m = re.findall(r"\\boxed\s+([^\s$]+)", text)
    return m[-1].strip() if m else None


def answer_is(text: str) -> str | None:
    m = _ANSWER_IS_RE.findall(text)
    if not m:
        return None
    ans = m[-1].strip().rstrip(".").strip()
    return ans or None


def extract_math_answer(text: str) -> str | None:
    """MATH-style final answer: last ``\\boxed{}``, else "the answer is ..."."""
    return last_boxed(text) or answer_is(text)


def parse_number(s: str) -> Fraction | None:
    """A number as written in a GSM8K-style answer: commas, ``$``, ``%``, a trailing period."""
    s = s.strip()
    s = re.sub(r"^\\\(|\\\)$|^\$|\$$", "", s).strip()
    s = s.replace(",", "").replace("$", "").replace("\\%", "").replace("%", "").strip()
    s = s.rstrip(".").strip()
    s = re.sub(r"\\(?:text|mathrm)\{[^}]*\}", "", s).strip()
    m = re.fullmatch(r"\\[dt]?frac\{(-?[\d.]+)\}\{(-?[\d.]+)\}", s)
    if m:
        s = f"{m.group(1)}/{m.group(2)}"
    try:
        if "/" in s:
            num, den = s.split("/", 1)
            d = Fraction(Decimal(den.strip()))
            return Fraction(Decimal(num.strip())) / d if d else None
        return Fraction(Decimal(s))
    except (InvalidOperation, ValueError, ZeroDivisionError):
        return None


def last_number(text: str) -> str | None:
    found = _NUMBER_RE.findall(text)
    return found[-1] if found else None


def extract_gsm8k_answer(text: str) -> str | None:
    """GSM8K final answer string: ``#### x``, "The answer is x", ``\\boxed{x}``, else the last number."""
    hashed = _HASH_RE.findall(text)
    if hashed:
        num = last_number(hashed[-1])
        return num if num is not None else hashed[-1].strip()
    for raw in (answer_is(text), last_boxed(text)):
        if raw:
            num = last_number(raw)
            if num is not None:
                return num
    return last_number(text)


def number_key(value: Fraction) -> str:
    """Canonical text of a number: ``0.5`` and ``1/2`` and ``.50`` share ``"0.5"``."""
    if value.denominator == 1:
        return str(value.numerator)
    d = value.denominator
    # a terminating decimal iff the denominator has only the primes 2 and 5
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if d == 1:
        text = format(Decimal(value.numerator) / Decimal(value.denominator), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    return f"{value.numerator}/{value.denominator}"
