"""Parity with the official EvalPlus evaluator: the same candidates judged by both.

Candidates are deterministic AST mutants of canonical solutions of MBPP+ and HumanEval+
problems spread over the id range (special oracles, atol tasks, float/tuple/set outputs
included). The official evaluator is ``evalplus`` (:data:`OFFICIAL_VERSION`) in its own venv
(``make venv-evalplus`` -> ``.venv-evalplus``), pointed at a subset of our local dataset files
through its override variables (``MBPP_OVERRIDE_PATH``, ``HUMANEVAL_OVERRIDE_PATH``); ours is
``fireassay verify``. Each runs as its own process, at parallelism 2, timed from spawn to exit.

Used by tests/test_evalplus_parity.py (identical verdicts required, except
:data:`KNOWN_UPSTREAM_BUGS` and :data:`EXPECTED_TO_DIFFER`) and bench/evalplus_parity.py.
"""
from __future__ import annotations

import ast
import gzip
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

REPO = Path(__file__).resolve().parents[1]
OFFICIAL_VERSION = "0.3.1"
EVALPLUS_PYTHON = REPO / ".venv-evalplus" / "bin" / "python"
FILES = {"mbpp": "MbppPlus.jsonl.gz", "humaneval": "HumanEvalPlus.jsonl.gz"}
TASKS = {"mbpp": "mbppplus", "humaneval": "humanevalplus"}
OVERRIDE = {"mbpp": "MBPP_OVERRIDE_PATH", "humaneval": "HUMANEVAL_OVERRIDE_PATH"}

# Where the official evaluator is wrong and we are right: (dataset, entry point) -> the bug and
# its upstream fix. Verdicts there may differ (official: fail, ours: the true verdict).
KNOWN_UPSTREAM_BUGS: dict[tuple[str, str], str] = {
    ("humaneval", "find_zero"): (
        "evalplus 0.3.1 fails every HumanEval/32 candidate, the canonical solution included: "
        "its find_zero oracle `continue`s before counting the input as passed, so "
        "len(details) != len(inputs) turns PASS into FAIL. Fixed upstream after 0.3.1 by "
        "evalplus/evalplus PR #241 'fix bug for find_zero' (merged 2024-10-31), which sets "
        "details[i] = True and counts progress before the `continue`."),
}
# Mutant kinds whose verdicts differ on purpose until a named change lands: kind -> reason.
# (Empty: the 2 s "sleep" mutants differed until 14b made `--timing evalplus`, EvalPlus's
# wall-clock rule, the default of mbppplus/humanevalplus; they must agree now.)
EXPECTED_TO_DIFFER: dict[str, str] = {}

# canonical solutions that take over 0.5 s on all inputs (measured on 2 cores): left out to
# keep the check's CI time small (Mbpp/255 builds 1.1 GB answers; Mbpp/599 runs out of time)
SLOW = frozenset({
    "Mbpp/84", "Mbpp/123", "Mbpp/162", "Mbpp/255", "Mbpp/256", "Mbpp/271", "Mbpp/300",
    "Mbpp/389", "Mbpp/392", "Mbpp/453", "Mbpp/583", "Mbpp/589", "Mbpp/592", "Mbpp/599",
    "Mbpp/603", "Mbpp/630", "Mbpp/745", "HumanEval/15", "HumanEval/36", "HumanEval/59",
    "HumanEval/83", "HumanEval/94", "HumanEval/130", "HumanEval/139"})
# always in: special oracles, dataset atol, float outputs where EvalPlus' atol carry matters
MUST = {
    "mbpp": ("Mbpp/2", "Mbpp/82", "Mbpp/124", "Mbpp/164", "Mbpp/233", "Mbpp/295", "Mbpp/447",
             "Mbpp/470", "Mbpp/558", "Mbpp/581", "Mbpp/742", "Mbpp/754"),
    "humaneval": ("HumanEval/2", "HumanEval/4", "HumanEval/32", "HumanEval/34", "HumanEval/42",
                  "HumanEval/53", "HumanEval/62"),
}
MUST_ENTRIES = ("check_str", "text_match_three", "find_char_long", "Diff")
# where EvalPlus' atol carry decides (a list mixing ints and floats after, or before, the first
# all-float expected output of a suite): these always get a +1e-9 mutant
FORCED = {"HumanEval/34": ("eps_1e-9",), "HumanEval/42": ("eps_1e-9",),
          "HumanEval/62": ("eps_1e-9",), "Mbpp/447": ("eps_1e-9",), "Mbpp/470": ("eps_1e-9",),
          "Mbpp/754": ("eps_1e-9",)}
STRIDE = {"mbpp": 9, "humaneval": 8}


@dataclass(frozen=True)
class Mutant:
    dataset: str  # "mbpp" | "humaneval"
    task_id: str
    kind: str
    code: str


