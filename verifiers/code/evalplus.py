"""The ``evalplus`` oracle: MBPP+ / HumanEval+ candidates judged on base and plus inputs.

``Problem.reference`` (built by the tasks with :func:`make_reference`) holds the entry point,
the tagged inputs, ``atol``, the reference code and the dataset's cache key. Candidates are
sanitized, deduplicated per problem, run in batches over the sandbox pool, and their plain
outputs compared on the host with :func:`verifiers.code.compare.check_output`.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import replace
from typing import Any, Literal, Mapping, Sequence

from sandbox.plain import decode, encode

from ..base import Verifier
from ..types import Candidate, Problem, Verdict
from .compare import carried_atols, check_output, expected_transform, tagged_match_passes, uses_input
from .execution import CallGroup, CodeLimits, ProgramResult, check_timing
from .executors import LazyExecutor, RunnerExecutor
from .expected import Expected, ExpectedStore
from .sanitize import sanitize

Tests = Literal["all", "base"]
# per input of a problem: decoded input, decoded expected output, whether a tagged match
# passes, the atol EvalPlus carries into its comparison
Decoded = tuple[list[Any], list[Any], list[bool], list[float]]


def make_reference(*, dataset: str, entry_point: str, base_input: Sequence[Sequence[Any]],
                   plus_input: Sequence[Sequence[Any]], atol: float, reference_code: str,
                   cache_key: str) -> dict[str, Any]:
    """The ``Problem.reference`` the code oracle reads. Inputs are Python values (tuples,
    sets, complex restored); they are stored tagged, so the reference is JSON-safe."""
    if dataset not in ("mbpp", "humaneval"):
        raise ValueError(f"dataset must be 'mbpp' or 'humaneval', not {dataset!r}")
    return {"dataset": dataset, "entry_point": entry_point, "atol": float(atol or 0),
            "base_input": [encode(list(a)) for a in base_input],
            "plus_input": [encode(list(a)) for a in plus_input],
            "reference_code": reference_code, "cache_key": cache_key}


class EvalPlusOracle(Verifier):
    """passed = every base and plus input passes (``tests="base"``: base inputs only).

    ``timing`` (:data:`verifiers.code.execution.TIMINGS`): ``"evalplus"`` (the default,
    EvalPlus's wall-clock rule) or ``"cpu"``; it decides ``limits.timing``. A verdict judged
    on the program's outputs names the rule in its details (``details["timing"]``)."""

    name = "evalplus"
    uses_reference = True

    def __init__(self, tests: Tests = "all", backend: str = "docker",
                 pool_size: int | None = None, sandbox_config: Any = None,
                 limits: CodeLimits | None = None, cache_dir: str | None = None,
                 executor: RunnerExecutor | None = None, allow_unsafe: bool = False,
                 progress: bool = False, timing: str = "evalplus") -> None:
        self.check_values({"tests": tests, "timing": timing})
        self.tests = tests
        self.timing = timing
        self.limits = replace(limits or CodeLimits(), timing=self.timing)
        self.store = ExpectedStore(cache_dir)
        self.progress = progress
        self._executor = LazyExecutor.of(executor, backend, pool_size, sandbox_config, allow_unsafe)
        # problem id -> (its Expected, then per input: decoded input, decoded expected output,
        # whether a tagged match passes, the atol EvalPlus carries into it): decoding is the
        # host's biggest cost per batch, so it is done once per problem, not per call
        self._decoded: OrderedDict[str, tuple[Expected, Decoded]] = OrderedDict()

    DECODED_PROBLEMS = 1024  # most problems whose decoded inputs and outputs are kept

    def _decoded_for(self, pid: str, ref: Mapping[str, Any], exp: Expected) -> Decoded:
        hit = self._decoded.get(pid)
        if hit is not None and hit[0] is exp:
            self._decoded.move_to_end(pid)
            return hit[1]
        raw = list(ref["base_input"]) + list(ref["plus_input"])
        dataset, entry = ref["dataset"], ref["entry_point"]
        # decoded only where a special oracle reads them
        inputs = [decode(a) for a in raw] if uses_input(dataset, entry) else [()] * len(raw)
        wanted = [expected_transform(dataset, entry, decode(v)) for v in exp.outputs]
        fast = [tagged_match_passes(dataset, entry, v) for v in exp.outputs]
        atols = carried_atols(dataset, entry, float(ref["atol"]), wanted, exp.n_base)
        data = (inputs, wanted, fast, atols)
        self._decoded[pid] = (exp, data)
        while len(self._decoded) > self.DECODED_PROBLEMS:
            self._decoded.popitem(last=False)
        return data

    @classmethod
    def check_values(cls, options: Mapping[str, Any]) -> None:
        tests = options.get("tests", "all")
        if tests not in ("all", "base"):
            raise ValueError(f"tests={tests!r}: use 'all' (base + plus inputs) or 'base'")
        check_timing(options.get("timing", "evalplus"))

    def judging_rules(self) -> dict[str, str]:
        return {"timing": self.timing}

    def prepare(self) -> None:
        self._executor.start()  # the pool's containers start while the caller stores its input

    def close(self) -> None:
        self._executor.close()

    def verify(self, problem: Problem, candidates: Sequence[Candidate]) -> list[Verdict]:
        return self.verify_many([(problem, candidates)])[0]

    def verify_many(self, items: Sequence[tuple[Problem, Sequence[Candidate]]]
                    ) -> list[list[Verdict]]:
        executor = self._executor.get()
        refs: dict[str, Mapping[str, Any]] = {}
        for p, _ in items:
            _check_reference(p)
            refs[p.id] = p.reference
        expected = self.store.ensure(list(refs.items()), executor, self.limits, self.progress)

        # one group per problem; identical programs run once
        groups: list[CallGroup] = []
        code_of: list[list[str]] = []
        for p, cands in items:
            ref = refs[p.id]
            codes = [sanitize(c.text, ref["entry_point"]) for c in cands]
            code_of.append(codes)
            exp = expected[p.id]
            if not exp.ok:
                continue
            n = exp.n_base if self.tests == "base" else len(exp.outputs)
            inputs = (list(ref["base_input"]) + list(ref["plus_input"]))[:n]
            times = exp.times_for(self.timing)[:n]
            tl = self.limits.time_limits(times)
            unique = sorted({c for c in codes if c.strip()})
            if unique and n:
                groups.append(CallGroup(
                    ref["entry_point"], tuple(inputs), tuple(tl),
                    tuple((_pid(p.id, c), c) for c in unique), self.limits.budget(tl),
                    cost_s=float(sum(times)),
                    budget_parts=self.limits.budget_parts(tl, exp.n_base)))
        results = executor.run(groups, self.limits, progress=self.progress) if groups else {}

        verdicts: list[list[Verdict]] = []
        for (p, _cands), codes in zip(items, code_of):
            exp = expected[p.id]
            data = self._decoded_for(p.id, refs[p.id], exp) \
                if exp.ok and any(c.strip() for c in codes) else None
            out = []
            for code in codes:
                if not exp.ok:
                    out.append(Verdict.unjudged("the reference solution fails: "
                                                + "; ".join(exp.errors[:3])))
                elif not code.strip():
                    out.append(_failed({"error_kind": "no_code", "base_passed": False,
                                        "plus_passed": False if self.tests == "all" else None}))
                else:
                    out.append(self._judge_safely(refs[p.id], exp, data,
                                                  results.get(_pid(p.id, code))))
            verdicts.append(out)
        return verdicts

    def _judge_safely(self, ref: Mapping[str, Any], exp: Expected, data: Decoded | None,
                      res: ProgramResult | None) -> Verdict:
        """:meth:`_judge`, where any error judging one program fails that program only."""
        plus_na = None if self.tests == "base" else False
        if res is None or data is None:
            return _failed({"error_kind": "runner_lost", "base_passed": False,
                            "plus_passed": plus_na, "message": "no result came back"})
        try:
            return self._judge(ref, exp, data, res)
        except Exception as exc:  # noqa: BLE001 - hostile output must not stop the run
            return _failed({"error_kind": "garbled", "base_passed": False,
                            "plus_passed": plus_na,
                            "message": f"its result could not be judged ({type(exc).__name__})"})

    def _judge(self, ref: Mapping[str, Any], exp: Expected, data: Decoded,
               res: ProgramResult) -> Verdict:
        dataset, entry = ref["dataset"], ref["entry_point"]
        n_base = exp.n_base
        n = n_base if self.tests == "base" else len(exp.outputs)
        plus_na = None if self.tests == "base" else False
        if res.unjudged:
            return Verdict.unjudged(res.unjudged)
        if res.lost:
            return _failed({"error_kind": "runner_lost", "base_passed": False,
                            "plus_passed": plus_na,
                            "message": "the code killed or corrupted the runner"})
        if res.load_error is not None:
            return _failed({"error_kind": f"load:{res.load_error['kind']}",
                            "message": res.load_error["message"][:300],
                            "base_passed": False, "plus_passed": plus_na})
        inputs, wanted, fast, atols = data
        first: dict[str, Any] | None = None
        ok_base = ok_plus = True
        n_passed = 0
        for i in range(n):
            o = res.outcomes[i] if i < len(res.outcomes) else None
            if o is None:
                good, kind = False, "missing"
            elif not o.ok:
                good, kind = False, o.status if o.status != "error" else f"error:{o.error_kind}"
            else:
                good = (fast[i] and o.tagged == exp.outputs[i]) or \
                    check_output(dataset, entry, inputs[i], o.value, wanted[i], atols[i])
                kind = "wrong_answer"
            if good:
                n_passed += 1
                continue
            if i < n_base:
                ok_base = False
            else:
                ok_plus = False
            if first is None:
                first = {"suite": "base" if i < n_base else "plus",
                         "index": i if i < n_base else i - n_base, "kind": kind}
                if o is not None and o.status == "error":
                    first["message"] = f"{o.error_kind}: {o.message}"[:300]
                first.update(_failure_evidence(
                    _input_at(ref, i), wanted[i], o,
                    self.limits.time_limits(exp.times_for(self.timing)[i:i + 1])[0]))
        passed = ok_base and (self.tests == "base" or ok_plus)
        details: dict[str, Any] = {
            "base_passed": ok_base, "plus_passed": ok_plus if self.tests == "all" else None,
            "inputs_passed": n_passed, "inputs": n, "tests": self.tests, "timing": self.timing}
        if first is not None:
            details["first_failure"] = first
            details["error_kind"] = first["kind"]
        return Verdict(score=1.0 if passed else 0.0, passed=passed, answer=None, feedback="",
                       details=details)


def _pid(problem_id: str, code: str) -> str:
    import hashlib

    return f"{problem_id}#{hashlib.sha256(code.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"


def _failure_evidence(args: Any, wanted: Any, o: Any, limit_s: float) -> dict[str, Any]:
    """What a person needs to see why an input failed (for ``fireassay view``; never shown to the
    model: an oracle's feedback is empty): the input, expected vs got, the traceback tail, the
    time. Values are bounded reprs of plain data."""
    out: dict[str, Any] = {"input": _short_repr(args), "expected": _short_repr(wanted), "limit_s": round(limit_s, 3)}
    if o is not None:
        out["seconds"] = round(float(o.seconds), 3)
        if o.ok:
            out["got"] = _short_repr(o.value)
        if o.traceback:
            out["traceback"] = o.traceback[-2000:]
    return out


def _input_at(ref: Mapping[str, Any], i: int) -> Any:
    raw = (list(ref["base_input"]) + list(ref["plus_input"]))[i]
    try:
        return decode(raw)
    except Exception:  # noqa: BLE001 - shown as stored
        return raw


def _short_repr(value: Any, limit: int = 400) -> str:
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxstring, r.maxother = 4, limit, limit
    r.maxlist = r.maxtuple = r.maxdict = r.maxset = r.maxfrozenset = r.maxdeque = r.maxarray = 12
    try:
        text = r.repr(value)
    except Exception as e:  # noqa: BLE001 - evidence for a person; it must never fail a verdict
        text = f"<unprintable {type(value).__name__}: {type(e).__name__}>"
    return text if len(text) <= limit else text[:limit] + "..."


def _failed(details: dict[str, Any]) -> Verdict:
    return Verdict(score=0.0, passed=False, answer=None, feedback="", details=details)


def _check_reference(p: Problem) -> None:
    ref = p.reference
    need = ("dataset", "entry_point", "base_input", "plus_input", "reference_code", "cache_key")
    if not isinstance(ref, Mapping) or any(k not in ref for k in need):
        raise ValueError(
            f"problem {p.id!r} has no EvalPlus reference (needs {', '.join(need)}); the "
            "'evalplus' oracle works with the mbppplus and humanevalplus tasks")
