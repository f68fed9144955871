"""The ``public_tests`` selector/feedback verifier: only the tests the prompt shows.

A public test is one ``assert`` statement naming the entry point (MBPP+'s ``assertion`` field;
HumanEval docstring examples, turned into asserts by :func:`doctest_public_tests`). The tasks
put them in ``Problem.meta["public_tests"]``; they are prompt-visible, so nothing hidden is
ever run or shown. Each test is split on the host into the calls of the entry point (whose
arguments are dataset literals) and the surrounding check: the calls run in the sandbox like
any other input, and the check is evaluated on the host with the returned plain values in
place of the calls. Score = share of public tests passed; feedback names each failing test
with what the code returned, or its error and the tail of its traceback.
"""
from __future__ import annotations

import ast
import builtins
import math
import re
import sys
import types
from dataclasses import dataclass
from typing import Any, Sequence

from sandbox.plain import encode

from ..base import Verifier
from ..types import Candidate, Problem, Verdict
from .execution import CallGroup, CodeLimits, ProgramResult
from .executors import LazyExecutor, RunnerExecutor
from .sanitize import sanitize

_SAFE_BUILTINS = {n: getattr(builtins, n) for n in (
    "abs", "all", "any", "bool", "dict", "float", "frozenset", "int", "isinstance", "len", "list",
    "max", "min", "round", "set", "sorted", "str", "sum", "tuple", "type", "range", "reversed",
    "zip", "complex", "enumerate", "map", "repr")}
_TB_CHARS = 1200
# names the datasets' tests use besides builtins (Mbpp/596 compares with sys.getsizeof)
_TEST_NAMES = {"math": math, "sys": types.SimpleNamespace(getsizeof=sys.getsizeof,
                                                         maxsize=sys.maxsize)}


@dataclass(frozen=True)
class PublicTest:
    source: str  # the assert statement as shown in the prompt
    calls: tuple[tuple[Any, ...], ...]  # positional arguments of each entry-point call
    check: ast.Expression  # the assert's test with calls replaced by names __out0__, ...


def _eval_args(node: ast.Call) -> tuple[Any, ...] | None:
    if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
        return None
    out = []
    for a in node.args:
        try:
            out.append(ast.literal_eval(a))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            try:  # dataset text (trusted), e.g. math.pi or [1]*3
                out.append(eval(compile(ast.Expression(a), "<test>", "eval"),
                                {"__builtins__": _SAFE_BUILTINS, **_TEST_NAMES}))
            except Exception:  # noqa: BLE001 - a test the parser cannot evaluate is not used
                return None
    return tuple(out)


def parse_public_test(source: str, entry_point: str) -> PublicTest | None:
    """Split an ``assert`` into entry-point calls and a host-side check (None: unusable)."""
    try:
        tree = ast.parse(source.strip())
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    test = tree.body[0].test
    calls: list[tuple[Any, ...]] = []

    class Swap(ast.NodeTransformer):
        bad = False

        def visit_Call(self, node: ast.Call) -> ast.AST:
            if isinstance(node.func, ast.Name) and node.func.id == entry_point:
                if any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                       and n.func.id == entry_point for a in node.args for n in ast.walk(a)):
                    self.bad = True
                    return node
                args = _eval_args(node)
                if args is None:
                    self.bad = True
                    return node
                calls.append(args)
                return ast.copy_location(ast.Name(id=f"__out{len(calls) - 1}__", ctx=ast.Load()),
                                         node)
            self.generic_visit(node)
            return node

    swap = Swap()
    new = swap.visit(test)
    if swap.bad or not calls:
        return None
    expr = ast.fix_missing_locations(ast.Expression(new))
    return PublicTest(source.strip(), tuple(calls), expr)


def mbpp_public_tests(assertion: str) -> list[str]:
    """The ``assert`` lines of MBPP+'s ``assertion`` field."""
    return [ln.strip() for ln in assertion.splitlines() if ln.strip().startswith("assert")]


