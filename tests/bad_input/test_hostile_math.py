"""Bad input, surface: hostile math answers (the MATH oracle and the math majority vote).

An answer nobody can decide is unjudged (never False), a deep answer is evaluated right or
unjudged, a vote over hostile answers ends in bounded time with the leftovers in classes of their
own (marked in the verdicts), and math-verify's logs stay out of the terminal.
"""
from __future__ import annotations

import json
import time

import pytest

from verifiers import Candidate, Problem, create_verifier
from verifiers.answers import MathAnswer
from verifiers.math_check import MAX_DEPTH

from .harness import run_cli


def _p(gold: str) -> Problem:
    return Problem(id="p", prompt=({"role": "user", "content": "q"},), reference={"answer": gold})


def _nest(depth: int, inner: str = "9") -> str:
    s = inner
    for _ in range(depth):
        s = r"\frac{1}{" + s + "}"
    return s


@pytest.fixture(scope="module")
def oracle():
    o = create_verifier("math", timeout=20.0)
    yield o
    o.close()


def _judge(oracle, gold: str, answers: list[str]):
    return oracle.verify(_p(gold), [Candidate("p", i, f"The answer is $\\boxed{{{a}}}$") for i, a in enumerate(answers)])


def test_deeply_nested_fraction_is_evaluated_right_or_unjudged(oracle):
    # value 9 at every even depth, 1/9 at every odd one; the gold is 9
    shallow = _judge(oracle, "9", [_nest(MAX_DEPTH - 2), _nest(3), _nest(MAX_DEPTH - 1)])
    assert [v.passed for v in shallow[:2]] == [True, False]  # within the limits: evaluated, and right
    assert shallow[2].passed is not True  # (False, or unjudged when sympy's comparison times out)
    deep = _judge(oracle, "9", [_nest(300), _nest(301), _nest(1000)])
    for v in deep:  # beyond them: unjudged with the reason, never keyed as a fragment ("1/9")
        assert v.passed is None, v
        assert "limit" in v.details["error"] and ("nested" in v.details["error"] or "characters" in v.details["error"])
        assert v.answer is None


def test_answer_neither_math_verify_nor_sympy_can_read_is_unjudged_not_false(oracle):
    (v,) = _judge(oracle, "5", ["}{"])
    assert v.passed is None  # was False: bool(None) of the sympy fallback
    assert "neither math-verify nor sympy" in v.details["error"]


# within every size limit, yet sympy evaluates it while parsing: math-verify's 3 s run out each time
SLOW_TO_PARSE = r"\binom{100000000}{%d}"


def test_parse_timeout_is_unjudged_and_its_log_stays_out_of_the_terminal(oracle, capfd):
    t0 = time.monotonic()
    (v,) = _judge(oracle, "7", [SLOW_TO_PARSE % 200_000])
    assert time.monotonic() - t0 < 60
    assert v.passed is None and "parsing timed out" in v.details["error"]  # was: killed at the hard limit
    err = capfd.readouterr().err
    assert "Timeout during parsing" not in err and "binom" not in err


def test_comparison_timeout_is_unjudged_not_false(oracle):
    (v,) = _judge(oracle, "2", [r"10^{10^{10^{10}}}"])  # read at once; sympy cannot compare it in time
    assert v.passed is None and "comparison timed out" in v.details["error"]  # was False


def test_majority_vote_over_answers_too_long_to_parse_ends_and_says_so():
    # the case: six (here eighteen) boxed sums of 50,000+i ones; all plain votes besides
    hostile = ["The answer is $\\boxed{" + "+".join(["1"] * (50_000 + i)) + "}$" for i in range(18)]
    texts = hostile + [r"so \boxed{2}", r"\boxed{2}", r"\boxed{\frac{4}{2}}"]
    sel = create_verifier("majority", answer_format="math")
    try:
        t0 = time.monotonic()
        vs = sel.verify(_p("2"), [Candidate("p", i, t) for i, t in enumerate(texts)])
        took = time.monotonic() - t0
    finally:
        sel.close()
    assert took < 120, took  # was minutes: every pair of unparseable answers re-parsed for 10 s
    for v in vs[:18]:  # each hostile answer in a class of its own, marked
        assert v.details["grouping"] == "unreadable" and v.details["votes"] == 1
    assert len({v.answer for v in vs[:18]}) == 18
    assert [v.details["votes"] for v in vs[18:]] == [3, 3, 3] and "grouping" not in vs[18].details
    assert [v.passed for v in vs].index(True) in (18, 19, 20)


