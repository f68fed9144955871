"""The runner program is several files joined into one (``sandbox.runner.runner_source``): the
joining must keep each file's meaning, and the wire protocol must be spelled in one place.

Pure source analysis (``ast``) and one compile: nothing runs.
"""
from __future__ import annotations

import ast
from pathlib import Path

from sandbox.runner import RUNNER_FILES, Job, Limit, Msg, host_only, runner_source

SANDBOX = Path(__file__).resolve().parents[1] / "sandbox"
HOST_SIDE = Path(__file__).resolve().parents[1] / "verifiers" / "code" / "execution.py"


def tree(name: str) -> ast.Module:
    return ast.parse((SANDBOX / name).read_text(encoding="utf-8"))


def defined(module: ast.Module) -> set[str]:
    """The names a file binds at its top level in the joined program (its imports aside)."""
    names: set[str] = set()
    for node in module.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Try):  # ``try: X = ... except: X = ...``
            for sub in node.body + [s for h in node.handlers for s in h.body]:
                if isinstance(sub, ast.Assign):
                    names |= {n.id for t in sub.targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def test_every_runner_file_is_in_the_program():
    on_disk = {f"runner/{p.name}" for p in (SANDBOX / "runner").glob("*.py") if p.name != "__init__.py"}
    assert on_disk == set(RUNNER_FILES) - {"plain.py"}
    program = runner_source()
    compile(program, "<runner>", "exec")
    imports = [n for n in ast.walk(ast.parse(program)) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert not [n.lineno for n in imports if isinstance(n, ast.ImportFrom) and n.module
                and n.module.split(".")[0] in ("sandbox", "verifiers", "loop")]
    assert program.startswith("from __future__ import annotations\n")
    assert program.count("from __future__") == 1


def test_no_name_is_defined_by_two_files():
    """One namespace in the sandbox: a name two files define would silently be the later
    file's in the sandbox and each file's own on the host (plain's hardened ``_type_name`` was
    shadowed so by the runner's plainer one)."""
    owner: dict[str, str] = {}
    clashes = []
    for name in RUNNER_FILES:
        for defn in defined(tree(name)):
            if defn in owner and defn != "__all__":
                clashes.append(f"{defn}: {owner[defn]} and {name}")
            owner.setdefault(defn, name)
    assert clashes == []


def test_the_files_import_each_other_only_on_the_host():
    """In the sandbox there is no ``sandbox`` package: a project import must sit under
    ``if __name__ != "__main__":`` (the joined program has the names already)."""
    bad = []
    for name in RUNNER_FILES:
        module = tree(name)
        guarded = {id(n) for node in module.body if host_only(node) for n in ast.walk(node)}
        for node in ast.walk(module):
            mod = (node.module or "") if isinstance(node, ast.ImportFrom) else \
                " ".join(a.name for a in node.names) if isinstance(node, ast.Import) else None
            if mod and mod.split(".")[0] in ("sandbox", "verifiers", "loop") and id(node) not in guarded:
                bad.append(f"{name}:{node.lineno}: {mod}")
    assert bad == []


def test_the_wire_protocol_is_spelled_in_one_place():
    """A key of the job, of the limits or of a message is written as its constant
    (``Msg.STATUS``, never ``"s"``) on both sides: in the runner's files and in the host's."""
    keys = {v for ns in (Job, Limit, Msg) for k, v in vars(ns).items() if k.isupper()}
    files = [SANDBOX / name for name in RUNNER_FILES if name.startswith("runner/")
             and name != "runner/protocol.py"] + [HOST_SIDE]
    found = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            spots: list[ast.AST] = []
            if isinstance(node, ast.Dict):
                spots = [k for k in node.keys if k is not None]
            elif isinstance(node, ast.Subscript):
                spots = [node.slice]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                    node.func.attr in ("get", "pop") and node.args:
                spots = [node.args[0]]
            elif isinstance(node, ast.Compare):
                spots = [node.left, *node.comparators]
            for s in spots:
                if isinstance(s, ast.Constant) and s.value in keys:
                    found.append(f"{path.name}:{s.lineno}: {s.value!r}")
    assert found == []
