"""Extract the program from a model response, like EvalPlus' sanitizer (ast-based).

1. The code: the last fenced ```python (or bare ```) block that defines the entry point,
   else the last fenced block, else the whole text; when that does not parse, the longest run
   of consecutive lines that does.
2. What is kept: top-level imports, then the definitions (functions, classes, assignments)
   the entry point reaches through the names it uses; test code, prints and
   ``if __name__ == "__main__":`` blocks go.

Differences from EvalPlus (on purpose): functions without a ``return`` are kept (EvalPlus drops
them), and fenced blocks are preferred to the longest-parseable-lines scan.
"""
from __future__ import annotations

import ast
import re

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PY_LANGS = {"", "python", "py", "python3", "py3"}
_MAX_SCAN_LINES = 400


def fenced_blocks(text: str) -> list[str]:
    """Python (or unlabelled) fenced code blocks, in order."""
    return [m.group(2) for m in _FENCE.finditer(text) if m.group(1).lower() in _PY_LANGS]


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
        return True
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False


def _defines(code: str, name: str) -> bool:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return re.search(rf"^\s*def\s+{re.escape(name)}\s*\(", code, re.M) is not None
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
               and n.name == name for n in tree.body)


def longest_parseable(text: str) -> str:
    """The longest run of consecutive lines that parses (evalplus ``code_extract``)."""
    lines = text.split("\n")[:_MAX_SCAN_LINES]
    best, best_len = "", 0
    for i in range(len(lines)):
        if not lines[i].strip():
            continue
        for j in range(len(lines), i, -1):
            n = sum(1 for ln in lines[i:j] if ln.strip())
            if n <= best_len:
                break
            chunk = "\n".join(lines[i:j])
            if _parses(chunk):
                best, best_len = chunk, n
                break
    return best


def extract_code(text: str, entry_point: str | None = None) -> str:
    blocks = fenced_blocks(text)
    code = None
    if blocks:
        if entry_point:
            code = next((b for b in reversed(blocks) if _defines(b, entry_point)), None)
        if code is None:
            code = blocks[-1]
    else:
        code = text
    if not _parses(code):
        code = longest_parseable(code)
    return code


def _names_used(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.value.id for n in ast.walk(node)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
    }


def _defined_names(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    names = []
    for t in targets:
        names += [n.id for n in ast.walk(t) if isinstance(n, ast.Name)]
    return names


def sanitize(text: str, entry_point: str | None = None) -> str:
    """The program to run: imports plus the definitions the entry point needs ("" if none)."""
    code = extract_code(text, entry_point)
    if not code.strip():
        return ""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return code  # let the runner report the syntax error
    imports: list[ast.stmt] = []
    defs: list[tuple[list[str], ast.stmt]] = []
    seen: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(node)
            continue
        names = _defined_names(node)
        if not names or any(n in seen for n in names if not isinstance(node, ast.AugAssign)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                # a later redefinition replaces the earlier one (the last one wins at runtime)
                defs = [(ns, d) for ns, d in defs if node.name not in ns]
                defs.append((names, node))
            continue
        seen.update(names)
        defs.append((names, node))
    if entry_point is not None:
        deps: dict[str, set[str]] = {}
        for names, node in defs:
            for n in names:
                deps.setdefault(n, set()).update(_names_used(node))
        keep: set[str] = set()
        todo = [entry_point]
        while todo:
            n = todo.pop()
            if n in keep:
                continue
            keep.add(n)
            todo.extend(deps.get(n, ()))
        defs = [(ns, d) for ns, d in defs if any(n in keep for n in ns)]
    lines = code.split("\n")
    parts = [ast.get_source_segment(code, node) or "" for node in imports]
    for _, node in defs:
        start = node.lineno - 1
        if getattr(node, "decorator_list", None):
            start = min(d.lineno for d in node.decorator_list) - 1  # type: ignore[attr-defined]
        parts.append("\n".join(lines[start:node.end_lineno]))
    return "\n".join(p for p in parts if p).strip("\n") + "\n"
