"""The house rules, checked on the source of the whole project (verifiers/, sandbox/, loop/):

- no import circle (imports inside functions and under ``TYPE_CHECKING`` count too: a circle
  dodged by a late import is still a circle);
- no private name (``_x``) imported from another module, no ``module._x`` read from another
  module, no private module (``pkg/_x.py``) imported from outside its package;
- imports flow one way: ``loop -> verifiers -> sandbox``, and inside ``loop``
  ``commands -> run -> report -> analysis -> tasks/samplers -> engines/store/progress``.

Pure source analysis (``ast``): nothing is imported or run.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("sandbox", "verifiers", "loop")  # in import order: each may import only those before it

# Inside loop/: the rank of each top-level part; a part imports only parts of a higher rank (or
# itself). A new part (loop/cluster, ...) must be given its place here.
LOOP_LAYERS = {
    "cli": 0, "commands": 0,  # argument parsing
    "run": 1, "rft": 1, "view": 1,  # doing a run; RFT export; the web viewer (reads store + analysis)
    "report": 2,  # presenting
    "cluster": 2,  # scale-out on Ray: node actors, engine replicas (only `run` imports it, only with --cluster)
    "analysis": 3,  # numbers
    "tasks": 4, "samplers": 4, "salvage": 4,  # the floor: datasets and prompts, sampling, reading damaged stores...
    "engines": 5, "store": 5, "progress": 5,  # ...models, the run store, progress bars
}

# Exceptions to the rules, as ("importer module", "imported module" or "module.name"): why.
# Keep it empty: a violation is fixed, not listed.
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    importer: str  # module doing the import
    target: str  # project module imported (a module, or a package's __init__)
    names: tuple[str, ...]  # names taken from it (``from target import a, b``), () for ``import``
    line: int


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_files() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            out[module_name(path)] = path
    return out


FILES = project_files()
MODULES = set(FILES)


def is_package(mod: str) -> bool:
    return FILES[mod].name == "__init__.py"


def resolve(importer: str, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not is_package(importer):
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def project_module(name: str) -> str | None:
    """The longest project module that ``name`` is or lies in."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        cand = ".".join(parts[:i])
        if cand in MODULES:
            return cand
    return None


def imports_of(mod: str) -> tuple[list[Import], dict[str, str], ast.Module]:
    """The project imports of ``mod`` and the local names bound to project modules."""
    tree = ast.parse(FILES[mod].read_text(encoding="utf-8"))
    found: list[Import] = []
    aliases: dict[str, str] = {}  # local name -> project module
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                target = project_module(a.name)
                if target is None:
                    continue
                found.append(Import(mod, target, (), node.lineno))
                if a.asname:
                    aliases[a.asname] = target
        elif isinstance(node, ast.ImportFrom):
            base = resolve(mod, node.module, node.level)
            if project_module(base) is None:
                continue
            plain = []
            for a in node.names:
                sub = f"{base}.{a.name}"
                if sub in MODULES:  # ``from pkg import module``
                    found.append(Import(mod, sub, (), node.lineno))
                    aliases[a.asname or a.name] = sub
                else:
                    plain.append(a.name)
            if plain:
                found.append(Import(mod, project_module(base) or base, tuple(plain), node.lineno))
    return found, aliases, tree


def all_imports() -> dict[str, tuple[list[Import], dict[str, str], ast.Module]]:
    return {mod: imports_of(mod) for mod in sorted(MODULES)}


IMPORTS = all_imports()


def allowed(importer: str, what: str) -> bool:
    return (importer, what) in ALLOWED


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module, or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan, recursive (the graph has a few hundred nodes)
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for mod, (found, _, _) in IMPORTS.items():
        for imp in found:
            if imp.target != mod and not allowed(mod, imp.target):
                graph[mod].add(imp.target)
    return graph


