"""Small text helpers shared by the report's markdown and plots: percentages, numbers, markdown
tables and file-name slugs."""
from __future__ import annotations

import math
import re
from typing import Iterable, Sequence

DASH = "–"  # shown for a value that does not exist (no fit, no data)


def pct(x: float | None, digits: int = 1) -> str:
    """``0.1234`` -> ``"12.3"``; a missing or non-finite value -> ``"–"``."""
    return DASH if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f}"


def num(x: float | None, fmt: str = ".4g") -> str:
    """A number in ``fmt``; a missing or non-finite value -> ``"–"``."""
    return DASH if x is None or not math.isfinite(x) else format(x, fmt)


def md_table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    """A markdown table (first column left-aligned, the rest right-aligned) and a blank line."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if i else ":---" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines + [""]


def slug(name: str) -> str:
    """A run or selector name as a safe file-name part."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return s or "run"


def unique_slugs(names: Sequence[str]) -> list[str]:
    """One slug per name, ``_2``, ``_3`` appended where two names give the same slug."""
    seen: set[str] = set()
    out = []
    for name in names:
        base = s = slug(name)
        i = 2
        while s in seen:
            s, i = f"{base}_{i}", i + 1
        seen.add(s)
        out.append(s)
    return out
