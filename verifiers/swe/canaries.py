"""Canary tests: tests that must fail, injected by the judge into the test files it runs.

Code under test runs inside the pytest process, so it can rewrite how outcomes are reported.
A canary is the judge's out-of-process check on that: a test that fails whatever the patch
does, hidden among the real ones. Its name is made of the words of the real test names in the
same file, it sits at a random place among them (a method where they are methods), and its
body is a plain failing assertion of the same shape as theirs; only the host knows which tests
are canaries. A canary reported as passing, or missing while the tests of its file ran, means
outcomes were forged: the patch is unresolved with ``error_kind="tampering"``.
"""
from __future__ import annotations

import ast
import random
import re
from dataclasses import dataclass
from typing import Mapping

from .results import PASSING

PER_FILE = 2  # canaries per test file
MAX_FILES = 4  # files that get canaries (the first ones the test command runs)
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
FILLER_WORDS = ("value", "result", "case", "basic", "empty", "simple", "default", "error", "edge",
           "input", "output", "check", "small", "large", "mixed", "single", "many")


@dataclass(frozen=True)
class Canary:
    path: str  # the test file, relative to the repository root
    cls: str | None  # the class it is a method of, or None (a module-level function)
    name: str

    def matches(self, test_id: str) -> bool:
        """Whether ``test_id`` (a pytest node id, or a runner's log id) names this canary."""
        parts = test_id.split("::")
        if len(parts) >= 2:
            tail = parts[1:]
            want = [self.cls, self.name] if self.cls else [self.name]
            return [p.split("[")[0] for p in tail] == want and (
                self.path.endswith(parts[0]) or parts[0].endswith(self.path))
        first = test_id.split(" ")[0].split("[")[0]  # django "name (mod.Class)", sympy "name"
        return first == self.name


def _test_defs(tree: ast.Module) -> list[tuple[ast.AST, str | None, int]]:
    """(def node, class name or None, the line it starts at: its first decorator) for the
    test functions at the top level and the test methods of top-level classes."""
    found = []
    defs = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in tree.body:
        if isinstance(node, defs) and node.name.startswith("test"):
            found.append((node, None, _first_line(node)))
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, defs) and sub.name.startswith("test"):
                    found.append((sub, node.name, _first_line(sub)))
    return found


def _first_line(node: ast.AST) -> int:
    decos = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decos])  # type: ignore[attr-defined]


def _name(rng: random.Random, names: list[str], taken: set[str]) -> str:
    """A test name made of the words of the file's own test names (and a few common ones)."""
    words = [w.lower() for n in names for w in _WORD.findall(n[4:])] or list(FILLER_WORDS)
    camel = sum(1 for n in names if re.match(r"test[A-Z]", n)) > len(names) / 2
    sizes = [max(1, min(4, len(_WORD.findall(n[4:])))) for n in names] or [2]
    for _ in range(100):
        k = rng.choice(sizes)
        pick = [rng.choice(words if rng.random() < 0.85 else FILLER_WORDS) for _ in range(k)]
        name = ("test" + "".join(w.capitalize() for w in pick)) if camel \
            else "test_" + "_".join(pick)
        if name not in taken and not any(t.startswith(name + "_") for t in taken):
            return name
    return f"test_{rng.choice(words)}_{rng.randrange(10**6)}"


def _body(rng: random.Random, words: list[str]) -> list[str]:
    """Two lines of a plain assertion that fails, chosen at random."""
    a, b = rng.randrange(2, 90), rng.randrange(2, 90)
    w = rng.choice(words or list(FILLER_WORDS))
    shapes = [
        [f"total = {a} + {b}", f"assert total == {a + b + rng.choice([-2, -1, 1, 3])}"],
        [f"items = [{a}, {b}, {a + b}]", f"assert sorted(items) == [{a + b}, {a}, {b}]"],
        [f"text = {w!r}", f"assert text.upper() == {w.lower() + 'x'!r}"],
        [f"parts = {w!r}.split('_')", f"assert len(parts) == {len(w.split('_')) + 1}"],
    ]
    return rng.choice(shapes)


def inject(path: str, text: str, rng: random.Random,
           per_file: int = PER_FILE) -> tuple[str, list[Canary]]:
    """``text`` with canaries inserted before randomly chosen tests (a file that does not
    parse, or holds no tests, comes back unchanged)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return text, []
    defs = _test_defs(tree)
    if not defs:
        return text, []
    lines = text.splitlines(keepends=True)
    taken = {n.name for n, _, _ in defs}  # type: ignore[attr-defined]
    words = [w.lower() for t in taken for w in _WORD.findall(t[4:])]
    inserts: dict[int, list[str]] = {}
    canaries: list[Canary] = []
    for _ in range(per_file):
        node, cls, start = rng.choice(defs)
        same = [n.name for n, c, _ in defs if c == cls]  # type: ignore[attr-defined]
        name = _name(rng, same, taken)
        taken.add(name)
        line = lines[start - 1] if start - 1 < len(lines) else ""
        indent = line[:len(line) - len(line.lstrip())]
        args = "self" if cls is not None else ""
        block = [f"{indent}def {name}({args}):\n"]
        block += [f"{indent}    {stmt}\n" for stmt in _body(rng, words)]
        block.append("\n")
        inserts.setdefault(start, []).extend(block)
        canaries.append(Canary(path, cls, name))
    out = []
    for no, ln in enumerate(lines, 1):
        out.extend(inserts.get(no, []))
        out.append(ln)
    new = "".join(out)
    try:  # the file must still parse, with every canary where it was meant to be
        names = {(c, n.name) for n, c, _ in _test_defs(ast.parse(new))}  # type: ignore[attr-defined]
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return text, []
    if not all((c.cls, c.name) in names for c in canaries):
        return text, []
    return new, canaries


def inject_all(files: Mapping[str, bytes], seed: int | None = None,
               ) -> tuple[dict[str, bytes], list[Canary]]:
    """Canaries for up to :data:`MAX_FILES` Python test files: the new contents of the files
    that got some, and the canaries."""
    rng = random.Random(seed)
    changed: dict[str, bytes] = {}
    canaries: list[Canary] = []
    for path, data in list(files.items())[:MAX_FILES]:
        if not path.endswith(".py"):
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        new, got = inject(path, text, rng)
        if got:
            changed[path] = new.encode("utf-8")
            canaries += got
    return changed, canaries


def check(canaries: list[Canary], outcomes: Mapping[str, str],
          collected: tuple[str, ...] | None) -> list[str]:
    """Reasons to call the run tampered with: a canary reported as passing, or a canary
    missing while other tests of its file have results."""
    problems = []
    for c in canaries:
        ids = [t for t in outcomes if c.matches(t)]
        if any(outcomes[t] in PASSING for t in ids):
            problems.append(f"a test that must fail was reported as passing ({c.name})")
        elif not ids and any(_in_file(t, c.path) for t in outcomes):
            problems.append(f"a test that must run has no result while its file ran ({c.name})")
    return problems


def strip(canaries: list[Canary], ids: "list[str] | tuple[str, ...]") -> list[str]:
    """``ids`` without the canaries'."""
    return [t for t in ids if not any(c.matches(t) for c in canaries)]


def _in_file(test_id: str, path: str) -> bool:
    head = test_id.split("::")[0]
    return "::" in test_id and (path.endswith(head) or head.endswith(path))
