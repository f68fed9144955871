"""RFT selection with hand-written paths: equations, keys, dedupe, farthest, pooling, export."""
from __future__ import annotations

import json
import random

import pytest

from loop.rft import (
    SelectOptions,
    build_rft,
    code_key,
    dedupe_farthest,
    evaluate,
    extract_equations,
    farthest_subset,
    math_key,
    training_rows,
    write_export,
    wrong_steps,
)
from loop.rft.collect import ClassifiedPath, classify
from loop.rft.equations import ParseError
from loop.rft.select import select_problem
from loop.store import RunStore
from verifiers import Candidate, Problem, Verdict


def texts(eqs):
    return [e.text for e in eqs]


# -- arithmetic ----------------------------------------------------------------------------

@pytest.mark.parametrize("expr,value", [
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("2 ^ 3 ^ 2", 512), ("-2 ^ 2", -4), ("10 / 4", 2.5),
    ("$1,200 + 5", 1205), ("20% * 50", 10), ("7 % 3", 1), ("100% - 40%", 0.6), (".5 * 4", 2),
    ("3 x 4", 12), ("3 × 4 ÷ 2", 6), ("2**3", 8), ("3 - -2", 5),
])
def test_evaluate(expr, value):
    assert evaluate(expr) == pytest.approx(value)


@pytest.mark.parametrize("expr", ["", "2 +", "(1 + 2", "3 5", "8. 2", "x + 1", "1 / 2)", "__import__('os')"])
def test_evaluate_refuses_what_is_not_arithmetic(expr):
    with pytest.raises(ParseError):
        evaluate(expr)


def test_annotations_then_plain_steps_in_order():
    text = ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
            "Then 24 + 48 = 72 clips. Each costs $1,000 x 2 = $2,000.\n#### 72")
    eqs = extract_equations(text)
    assert texts(eqs) == ["48/2=24", "24+48=72", "1000*2=2000"]
    assert [e.source for e in eqs] == ["annotation", "text", "text"]
    assert wrong_steps(eqs) == []


def test_plain_steps_not_glued_to_words_or_mixed_numbers():
    assert texts(extract_equations("S + 143 = 200 - 16 = 184.")) == ["200-16=184"]
    assert texts(extract_equations("8 x 1 1/2 = 12 rolls")) == []
    assert texts(extract_equations("100 = 5A, so 100/5 = 5A/5")) == []
    assert texts(extract_equations("Total = 5 + 3 = 8 apples; 10 - 4 = 6 = 12/2")) == ["5+3=8", "10-4=6=12/2"]
    assert texts(extract_equations("the answer is 8. 3 + 4 = 7")) == ["3+4=7"]


def test_absolute_tolerance():
    """Issue 16 item 4, extended mode: every equation within ABSOLUTE 1e-3 (was relative 1e-3
    plus 'rounded to the decimals written', which passed 20000*1.01=20210 and 2/3=0.67)."""
    ok = extract_equations("10/3 = 3.3333 and 1/3 = 0.3333 and 20000*1.01 = 20200")
    assert len(ok) == 3 and wrong_steps(ok) == []
    bad = extract_equations("10/3 = 3.5 and 2/3 = 0.6 and <<5*3=16>>16 and 2/3 = 0.67 and <<20000*1.01=20210>>")
    assert texts(wrong_steps(bad)) == ["10/3=3.5", "2/3=0.6", "5*3=16", "2/3=0.67", "20000*1.01=20210"]
    # float noise on exact integer arithmetic is not an error
    assert wrong_steps(extract_equations("123456789 * 987654321 = 121932631112635269")) == []


def test_running_totals_read_as_a_chain():
    """``3*4=12+1=13`` is 3*4 = 12, then 12 + 1 = 13 (a running total), not 3*4 = 13."""
    for text in ("3*4=12+1=13", "So 3 * 4 = 12 + 1 = 13 apples.", "<<3*4=12+1=13>>", "<<3*4=12=12+1=13>>"):
        eqs = extract_equations(text)
        assert len(eqs) == 1 and wrong_steps(eqs) == [], text
    for text in ("3*4=12+1=14", "3*4=13+1=14", "<<3*4=12+1>>", "2+2=4=5"):
        eqs = extract_equations(text)
        assert len(eqs) == 1 and len(wrong_steps(eqs)) == 1, text