def test_majority_vote_never_compares_an_answer_whose_key_timed_out():
    # keyed by their own text and never compared (a comparison would parse them again, and be
    # undecided: the answer would then be marked "ungrouped", not "unreadable")
    slow = [SLOW_TO_PARSE % (200_000 + i) for i in range(3)]
    fmt = MathAnswer(workers=2)
    try:
        t0 = time.monotonic()
        g = fmt.group([rf"\boxed{{{a}}}" for a in slow] + [r"\boxed{0.5}", r"\boxed{\frac{1}{2}}"])
        took = time.monotonic() - t0
    finally:
        fmt.close()
    assert g.status == ("unreadable",) * 3 + ("", "")
    assert len(set(g.classes[:3])) == 3 and g.classes[3] == g.classes[4]
    assert took < 40, took  # 3 keys x 3 s, and no comparison


def test_grouping_time_cap_leaves_the_rest_in_classes_of_their_own():
    # eight different deep fractions: each is read at once, but sympy needs math-verify's whole
    # 3 s to (not) compare two of them, so 28 comparisons would take ~45 s on two workers
    texts = [rf"\boxed{{{_nest(MAX_DEPTH - 2, str(k))}}}" for k in range(2, 10)]
    fmt = MathAnswer(timeout=10.0, workers=2)
    try:
        fmt.group([r"\boxed{1}", r"\boxed{2}"])  # start the workers: the cap below is for grouping
        fmt.group_budget = 4.0
        t0 = time.monotonic()
        g = fmt.group(texts)
        took = time.monotonic() - t0
        again = fmt.group([r"\boxed{0.5}", r"\boxed{\frac{1}{2}}"])  # the next problem is grouped as usual
    finally:
        fmt.close()
    assert took < 15, took
    assert g.status == ("",) + ("ungrouped",) * 7  # the first is a class; no other could be merged
    assert len(set(g.classes)) == 8  # each in a class of its own
    assert again.status == ("", "") and again.classes[0] == again.classes[1]


def test_cli_says_why_candidates_are_unjudged_and_the_report_states_ungrouped_answers(tmp_path, shared_data, capfd):
    first = json.loads((shared_data / "math500" / "test.jsonl").open().readline())
    too_long = ["The answer is $\\boxed{" + "+".join(["1"] * (50_000 + i)) + "}$" for i in range(3)]
    texts = too_long + [f"\\boxed{{{first['answer']}}}"] * 2
    samples = tmp_path / "s.jsonl"
    samples.write_text("".join(json.dumps({"problem_id": first["unique_id"], "text": t}) + "\n" for t in texts))
    out = tmp_path / "run"
    r = run_cli(capfd, "verify", "--task", "math500", "--data", shared_data / "math500" / "test.jsonl",
                "--samples", samples, "--out", out, "--selectors", "majority")
    assert r.code == 0, r.err[-3000:]
    assert "verified 5 candidates: 2 passed, 0 failed, 3 unjudged" in r.out
    said = " ".join(r.err.split())
    assert "unjudged: 3 undecided: answer is N characters long (limit N)" in said
    assert "Timeout during parsing" not in r.err and len(r.err) < 5000  # math-verify's logs stay off the terminal
    rep = run_cli(capfd, "report", out, "--out", tmp_path / "rep")
    assert rep.code == 0, rep.err[-3000:]
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "run / majority: 3 candidates in 1 problems (3 unreadable)" in md