_ARROW = re.compile(r"^\s*(?P<call>[A-Za-z_]\w*\(.*\))\s*(?:==|➞|=>|->|returns|should return)"
                    r"\s*(?P<want>.+?)\s*$")


def _is_literal(text: str) -> bool:
    try:
        ast.literal_eval(text)
        return True
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def doctest_public_tests(prompt: str, entry_point: str) -> list[str]:
    """Asserts from the examples in a HumanEval prompt: ``>>> expr`` followed by its output,
    and lines like ``f(x) == y`` / ``f(x) ➞ y``. Examples that do not parse are left out."""
    lines = prompt.splitlines()
    tests: list[str] = []
    i = 0
    while i < len(lines):
        s = lines[i].strip()
        if s.startswith(">>>"):
            expr = s[3:].strip()
            want: list[str] = []
            j = i + 1
            while j < len(lines) and lines[j].strip() and not lines[j].strip().startswith(">>>") \
                    and '"""' not in lines[j] and "'''" not in lines[j]:
                want.append(lines[j].strip())
                j += 1
            i = j
            if expr and want and not expr.startswith("print("):
                for cand in (" ".join(want), want[0]):  # doctest output may run on
                    if _is_literal(cand):
                        tests.append(f"assert {expr} == {cand}")
                        break
            continue
        m = _ARROW.match(s)
        if m and m.group("call").startswith(entry_point + "("):
            tests.append(f"assert {m.group('call')} == {m.group('want').rstrip('.,;')}")
        i += 1
    good = []
    for t in tests:
        try:
            tree = ast.parse(t)
            ast.literal_eval(tree.body[0].test.comparators[0])  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - not a literal assertion: not a usable public test
            continue
        if parse_public_test(t, entry_point) is not None:
            good.append(t)
    return list(dict.fromkeys(good))


class PublicTests(Verifier):
    """Runs only the prompt-visible tests; feedback a model can act on, nothing hidden."""

    name = "public_tests"
    uses_reference = False
    subset_rule = "argmax"

    def __init__(self, backend: str = "docker", pool_size: int | None = None,
                 sandbox_config: Any = None, limits: CodeLimits | None = None,
                 executor: RunnerExecutor | None = None, allow_unsafe: bool = False) -> None:
        self.limits = limits or CodeLimits()
        self._executor = LazyExecutor.of(executor, backend, pool_size, sandbox_config, allow_unsafe)

    def close(self) -> None:
        self._executor.close()

    def verify(self, problem: Problem, candidates: Sequence[Candidate]) -> list[Verdict]:
        return self.verify_many([(problem, candidates)])[0]

    def verify_many(self, items: Sequence[tuple[Problem, Sequence[Candidate]]]
                    ) -> list[list[Verdict]]:
        plans = []
        groups = []
        for p, cands in items:
            entry = p.meta.get("entry_point") if p.meta else None
            if not entry:
                raise ValueError(f"problem {p.id!r} has no meta['entry_point']; public_tests "
                                 "works with the mbppplus and humanevalplus tasks")
            tests = [t for t in (parse_public_test(s, entry)
                                 for s in p.meta.get("public_tests", ())) if t is not None]
            calls = [c for t in tests for c in t.calls]
            codes = [sanitize(c.text, entry) for c in cands]
            unique = sorted({c for c in codes if c.strip()})
            plans.append((p, entry, tests, codes))
            if unique:
                tl = (self.limits.public_test_time_limit,) * len(calls)
                groups.append(CallGroup(entry, tuple(encode(list(a)) for a in calls), tl,
                                        tuple((_pid(p.id, c), c) for c in unique),
                                        budget_s=sum(tl) + 2.0, stop_on_error=False))
        results = self._executor.get().run(groups, self.limits) if groups else {}
        return [[_judge_safely(entry, tests, code, results.get(_pid(p.id, code)))
                 for code in codes] for p, entry, tests, codes in plans]