# -- keys ----------------------------------------------------------------------------------

def test_equal_equation_lists_share_a_key_whatever_the_words():
    a = "She buys 3 * 5 = 15 apples, then 15 + 2 = 17.\nThe answer is 17."
    b = "Apples: 3*5 = 15.   Plus two:  15+2=17 in all. The answer is 17."
    assert math_key(a) == math_key(b)


def test_swapped_operands_are_different_paths():
    assert math_key("3 * 5 = 15, so 15 + 2 = 17") != math_key("5 * 3 = 15, so 15 + 2 = 17")
    assert math_key("3 * 5 = 15, so 15 + 2 = 17") != math_key("15 + 2 = 17 after 3 * 5 = 15")


CODE_A = '''Here is my solution:
```python
import math

def area(radius):
    """Area of a circle."""
    r2 = radius ** 2   # square
    return math.pi * r2

print(area(2))
```'''
CODE_B = '''```python
import math
def area(x):
    sq = x**2
    return math.pi*sq
```'''
CODE_C = '''```python
import math
def area(x):
    return math.pi * x * x
```'''


def test_code_keys_ignore_local_names_formatting_comments_docstrings():
    assert code_key(CODE_A, "area") == code_key(CODE_B, "area")
    assert code_key(CODE_A, "area") != code_key(CODE_C, "area")
    # globals, attributes and called names are not locals: renaming one is a different program
    assert code_key(CODE_B, "area") != code_key(CODE_B.replace("math.pi", "math.tau"), "area")


def test_code_keys_rename_comprehension_and_nested_names():
    a = "```python\ndef f(xs):\n    def sq(v):\n        return v*v\n    return [sq(y) for y in xs]\n```"
    b = "```python\ndef f(items):\n    def g(t):\n        return t*t\n    return [g(z) for z in items]\n```"
    assert code_key(a, "f") == code_key(b, "f")


# -- selection -----------------------------------------------------------------------------

def path(text, key=None, source="s", index=0, group="0", status="correct"):
    if key is None and status == "correct":
        key = math_key(text)
    return ClassifiedPath(group, source, index, 0, status, text, key)


def test_equal_keys_dedupe_to_one():
    ps = [path("3 * 5 = 15 apples", index=0), path("So 3*5=15.", index=1), path("We get 3 * 5 = 15 in all", index=2)]
    kept = dedupe_farthest(ps, random.Random(0))
    assert len(kept) == 1


def test_swapped_operands_are_both_kept():
    ps = [path("3 * 5 = 15", index=0), path("5 * 3 = 15", index=1)]
    assert len(dedupe_farthest(ps, random.Random(0))) == 2


def test_the_farthest_of_equal_paths_is_kept():
    anchor = path("First 2 + 2 = 4. The answer is 4.", index=0)
    near = path("First 2 * 3 = 6. The answer is 6.", index=1)
    far = path("Multiplying, we find 2*3=6 for the total number of marbles we need; so 6", index=2)
    for seed in range(10):
        kept = dedupe_farthest([anchor, near, far], random.Random(seed))
        assert {p.sample_index for p in kept} == {0, 2}, seed


def test_a_path_with_a_wrong_step_is_dropped():
    status, key, eqs, wrong = classify("He has 3 * 5 = 16 apples, 16 + 1 = 17. The answer is 17.", True, "math", None)
    assert status == "arithmetic" and key is None and wrong == ("3*5=16",)
    assert classify("3 * 5 = 15, 15 + 2 = 17", True, "math", None)[0] == "correct"
    assert classify("3 * 5 = 15", False, "math", None)[0] == "failed"
    assert classify("3 * 5 = 15", None, "math", None)[0] == "unjudged"
    dropped = path("x", status="arithmetic")
    assert select_problem([dropped], SelectOptions(), random.Random(0)) == []


def test_max_and_min_per_problem():
    ps = [path(f"{i} + 1 = {i + 1}" + " words" * i, index=i) for i in range(6)]
    kept = select_problem(ps, SelectOptions(max_per_problem=3), random.Random(0))
    assert len(kept) == 3 and len({p.key for p in kept}) == 3
    assert select_problem(ps[:2], SelectOptions(min_per_problem=3), random.Random(0)) == []
    with pytest.raises(ValueError, match="min-per-problem"):
        SelectOptions(max_per_problem=2, min_per_problem=3)