# -- candidates --------------------------------------------------------------------------------

def load_records(data_root: Path, dataset: str) -> list[dict[str, Any]]:
    with gzip.open(data_root / "evalplus" / FILES[dataset], "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def select_records(records: list[dict[str, Any]], dataset: str,
                   stride: int | None = None) -> list[dict[str, Any]]:
    """Every ``stride``-th problem over the id range, plus :data:`MUST`, minus :data:`SLOW`."""
    stride = stride or STRIDE[dataset]
    keep = {r["task_id"] for i, r in enumerate(records) if i % stride == 0}
    keep |= set(MUST[dataset]) | {r["task_id"] for r in records
                                  if r["entry_point"] in MUST_ENTRIES}
    return [r for r in records if r["task_id"] in keep and r["task_id"] not in SLOW]


def _entry_fn(tree: ast.Module, entry: str) -> ast.FunctionDef | None:
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == entry),
                None)


def _own_nodes(fn: ast.FunctionDef) -> Iterable[ast.AST]:
    """Nodes of ``fn``'s body, not of functions or lambdas nested in it."""
    stack: list[ast.AST] = list(fn.body)
    while stack:
        node = stack.pop(0)
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                stack.append(child)


def _args_tuple(fn: ast.FunctionDef) -> str:
    names = [a.arg for a in fn.args.posonlyargs + fn.args.args]
    return "(" + "".join(n + ", " for n in names) + ")"


def _guard(fn: ast.FunctionDef, cond: str, body: str) -> None:
    """Put ``if <cond>: <body>`` first in ``fn`` (after its docstring)."""
    stmt = ast.parse(f"if {cond}:\n" + "".join("    " + ln + "\n" for ln in body.splitlines()))
    at = 1 if (fn.body and isinstance(fn.body[0], ast.Expr)
               and isinstance(getattr(fn.body[0], "value", None), ast.Constant)
               and isinstance(fn.body[0].value.value, str)) else 0
    fn.body[at:at] = stmt.body


def _wrap_returns(fn: ast.FunctionDef, wrapper: str) -> bool:
    wrap = ast.parse(wrapper, mode="eval").body
    hit = False
    for node in _own_nodes(fn):
        if isinstance(node, ast.Return) and node.value is not None:
            node.value = ast.Call(func=wrap, args=[node.value], keywords=[])
            hit = True
    return hit


# outputs nudged by a float epsilon: floats, and floats inside a list/tuple
_NUDGE = ("lambda v: v + {e} if type(v) is float else "
          "type(v)(x + {e} if type(x) is float else x for x in v) "
          "if type(v) in (list, tuple) else v")
WRAPPERS = {
    "tuple_list": "lambda v: tuple(v) if type(v) is list else list(v) if type(v) is tuple else v",
    "round": "lambda v: round(v, 2) if type(v) is float else v",
    "eps_1e-7": _NUDGE.format(e="1e-7"),
    "eps_1e-9": _NUDGE.format(e="1e-9"),
    "numpy_scalar": ("lambda v: __import__('numpy').int64(v) if type(v) is int and "
                     "-2**62 < v < 2**62 else __import__('numpy').float64(v) "
                     "if type(v) is float else v"),
    "numpy_near": "lambda v: __import__('numpy').float64(v + 1e-12) if type(v) is float else v",
}
GUARDS = {
    # inputs are picked by the length of their repr: the same in both evaluators (a set's
    # repr has an order that hash randomisation changes, never a length)
    "raise": ("len(repr({args})) % 3 == 0", "raise ValueError('mutant')"),
    "none_empty": ("any(hasattr(a, '__len__') and len(a) == 0 for a in {args})", "return None"),
    "loop": ("len(repr({args})) % 4 == 1", "while True:\n    pass"),
    "sleep": ("not globals().setdefault('_fa_slept', [])",
              "globals()['_fa_slept'].append(1)\n__import__('time').sleep(2)"),
}
# every problem gets the canonical solution and ROTATION_PER_PROBLEM of these, in turn
ROTATION = ("off_by_one", "swap_cmp", "tuple_list", "eps_1e-7", "eps_1e-9", "raise",
            "none_empty", "round", "numpy_import", "numpy_scalar", "numpy_near")
ROTATION_PER_PROBLEM = 4
EXPENSIVE_EVERY = 6  # every 6th problem also gets a loop and a sleep mutant