def _pid(problem_id: str, code: str) -> str:
    import hashlib

    return f"{problem_id}#{hashlib.sha256(code.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"


def _tb_tail(tb: str) -> str:
    lines = tb.splitlines()
    for k, ln in enumerate(lines):  # drop the runner's own frames
        if 'File "<candidate>"' in ln:
            lines = ["Traceback (most recent call last):"] + lines[k:]
            break
    return "\n".join(lines)[-_TB_CHARS:]


def _judge_safely(entry: str, tests: Sequence[PublicTest], code: str,
                  res: ProgramResult | None) -> Verdict:
    """:func:`_judge`, where any error judging one program fails that program only."""
    try:
        return _judge(entry, tests, code, res)
    except Exception as exc:  # noqa: BLE001 - hostile output must not stop the run
        return Verdict(0.0, False, None, "The program's results could not be read.",
                       {"public_tests": len(tests), "public_passed": 0, "error_kind": "garbled",
                        "message": type(exc).__name__})


def _judge(entry: str, tests: Sequence[PublicTest], code: str,
           res: ProgramResult | None) -> Verdict:
    total = len(tests)
    if not code.strip():
        return Verdict(0.0, False, None, "No Python code was found in the response; answer "
                       "with the complete function in a ```python code block.",
                       {"public_tests": total, "public_passed": 0, "error_kind": "no_code"})
    if res is not None and res.unjudged:
        return Verdict.unjudged(res.unjudged)
    if res is None or res.lost:
        return Verdict(0.0, False, None, "Running the code crashed the test harness.",
                       {"public_tests": total, "public_passed": 0, "error_kind": "runner_lost"})
    if res.load_error is not None:
        le = res.load_error
        fb = f"The code could not be loaded: {le['kind']}: {le['message']}"
        if le.get("traceback"):
            fb += "\n" + _tb_tail(le["traceback"])
        return Verdict(0.0, False, None, fb, {"public_tests": total, "public_passed": 0,
                                              "error_kind": f"load:{le['kind']}"})
    if total == 0:
        return Verdict(1.0, True, None, "", {"public_tests": 0, "public_passed": 0})
    passed = 0
    notes: list[str] = []
    k = 0
    for t in tests:
        outs = res.outcomes[k:k + len(t.calls)]
        k += len(t.calls)
        bad = next((o for o in outs if not o.ok), None)
        if bad is not None:
            if bad.status == "timeout":
                notes.append(f"- `{t.source}`: timed out after "
                             f"{bad.seconds:.1f}s")
            elif bad.status == "error":
                notes.append(f"- `{t.source}`: raised {bad.error_kind}: {bad.message}\n"
                             + _tb_tail(bad.traceback))
            else:
                notes.append(f"- `{t.source}`: the program {bad.status}ed"
                             + (f" ({bad.message})" if bad.message else ""))
            continue
        env = {"__builtins__": _SAFE_BUILTINS, **_TEST_NAMES}
        env.update({f"__out{j}__": o.value for j, o in enumerate(outs)})
        try:
            ok = bool(eval(compile(t.check, "<public test>", "eval"), env))
        except Exception as e:  # noqa: BLE001 - the candidate's value may make the check raise anything
            ok = False
            got = ", ".join(_short(o.value) for o in outs)
            notes.append(f"- `{t.source}`: failed ({type(e).__name__}); {entry} returned {got}")
        else:
            if not ok:
                got = ", ".join(_short(o.value) for o in outs)
                notes.append(f"- `{t.source}`: failed; {entry} returned {got}")
        passed += ok
    score = passed / total
    feedback = "" if passed == total else (
        f"The code passed {passed} of {total} tests shown in the task:\n" + "\n".join(notes))
    return Verdict(score, passed == total, None, feedback,
                   {"public_tests": total, "public_passed": passed})


def _short(value: Any, limit: int = 300) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - e.g. an int over Python's digit limit
        text = f"<{type(value).__name__} that cannot be printed>"
    return text if len(text) <= limit else text[:limit] + "..."