def test_farthest_subset_takes_the_outlier():
    ps = [path("aaaa", key="1"), path("aaab", key="2"), path("zzzzzzzzzzzzzz", key="3"), path("aaba", key="4")]
    assert [p.key for p in farthest_subset(ps, 2)] == ["1", "3"]


# -- pooling, export (real run stores with hand-written candidates) -------------------------

def make_run(tmp_path, name, prompt_text, samples, passed):
    store = RunStore.create(tmp_path / name, {"task": "gsm8k", "model": name})
    probs = [Problem("0", ({"role": "user", "content": prompt_text},), "#### 17"),
             Problem("1", ({"role": "user", "content": "Q1"},), "#### 2")]
    store.add_problems(probs)
    cands = [Candidate(pid, i, text) for i, (pid, text) in enumerate(samples)]
    store.add_candidates(cands)
    store.register_verifier("gsm8k", "oracle", True, "")
    store.add_verdicts("gsm8k", [(c, Verdict(float(p), p)) for c, p in zip(cands, passed)])
    store.close()
    return tmp_path / name


def test_pool_two_sources_export_and_counts(tmp_path):
    a = make_run(tmp_path, "model_a", "Q0", [
        ("0", "3 * 5 = 15, 15 + 2 = 17. The answer is 17."),
        ("0", "We have 3*5=15 and then 15+2=17. The answer is 17."),  # same key as the first
        ("0", "3 * 5 = 16, 16 + 1 = 17. The answer is 17."),  # passes the oracle, wrong step
        ("0", "The answer is 12."),  # failed
        ("1", "1 + 1 = 2. The answer is 2."),
    ], [True, True, True, False, True])
    b = make_run(tmp_path, "model_b", "Q0", [
        ("0", "5 * 3 = 15 and 15 + 2 = 17. The answer is 17."),  # only model_b has this key
        ("0", "3 * 5 = 15, 15 + 2 = 17. The answer is 17!"),  # shared with model_a
    ], [True, True])
    result = build_rft([a, b], SelectOptions(seed=1), progress=False)
    t = result.totals
    assert (t["candidates"], t["correct"], t["dropped_arithmetic"], t["distinct_keys"], t["kept"]) == (7, 6, 1, 3, 3)
    sa, sb = result.per_source["model_a"], result.per_source["model_b"]
    assert (sa.distinct_keys, sa.only_this_source, sb.distinct_keys, sb.only_this_source) == (2, 1, 2, 1)
    out, side, n = write_export(result, tmp_path / "train.jsonl")
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert n == 3 and len(rows) == 3
    assert all(r["messages"][-1]["role"] == "assistant" and r["messages"][0]["content"] in ("Q0", "Q1") for r in rows)
    assert {(r["problem_id"], r["key_id"]) for r in rows}.__len__() == 3
    assert {r["source"] for r in rows if r["problem_id"] == "0"} >= {"model_b"}
    meta = json.loads(side.read_text())
    assert side.name == "train.stats.json" and meta["counts"]["kept"] == 3
    assert meta["per_source"]["model_b"]["only_this_source"] == 1
    # distinct paths by k: model_a has 4 samples of problem 0 (keys: 1 at k<=2, still 1 after)
    table = result.k_table()
    assert table.ks == (1, 2, 3, 4) and table.rows["model_a"][1] == 1.0  # problems 0 and 1 each have 1 at k=1
    assert table.rows["pooled"][4] == pytest.approx((2 + 1) / 2)  # problem 0: 3*5 and 5*3; problem 1: one
    assert table.rows["model_b"][3] is None and table.rows["model_b"][2] == 2.0  # 2 samples of problem 0, 2 keys


def test_same_ids_different_prompts_are_different_problems(tmp_path):
    a = make_run(tmp_path, "test_set", "Q0 of the test set", [("0", "1 + 1 = 2")], [True])
    b = make_run(tmp_path, "train_set", "Q0 of the train set", [("0", "1 + 1 = 2")], [True])
    result = build_rft([a, b], progress=False)
    assert result.totals["kept"] == 2 and result.totals["problems"] == 3  # "1" is shared (same prompt)