def private_uses() -> list[str]:
    bad = []
    for mod, (found, aliases, tree) in IMPORTS.items():
        for imp in found:
            if imp.target == mod:
                continue
            for name in imp.names:
                if private(name) and not allowed(mod, f"{imp.target}.{name}"):
                    bad.append(f"{FILES[mod].relative_to(ROOT)}:{imp.line}: imports {name} from {imp.target}")
            for part in imp.target.split(".")[1:]:
                pkg = imp.target.rsplit(".", 1)[0]
                if private(part) and not (mod == pkg or mod.startswith(pkg + ".")) and not allowed(mod, imp.target):
                    bad.append(f"{FILES[mod].relative_to(ROOT)}:{imp.line}: imports the private module {imp.target}")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and private(node.attr) and aliases[node.value.id] != mod):
                target = aliases[node.value.id]
                if not allowed(mod, f"{target}.{node.attr}"):
                    bad.append(f"{FILES[mod].relative_to(ROOT)}:{node.lineno}: reads {target}.{node.attr}")
    return bad


def layer_violations() -> list[str]:
    bad = []
    for mod, (found, _, _) in IMPORTS.items():
        top = mod.split(".")[0]
        for imp in found:
            other = imp.target.split(".")[0]
            where = f"{FILES[mod].relative_to(ROOT)}:{imp.line}"
            if allowed(mod, imp.target):
                continue
            if PACKAGES.index(other) > PACKAGES.index(top):
                bad.append(f"{where}: {top} imports {imp.target} (imports flow loop -> verifiers -> sandbox)")
            if top == "loop" and other == "loop":
                a, b = mod.split(".")[1:2], imp.target.split(".")[1:2]
                if not a or not b or a == b:
                    continue
                ra, rb = LOOP_LAYERS.get(a[0]), LOOP_LAYERS.get(b[0])
                if ra is None or rb is None:
                    bad.append(f"{where}: loop.{(a if ra is None else b)[0]} has no place in LOOP_LAYERS; give it one")
                elif ra >= rb:
                    bad.append(f"{where}: loop.{a[0]} (layer {ra}) imports {imp.target} (layer {rb}); "
                               "imports flow commands -> run -> report -> analysis -> the floor")
    return bad


def test_the_walk_sees_the_whole_project():
    assert {"sandbox.pool", "verifiers.registry", "loop.run.execute", "loop.report.plots"} <= MODULES
    targets = {imp.target for found, _, _ in IMPORTS.values() for imp in found}
    assert {"loop.analysis", "verifiers.base", "sandbox.registry"} <= targets
    assert len(MODULES) > 100


def test_no_import_circle():
    found = cycles(import_graph())
    assert not found, "import circles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_private_name_crosses_a_module():
    bad = private_uses()
    assert not bad, "private names used across modules (make them public or move them):\n" + "\n".join(bad)


def test_imports_flow_one_way():
    bad = layer_violations()
    assert not bad, "\n".join(bad)


def test_the_checks_catch_what_they_are_for():
    """The walk's own logic on hand-made graphs and names (the rules above rest on it)."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    assert private("_finish") and not private("__version__") and not private("finish")
    assert resolve("loop.run.execute", "analysis", 2) == "loop.analysis"
    assert resolve("loop.run", "config", 1) == "loop.run.config"
    assert project_module("loop.report.text.pct") == "loop.report.text"


def third_party_imports(mod: str) -> set[str]:
    tree = IMPORTS[mod][2]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out - set(PACKAGES)


def test_analysis_is_numbers_only():
    """loop.analysis computes; drawing and terminal output belong to loop.report and the CLI."""
    bad = {mod: sorted(third_party_imports(mod) & {"matplotlib", "rich", "typer"})
           for mod in MODULES if mod.startswith("loop.analysis")}
    assert not {m: b for m, b in bad.items() if b}


def test_no_module_over_500_lines_in_loop():
    long = {mod: n for mod in MODULES if mod.startswith("loop")
            if (n := len(FILES[mod].read_text(encoding="utf-8").splitlines())) > 500}
    assert not long, f"split these (one idea per module): {long}"
