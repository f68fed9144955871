"""Pulling a final answer out of a model's text: boxed LaTeX, GSM8K markers, last number."""
from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_IS_RE = re.compile(r"answer is[:\s]*\$?(.+?)(?:\$|\n|$)", re.IGNORECASE)
_HASH_RE = re.compile(r"####\s*([^\n]+)")
_NUMBER_RE = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+(?:\.\d+)?)?|-?\.\d+")


def _closing_braces(text: str) -> dict[int, int]:
    """Index of each ``{`` -> the index of the ``}`` that closes it (a backslash escapes the
    next character), in one pass: a text of many unclosed boxes costs linear time, not quadratic."""
    close: dict[int, int] = {}
    stack: list[int] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            i += 2
            continue
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            close[stack.pop()] = i
        i += 1
    return close


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox``) that closes, nested braces respected."""
    starts = [m.end() for m in _BOX_RE.finditer(text)]
    if starts:
        close = _closing_braces(text)
        for start in reversed(starts):
            end = close.get(start - 1)
            if end is not None:
                return text[start:end].strip()
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


# an answer longer than this is not a GSM8K number: refused whole, before any regex or Decimal
MAX_ANSWER_CHARS = 200
_NUM = r"(?:\d+(?:,\d+)*(?:\.\d*)?|\.\d+)"
_SIGN = r"([+-]?)"
_FRAC = r"\\[dt]?frac"
_PLAIN_RE = re.compile(rf"{_SIGN}({_NUM})")
_SLASH_RE = re.compile(rf"{_SIGN}({_NUM})\s*/\s*({_NUM})")
_LATEX_FRAC_RE = re.compile(rf"{_SIGN}{_FRAC}\s*\{{\s*([+-]?{_NUM})\s*\}}\s*\{{\s*([+-]?{_NUM})\s*\}}")
_SHORT_FRAC_RE = re.compile(rf"{_SIGN}{_FRAC}\s*(\d)(\d)")  # \frac34
_MIXED_RE = re.compile(rf"{_SIGN}(\d+)\s+(\d+)\s*/\s*(\d+)")  # 1 1/2
_MIXED_FRAC_RE = re.compile(rf"{_SIGN}(\d+)\s*{_FRAC}\s*\{{(\d+)\}}\s*\{{(\d+)\}}")  # 2\frac{1}{2}
_WRAPPERS = (
    re.compile(r"\\(?:boxed|fbox)\s*\{(.*)\}"), re.compile(r"\$\$(.*)\$\$"), re.compile(r"\$(.*)\$"),
    re.compile(r"\\\((.*)\\\)"), re.compile(r"\\\[(.*)\\\]"), re.compile(r"\{(.*)\}"),
)
# a unit written in LaTeX (\text{ cm}^2) or a degree sign: dropped
_LATEX_UNIT_RE = re.compile(r"\\(?:text|textbf|textrm|mathrm|mbox|operatorname)\s*\{[^{}]*\}(?:\^\{?\d\}?)?|\^\{?\\circ\}?|°")
# unit words after the number ("18 dollars per hour", "5/hour", "3/4 of a pizza")
_UNIT_WORDS_RE = re.compile(r"(?<=[\d}.])\s*(?:(?:per|/)\s*)?[A-Za-z][A-Za-z\s.,'-]*\Z")
_SPACING = ("\\!", "\\,", "\\;", "\\:", "\\ ", "\\left", "\\right", "~", "\u202f", "\u2009")


def _decimal(text: str) -> Fraction:
    return Fraction(Decimal(text.replace(",", "")))


def _clean_answer(s: str) -> str:
    """An answer's text without its wrappers (``\\boxed{}``, ``$...$``), LaTeX spacing, currency
    and percent signs, units and a trailing period."""
    s = s.strip()
    for _ in range(4):  # nested wrappers: $\boxed{...}$
        before = s
        for rx in _WRAPPERS:
            m = rx.fullmatch(s)
            if m:
                s = m.group(1).strip()
        if s == before:
            break
    for sp in _SPACING:
        s = s.replace(sp, "")
    s = s.replace("{,}", ",").replace("\u2212", "-").replace("\u2013", "-").replace("\xa0", " ")
    s = _LATEX_UNIT_RE.sub("", s)
    s = s.replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "").strip()
    s = s.rstrip(".").strip()
    return _UNIT_WORDS_RE.sub("", s).strip().rstrip(".").strip()


def parse_number(s: str) -> Fraction | None:
    """The value of a whole GSM8K-style answer, or None when the whole is not one number:
    ``1,234.50``, ``$18``, ``25%``, ``3/4``, ``\\frac{3}{4}`` / ``\\dfrac`` / ``\\tfrac`` /
    ``\\frac34``, mixed numbers (``1 1/2``, ``2\\frac{1}{2}``), inside ``\\boxed{}`` or ``$...$``,
    with units (``18 dollars per hour``, ``12 \\text{ cm}^2``) and a trailing period dropped.
    No exponents: ``1e999999999`` is not read (nor is anything over ``MAX_ANSWER_CHARS``)."""
    if len(s) > MAX_ANSWER_CHARS:
        return None
    s = _clean_answer(s)
    try:
        if m := _PLAIN_RE.fullmatch(s):
            value = _decimal(m.group(2))
        elif m := (_SLASH_RE.fullmatch(s) or _LATEX_FRAC_RE.fullmatch(s) or _SHORT_FRAC_RE.fullmatch(s)):
            den = _decimal(m.group(3))
            if not den:
                return None
            value = _decimal(m.group(2)) / den
        elif m := (_MIXED_RE.fullmatch(s) or _MIXED_FRAC_RE.fullmatch(s)):
            den = _decimal(m.group(4))
            if not den:
                return None
            value = _decimal(m.group(2)) + _decimal(m.group(3)) / den
        else:
            return None
    except (InvalidOperation, ValueError, ZeroDivisionError):
        return None
    return -value if m.group(1) == "-" else value


def last_number(text: str) -> str | None:
    found = _NUMBER_RE.findall(text)
    return found[-1] if found else None


_STATED_RE = re.compile(r"answer is[:\s]*([^\n]*)", re.IGNORECASE)
_STATED_END = re.compile(r"[,;!?](?:\s|$)|\.(?:\s|$)")


def stated_answer(text: str) -> str | None:
    """What follows the last "answer is" on its line, up to the end of its sentence."""
    found = _STATED_RE.findall(text)
    if not found:
        return None
    s = found[-1]
    end = _STATED_END.search(s)
    s = (s[: end.start()] if end else s).strip()
    return s or None


def _whole_or_last(raw: str) -> str | None:
    """``raw`` itself when it parses as one number, else the last number written in it."""
    return raw.strip() if parse_number(raw) is not None else last_number(raw)


def extract_gsm8k_answer(text: str) -> str | None:
    """GSM8K final answer (flexible): the last ``#### x``, else the last "The answer is x", else
    the last ``\\boxed{x}``; each parsed as a whole (:func:`parse_number`), the last number inside
    it only where the whole does not parse; with none of them, the last number of the text."""
    hashed = _HASH_RE.findall(text)
    if hashed:
        got = _whole_or_last(hashed[-1])
        return got if got is not None else hashed[-1].strip()
    for raw in (stated_answer(text), last_boxed(text)):
        if raw:
            got = _whole_or_last(raw)
            if got is not None:
                return got
    return last_number(text)


# Large Language Monkeys' GSM8K rule (their ANS_RE_GSM8k and extract_answer_gsm8k): the FIRST
# "#### " followed by -?[$0-9.,]+; commas, dollar signs and one trailing period removed; the
# result compared with the gold's as a string.
STRICT_GSM8K_RE = re.compile(r"#### (\-?[\$0-9\.\,]+)")


def strict_gsm8k_answer(text: str) -> str | None:
    """The answer under the strict (Large Language Monkeys) rule, or None (their "[invalid]")."""
    m = STRICT_GSM8K_RE.search(text)
    if not m:
        return None
    s = m.group(1).strip().replace(",", "").replace("$", "")
    return re.sub(r"\.$", "", s)


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