def test_cli_errors_are_one_clear_message(tmp_path):
    from typer.testing import CliRunner

    from loop.cli import build_app

    app = build_app()
    r = CliRunner().invoke(app, ["rft", str(tmp_path / "nope"), "--out", str(tmp_path / "t.jsonl")])
    assert r.exit_code == 2 and "not a run directory" in r.output
    run = make_run(tmp_path, "r", "Q0", [("0", "1 + 1 = 2")], [True])
    r = CliRunner().invoke(app, ["rft", str(run)])
    assert r.exit_code == 2 and "--out" in r.output
    r = CliRunner().invoke(app, ["rft", str(run), "--stats", "--out", str(tmp_path / "t.jsonl")])
    assert r.exit_code == 0, r.output
    assert "distinct reasoning paths" in r.output and (tmp_path / "t.stats.json").exists()


def test_code_run_dedupes_by_ast(tmp_path):
    store = RunStore.create(tmp_path / "code", {"task": "mbppplus"})
    prob = Problem("Mbpp/1", ({"role": "system", "content": "S"}, {"role": "user", "content": "area"}), None,
                   {"entry_point": "area"})
    store.add_problems([prob])
    cands = [Candidate("Mbpp/1", i, t) for i, t in enumerate([CODE_A, CODE_B, CODE_C, CODE_C + "\n# wrong"])]
    store.add_candidates(cands)
    store.register_verifier("evalplus", "oracle", True, "")
    store.add_verdicts("evalplus", [(c, Verdict(1.0, p)) for c, p in zip(cands, [True, True, True, False])])
    store.close()
    result = build_rft([tmp_path / "code"], progress=False)
    assert result.pool.sources[0].kind == "code"
    assert (result.totals["correct"], result.totals["distinct_keys"], result.totals["kept"]) == (3, 2, 2)
    rows = list(training_rows(result))
    assert [m["role"] for m in rows[0]["messages"]] == ["system", "user", "assistant"]


# -- issue 16 item 4: --mode reference reproduces gsm8k-ScRel -----------------------------------

def make_gsm8k_run(tmp_path, name, samples, problems):
    """A GSM8K run store with hand-written samples; ``problems``: (id, gold solution)."""
    store = RunStore.create(tmp_path / name, {"task": "gsm8k", "model": name})
    store.add_problems([Problem(pid, ({"role": "user", "content": f"Q{pid}"},), gold) for pid, gold in problems])
    counts: dict[str, int] = {}
    cands = []
    for pid, text in samples:
        cands.append(Candidate(pid, counts.get(pid, 0), text))
        counts[pid] = counts.get(pid, 0) + 1
    store.add_candidates(cands)
    store.register_verifier("gsm8k", "oracle", True, "")
    # the run's oracle says True for all: reference mode judges with the reference's own rule
    store.add_verdicts("gsm8k", [(c, Verdict(1.0, True)) for c in cands])
    store.close()
    return tmp_path / name


GOLD0 = "3*5=<<3*5=15>>15 and 15+2=<<15+2=17>>17\n#### 17"
GOLD1 = "1+1=<<1+1=2>>2\n#### 2"
GOLD2 = "2+3=<<2+3=5>>5\n#### 5"
A0 = "<<3*5=15>><<15+2=17>>\n#### 17"
A1 = "A<<3*5=15>><<15+2=17>>\n#### 17"
A2 = "<<5*3=15>><<15+2=17>>\n#### 17"
A3 = "<<3*5=15>><<15+2=17>>!!\n#### 17"
A4 = "<<3*5=15>><<15+2=18>>\n#### 18"
A5 = "<<3*5=16>><<16+1=17>>\n#### 17"
A6 = "<<20000*1.01=20210>><<20210-20193=17>>\n#### 17"
A7 = "<<2/3=0.67>><<0.67*0+17=17>>\n#### 17"
A8 = "<<x=5>><<12+5=17>>\n#### 17"
A9 = "<<3*5=15>><<15+2=17>>\n#### 17.0"
B0 = "<<5*3=15>> <<15+2=17>>\n#### 17"
B1 = "<<3*5=15>><<15+2 = 17>>\n#### 17"
P0 = "<<1+1=2>>#### 2"
P1 = "<<2*1=2>>#### 2"
P2 = "<<4/2=2>>#### 2"
P3 = "<<1+1=2>>x#### 2"
Q0 = "<<2+2=4>>#### 4"