def mutate(code: str, entry: str, kind: str) -> str | None:
    """The ``kind`` mutant of ``code`` (None when it does not apply or changes nothing)."""
    if kind == "canonical":
        return code
    if kind == "numpy_import":
        return "import numpy as np\n" + code
    tree = ast.parse(code)
    fn = _entry_fn(tree, entry)
    if fn is None:
        return None
    if kind == "off_by_one":
        node = next((n for n in _own_nodes(fn) if isinstance(n, ast.Constant)
                     and type(n.value) is int), None)
        if node is None:
            return None
        node.value += 1
    elif kind == "swap_cmp":
        swap = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
                ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
        node = next((n for n in _own_nodes(fn) if isinstance(n, ast.Compare)
                     and type(n.ops[0]) in swap), None)
        if node is None:
            return None
        node.ops[0] = swap[type(node.ops[0])]()
    elif kind in WRAPPERS:
        if not _wrap_returns(fn, WRAPPERS[kind]):
            return None
    elif kind in GUARDS:
        cond, body = GUARDS[kind]
        _guard(fn, cond.format(args=_args_tuple(fn)), body)
    else:
        raise ValueError(f"unknown mutant kind {kind!r}")
    out = ast.unparse(tree)
    return out if out != ast.unparse(ast.parse(code)) else None


def make_mutants(dataset: str, records: Sequence[dict[str, Any]]) -> list[Mutant]:
    """The canonical solution and rotating mutants of each record, deduplicated by code."""
    out: list[Mutant] = []
    for i, r in enumerate(records):
        code = r["prompt"] + r["canonical_solution"]
        kinds = ["canonical"]
        for j in range(len(ROTATION)):
            if len(kinds) > ROTATION_PER_PROBLEM:
                break
            kind = ROTATION[(i * ROTATION_PER_PROBLEM + j) % len(ROTATION)]
            if mutate(code, r["entry_point"], kind) is not None:
                kinds.append(kind)
        kinds += [k for k in FORCED.get(r["task_id"], ()) if k not in kinds]
        if i % EXPENSIVE_EVERY == 0:
            kinds += ["loop", "sleep"]
        seen: set[str] = set()
        for kind in kinds:
            m = mutate(code, r["entry_point"], kind)
            if m is not None and m not in seen:
                seen.add(m)
                out.append(Mutant(dataset, r["task_id"], kind, m))
    return out


# -- the two evaluators ------------------------------------------------------------------------

def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    return path


_OFFICIAL_DRIVER = (
    # the official evaluate() exactly as its CLI (fire) calls it; os._exit afterwards because
    # its non-daemon 'stucking checker' thread would hold the process up to 20 s more
    "import os, sys\n"
    "from evalplus.evaluate import evaluate\n"
    "evaluate(dataset=sys.argv[1], samples=sys.argv[2], parallel=int(sys.argv[3]))\n"
    "sys.stdout.flush(); sys.stderr.flush(); os._exit(0)\n")


def run_official(dataset: str, subset: Path, mutants: Sequence[Mutant], work: Path,
                 cache: Path, parallel: int = 2, timeout: float = 1200) -> tuple[list[bool], float]:
    """Official verdicts (base and plus pass) in ``mutants`` order, and the wall seconds."""
    if not EVALPLUS_PYTHON.exists():
        raise RuntimeError(f"{EVALPLUS_PYTHON} missing: run `make venv-evalplus`")
    work.mkdir(parents=True, exist_ok=True)
    samples = write_jsonl(work / f"official-{dataset}.jsonl",
                          ({"task_id": m.task_id, "solution": m.code} for m in mutants))
    env = {**os.environ, OVERRIDE[dataset]: str(subset), "XDG_CACHE_HOME": str(cache)}
    t0 = time.perf_counter()
    p = subprocess.run([str(EVALPLUS_PYTHON), "-c", _OFFICIAL_DRIVER, dataset, str(samples),
                        str(parallel)], cwd=work, env=env, capture_output=True, text=True,
                       timeout=timeout)
    wall = time.perf_counter() - t0
    result = samples.with_name(samples.stem + "_eval_results.json")
    if p.returncode != 0 or not result.exists():
        raise RuntimeError(f"official evaluate failed ({p.returncode}): {p.stderr[-2000:]}")
    evals = json.loads(result.read_text())["eval"]
    nth: Counter[str] = Counter()
    verdicts = []
    for m in mutants:
        r = evals[m.task_id][nth[m.task_id]]
        nth[m.task_id] += 1
        verdicts.append(r["base_status"] == "pass" and r["plus_status"] == "pass")
    return verdicts, wall


