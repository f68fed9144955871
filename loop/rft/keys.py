"""What makes two reasoning paths "the same": their calculations (math) or their program (code).

* Math: the list of equations (:func:`loop.rft.equations.extract_equations`), order kept,
  white space removed. ``3*5=15`` and ``5*3=15`` are different paths (RFT keys them so too).
* Code: the solution the oracle runs (:func:`verifiers.code.sanitize.sanitize`), parsed and
  dumped with docstrings dropped and the names of locals (parameters, assigned names, loop
  and comprehension variables, nested definitions) renamed in order of first appearance, so
  formatting, comments and local names do not matter; globals, attributes, called library
  names and the top-level function names stay.
"""
from __future__ import annotations

import ast
import json

from verifiers.code.sanitize import sanitize

from .equations import Equation, extract_equations


def equations_key(equations: list[Equation]) -> str:
    """The key of a math path: its equations' texts, in order (a JSON list)."""
    return json.dumps([e.text for e in equations], separators=(",", ":"))


def math_key(text: str) -> str:
    return equations_key(extract_equations(text))


class _Locals(ast.NodeTransformer):
    """Renames every function's local names to ``_0, _1, ...`` (first appearance first)."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, str]] = []

    def _local_names(self, fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
        args = fn.args
        names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
        names |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
        declared: set[str] = set()
        body = fn.body if isinstance(fn.body, list) else [fn.body]
        todo: list[ast.AST] = list(body)
        while todo:
            node = todo.pop()
            if isinstance(node, (ast.Global, ast.Nonlocal)):
                declared.update(node.names)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                names.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
                continue  # its own scope
            elif isinstance(node, ast.ExceptHandler) and node.name:
                names.add(node.name)
            elif isinstance(node, ast.alias) and not isinstance(node, str):
                names.add((node.asname or node.name).split(".")[0])
            elif isinstance(node, ast.Lambda):
                continue
            todo.extend(ast.iter_child_nodes(node))
        return names - declared

    def _rename(self, name: str) -> str:
        for scope in reversed(self.scopes):
            if name in scope:
                if not scope[name]:
                    scope[name] = f"_{sum(1 for v in scope.values() if v)}"
                return scope[name]
        return name

    def _enter(self, fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        self.scopes.append({n: "" for n in sorted(self._local_names(fn))})

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        if self.scopes:
            node.name = self._rename(node.name)
        node.decorator_list = [self.visit(d) for d in node.decorator_list]
        self._enter(node)
        node.body = _drop_docstring(node.body)
        node.args = self.visit(node.args)
        node.body = [self.visit(s) for s in node.body]
        node.returns = None
        self.scopes.pop()
        return node

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        self._enter(node)
        node.args = self.visit(node.args)
        node.body = self.visit(node.body)
        self.scopes.pop()
        return node

    def visit_arg(self, node: ast.arg) -> ast.AST:
        node.arg = self._rename(node.arg)
        node.annotation = None
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = self._rename(node.id)
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        if node.name:
            node.name = self._rename(node.name)
        self.generic_visit(node)
        return node

    def visit_alias(self, node: ast.alias) -> ast.AST:
        if self.scopes and node.asname:
            node.asname = self._rename(node.asname)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        node.annotation = ast.Constant(None)
        self.generic_visit(node)
        return node


def _drop_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        return body[1:] or [ast.Pass()]
    return body


def normalized_ast(code: str) -> str:
    """The program's AST with formatting, comments, docstrings, annotations and local names
    normalized away (``SyntaxError`` if it does not parse)."""
    tree = ast.parse(code)
    tree.body = _drop_docstring(tree.body)
    # comprehension variables are locals of their own scope in Python 3; renaming them like
    # function locals is close enough for keys (they never leak into the result)
    tree = _Comprehensions().visit(tree)
    tree = _Locals().visit(tree)
    return ast.dump(tree, annotate_fields=False, include_attributes=False)


class _Comprehensions(ast.NodeTransformer):
    """Renames comprehension targets to ``_c0, _c1, ...`` within each comprehension."""

    def __init__(self) -> None:
        self.count = 0

    def _visit_comp(self, node: ast.AST) -> ast.AST:
        names: dict[str, str] = {}
        for gen in node.generators:  # type: ignore[attr-defined]
            for n in ast.walk(gen.target):
                if isinstance(n, ast.Name) and n.id not in names:
                    names[n.id] = f"_c{len(names)}"
        self.generic_visit(node)
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and n.id in names:
                n.id = names[n.id]
        return node

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _visit_comp  # type: ignore[assignment]


def code_key(text: str, entry_point: str | None = None) -> str:
    """The key of a code answer: the normalized AST of the program the oracle runs (the raw
    sanitized text, white space removed, if it does not parse)."""
    code = sanitize(text, entry_point)
    try:
        return normalized_ast(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "unparsed:" + "".join(code.split())