def test_reference_mode_reproduces_gsm8k_screl_on_a_hand_worked_fixture(tmp_path):
    """Expected output worked out by hand from collect_rejection_sampling.py (gsm8k-ScRel).

    Keys: K1 = "3*5=15|15+2=17", K2 = "5*3=15|15+2=17". Edit distances (by hand; the first
    assertions below only confirm the arithmetic): d(A0,A2) = 2 (3<->5 twice);
    d(A3,A2) = 4 (those 2 + "!!"); d(A9,A2) = 4 (2 + ".0"); d(B0,A2) = 1 (a space);
    d(B0,A3) = 5 (2 + "!!" + the space); d(B1,B0) = 5 (2 + the space + 2 spaces around "=").

    Problem 0, source A (the run given first) then B, in sample order; kept list after each:
      A0 correct, K1 new                       -> [A0]
      A1 K1 again; the other kept paths: none, so 0 > 0 is false -> [A0]
      A2 K2 new                                -> [A0, A2]
      A3 K1: now d(A0,A2)=2, candidate d(A3,A2)=4 > 2: replaces A0 -> [A3, A2]
      A4 answer 18 != 17: not correct          (ignored)
      A5 3*5=16 fails                          (dropped)
      A6 20000*1.01 = 20200 != 20210 (|diff| 10 >= 1e-3; relative 5e-4 would pass)  (dropped)
      A7 2/3 = 0.6667 != 0.67 (|diff| 0.0033 >= 1e-3; rounded to 2 decimals would pass)  (dropped)
      A8 <<x=5>>: eval("x") raises, so False  (dropped)
      A9 "#### 17.0" is 17.0 == 17: correct; K1: now d(A3,A2)=4, candidate d(A9,A2)=4, not > 4 -> [A3, A2]
      B0 K2 (keys have spaces removed; here a space outside the annotations): now d(A2,A3)=4,
         candidate d(B0,A3)=5 > 4: replaces A2   -> [A3, B0]
      B1 K1 ("15+2 = 17" without spaces): now d(A3,B0)=5, candidate d(B1,B0)=5, not > 5 -> [A3, B0]
    Problem 1 (source A only): P0 "1+1=2", P1 "2*1=2", P2 "4/2=2" new -> [P0, P1, P2];
      P3 key "1+1=2": now d(P0,P1)+d(P0,P2) = 2+3 = 5, candidate d(P3,P1)+d(P3,P2) = 3+4 = 7 > 5
      -> [P3, P1, P2].
    Problem 2: nothing correct; its own solution is still written.
    Output: per problem its own (gold) solution first, then the kept paths in kept order.
    """
    from rapidfuzz.distance import Levenshtein

    d = Levenshtein.distance
    assert (d(A0, A2), d(A3, A2), d(A9, A2), d(B0, A2), d(B0, A3), d(B1, B0)) == (2, 4, 4, 1, 5, 5)
    assert (d(P0, P1), d(P0, P2), d(P3, P1), d(P3, P2)) == (2, 3, 3, 4)
    problems = [("0", GOLD0), ("1", GOLD1), ("2", GOLD2)]
    a = make_gsm8k_run(tmp_path, "a", [("0", t) for t in (A0, A1, A2, A3, A4, A5, A6, A7, A8, A9)]
                       + [("1", t) for t in (P0, P1, P2, P3)] + [("2", Q0)], problems)
    b = make_gsm8k_run(tmp_path, "b", [("0", B0), ("0", B1)], problems[:1])
    result = build_rft([a, b], SelectOptions(mode="reference"), progress=False)
    out, side, n = write_export(result, tmp_path / "train.jsonl")
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    got = [(r["problem_id"], r["source"], r["messages"][-1]["content"]) for r in rows]
    assert got == [
        ("0", "original", GOLD0), ("0", "a", A3), ("0", "b", B0),
        ("1", "original", GOLD1), ("1", "a", P3), ("1", "a", P1), ("1", "a", P2),
        ("2", "original", GOLD2),
    ]
    assert rows[1]["equations"] == ["3*5=15", "15+2=17"]
    t = result.totals
    # correct: A0-A3, A5-A9 (A4 is wrong), B0, B1, P0-P3 = 15; dropped: A5, A6, A7, A8
    assert (t["correct"], t["dropped_arithmetic"], t["distinct_keys"], t["kept"], t["originals"]) == (15, 4, 5, 5, 3)
    assert t["oracle_disagrees"] == 2  # the stored oracle said True for A4 and Q0
    meta = json.loads(side.read_text())
    assert meta["options"]["mode"] == "reference" and meta["options"]["include_original"] is True