def run_ours(dataset: str, subset: Path, mutants: Sequence[Mutant], work: Path, cache: Path,
             extra: Sequence[str] = (), timeout: float = 1200) -> tuple[list[bool | None], float]:
    """fireassay's verdicts in ``mutants`` order (None: unjudged), and the wall seconds."""
    work.mkdir(parents=True, exist_ok=True)
    samples = write_jsonl(work / f"ours-{dataset}.jsonl", (
        {"problem_id": m.task_id, "sample_index": i, "text": f"```python\n{m.code}\n```"}
        for i, m in enumerate(mutants)))
    out = work / f"run-{dataset}"
    env = {**os.environ, "FIREASSAY_CACHE": str(cache)}
    cli = [sys.executable, "-m", "loop.cli"]
    t0 = time.perf_counter()
    p = subprocess.run([*cli, "verify", "--task", TASKS[dataset], "--data", str(subset),
                        "--samples", str(samples), "--out", str(out), "--selectors", "", *extra],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"fireassay verify failed ({p.returncode}): {p.stderr[-2000:]}")
    exported = work / f"export-{dataset}.jsonl"
    subprocess.run([*cli, "export", str(out), "--out", str(exported)], cwd=REPO, env=env,
                   check=True, capture_output=True, timeout=300)
    by_index = {}
    for line in exported.read_text().splitlines():
        row = json.loads(line)
        by_index[int(row["sample_index"])] = row["passed"]
    return [by_index[i] for i in range(len(mutants))], wall


# -- comparing ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Comparison:
    mutants: tuple[Mutant, ...]
    official: tuple[bool, ...]
    ours: tuple[bool | None, ...]

    def category(self, m: Mutant) -> str:
        entry = ENTRY_OF.get((m.dataset, m.task_id), "")
        if (m.dataset, entry) in KNOWN_UPSTREAM_BUGS:
            return "upstream_bug"
        if m.kind in EXPECTED_TO_DIFFER:
            return "expected_to_differ"
        return "must_agree"

    def rows(self) -> list[tuple[Mutant, bool, bool | None, str]]:
        return [(m, a, b, self.category(m)) for m, a, b in zip(self.mutants, self.official,
                                                                self.ours)]

    def disagreements(self, category: str = "must_agree") -> list[tuple[Mutant, bool, Any]]:
        return [(m, a, b) for m, a, b, c in self.rows() if c == category and a != b]

    def table(self) -> str:
        """Agreement per mutant kind and category, and the official pass counts."""
        lines = [f"{'kind':<14} {'category':<19} {'n':>4} {'agree':>6} {'off.pass':>8} "
                 f"{'our.pass':>8}"]
        keys = sorted({(m.kind, c) for m, _, _, c in self.rows()})
        for kind, cat in keys:
            sel = [(a, b) for m, a, b, c in self.rows() if m.kind == kind and c == cat]
            lines.append(f"{kind:<14} {cat:<19} {len(sel):>4} "
                         f"{sum(a == b for a, b in sel):>6} {sum(a for a, _ in sel):>8} "
                         f"{sum(b is True for _, b in sel):>8}")
        for cat in ("must_agree", "expected_to_differ", "upstream_bug"):
            sel = [(a, b) for _, a, b, c in self.rows() if c == cat]
            if sel:
                lines.append(f"{'TOTAL':<14} {cat:<19} {len(sel):>4} "
                             f"{sum(a == b for a, b in sel):>6}")
        return "\n".join(lines)


ENTRY_OF: dict[tuple[str, str], str] = {}


def build_set(data_root: Path, work: Path, stride: dict[str, int] | None = None
              ) -> dict[str, tuple[Path, list[Mutant]]]:
    """Per dataset: the subset file (the selected records, for both evaluators) and the
    mutants."""
    work.mkdir(parents=True, exist_ok=True)
    out = {}
    for dataset in ("mbpp", "humaneval"):
        recs = select_records(load_records(data_root, dataset), dataset,
                              (stride or {}).get(dataset))
        for r in recs:
            ENTRY_OF[(dataset, r["task_id"])] = r["entry_point"]
        subset = write_jsonl(work / f"subset-{dataset}.jsonl", recs)
        out[dataset] = (subset, make_mutants(dataset, recs))
    return out


def judge_both(sets: dict[str, tuple[Path, list[Mutant]]], work: Path, cache: Path,
               parallel: int = 2, log: Callable[[str], None] = print
               ) -> tuple[Comparison, dict[str, float]]:
    """Both evaluators on every dataset's set; the comparison and the wall seconds
    (``official``, ``ours``: summed over the datasets)."""
    muts: list[Mutant] = []
    off: list[bool] = []
    ours: list[bool | None] = []
    walls = {"official": 0.0, "ours": 0.0}
    for dataset, (subset, mutants) in sets.items():
        a, ta = run_official(dataset, subset, mutants, work / "official", cache / "official",
                             parallel)
        b, tb = run_ours(dataset, subset, mutants, work / "ours", cache / "ours")
        log(f"{dataset}: {len(mutants)} candidates, official {ta:.1f} s, fireassay {tb:.1f} s")
        muts += mutants
        off += a
        ours += b
        walls["official"] += ta
        walls["ours"] += tb
    return Comparison(tuple(muts), tuple(off), tuple(ours)), walls