def test_extended_mode_is_todays_selection_with_absolute_tolerance(tmp_path):
    problems = [("0", GOLD0)]
    a = make_gsm8k_run(tmp_path, "a", [("0", t) for t in (A0, A6, A7, A8)], problems)
    result = build_rft([a], SelectOptions(), progress=False)
    t = result.totals
    # A6, A7 now fail the absolute tolerance; <<x=5>> is not judged (extended keeps it)
    assert (t["dropped_arithmetic"], t["kept"], t.get("originals", 0)) == (2, 2, 0)
    with_orig = build_rft([a], SelectOptions(include_original=True), progress=False)
    rows = list(training_rows(with_orig))
    assert rows[0]["source"] == "original" and rows[0]["messages"][-1]["content"] == GOLD0


def test_reference_mode_refuses_what_the_reference_does_not_do(tmp_path):
    with pytest.raises(ValueError, match="reference"):
        SelectOptions(mode="reference", max_per_problem=4)
    with pytest.raises(ValueError, match="reference"):
        SelectOptions(mode="reference", min_per_problem=2)
    with pytest.raises(ValueError, match="reference or extended"):
        SelectOptions(mode="paper")
    store = RunStore.create(tmp_path / "math", {"task": "math500"})
    store.close()
    from loop.rft import RFTError

    with pytest.raises(RFTError, match="gsm8k"):
        build_rft([tmp_path / "math"], SelectOptions(mode="reference"), progress=False)
    two = make_gsm8k_run(tmp_path, "two", [("0", A0)], [("0", GOLD0)])
    with RunStore.open(two) as s:
        s.add_candidates([Candidate("0", 0, A2, turn=1)])
    with pytest.raises(RFTError, match="turn"):
        build_rft([two], SelectOptions(mode="reference"), progress=False)


def test_reference_annotation_check_is_pythons_eval():
    from loop.rft.reference import check_annotation, python_value

    assert check_annotation("2^3=1")  # Python: XOR
    assert check_annotation("7//2=3") and check_annotation(" 10 % 4 = 2 ")
    assert check_annotation("5=5=6")  # the third side is never read
    assert check_annotation("max(3,4)=4") and check_annotation("1_000+1=1001")
    assert not check_annotation("1,000+1=1001")  # a tuple: float() fails
    assert not check_annotation("x=5") and not check_annotation("5") and not check_annotation("3/0=1")
    assert not check_annotation("20%*50=10") and not check_annotation("$5+1=6")
    assert not check_annotation("__import__('os').system('true')=0")
    assert not check_annotation("9**9**9**9=1") and not check_annotation("1<<10**9=1")  # bounded, not hung
    assert not check_annotation("(-8)**0.5=2")  # complex
    assert not check_annotation("[1]*10**9=1") and check_annotation("max([1,2])=2")  # no list built
    assert python_value("2**10") == 1024 and python_value("(10**400)//(10**399)") == 10


def test_cli_mode_reference(tmp_path):
    from typer.testing import CliRunner

    from loop.cli import build_app

    app = build_app()
    run = make_gsm8k_run(tmp_path, "a", [("0", A0), ("0", A6)], [("0", GOLD0)])
    r = CliRunner().invoke(app, ["rft", str(run), "--mode", "reference", "--out", str(tmp_path / "t.jsonl")])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert [x["source"] for x in rows] == ["original", "a"] and "--mode reference" in r.output
    r = CliRunner().invoke(app, ["rft", str(run), "--mode", "reference", "--no-include-original",
                                 "--out", str(tmp_path / "u.jsonl")])
    assert r.exit_code == 0 and len((tmp_path / "u.jsonl").read_text().splitlines()) == 1
    r = CliRunner().invoke(app, ["rft", str(run), "--mode", "reference", "--max-per-problem", "2",
                                 "--out", str(tmp_path / "v.jsonl")])
    assert r.exit_code == 2 and "not part of the reference" in r.output and not (tmp_path / "v.jsonl").exists()
    r = CliRunner().invoke(app, ["rft", str(run), "--mode", "paper", "--out", str(tmp_path / "w.jsonl")])
    assert r.exit_code == 2 and "reference or extended" in r.output
