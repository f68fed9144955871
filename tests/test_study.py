"""The selection study on a small real run (GSM8K problems, candidates built from the gold
solutions, some perturbed): `fireassay verify` -> `fireassay select` -> `fireassay report`; the
plot and tables exist and the numbers agree with a brute-force recomputation from the store.
Also: selector specs (parsing, stored options), `confidence`, and the vote-share study on a
hand-made case."""
from __future__ import annotations

import itertools
import json
import math
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from loop.analysis.metrics import SelectorData
from loop.analysis.vote_shares import vote_share_study
from loop.run.selectors import SelectorSpecError, parse_selector_spec, parse_selector_specs
from loop.store import RunStore
from verifiers import Candidate, Problem
from verifiers.reward import Confidence

from .test_cli_verify import run_cli

N = 6
PROBLEMS = 10


@pytest.fixture(scope="module")
def gsm8k_file(shared_data) -> Path:
    return shared_data / "gsm8k" / "test.jsonl"


def gold_solution_samples(path: Path, gsm8k_file: Path) -> Path:
    """Per problem N candidates: the gold reasoning with its answer, or with the final answer
    changed (so some problems have the right answer as a minority, some none, some ties)."""
    rng = random.Random(11)
    rows = [json.loads(line) for line in gsm8k_file.open()][:PROBLEMS]
    with path.open("w") as fh:
        for i, r in enumerate(rows):
            reasoning, gold = r["answer"].split("####")
            gold_n = int(float(gold.strip().replace(",", "")))
            p_right = [0.0, 0.17, 0.34, 0.5, 0.8][i % 5]
            for j in range(N):
                ans = gold_n if rng.random() < p_right else gold_n + rng.choice([1, 1, 2, 10])
                text = f"{reasoning.strip()}\nThe answer is {ans}."
                fh.write(json.dumps({"problem_id": str(i), "sample_index": j, "text": text,
                                     "score": round(rng.random(), 1)}) + "\n")  # coarse: ties happen
    return path


@pytest.fixture(scope="module")
def study_run(tmp_path_factory, gsm8k_file):
    tmp = tmp_path_factory.mktemp("study")
    samples = gold_solution_samples(tmp / "s.jsonl", gsm8k_file)
    run = tmp / "run"
    run_cli("verify", "--task", "gsm8k", "--data", gsm8k_file, "--samples", samples, "--out", run,
            "--selectors", "majority")
    p = run_cli("select", run, "--selectors", "best_of_n,weighted_majority:weights=best_of_n,confidence")
    assert "weighted_majority@best_of_n: judged 60 new candidates" in p.stderr
    assert "confidence: judged 60 new candidates; 60 stored, 60 without a score" in p.stderr
    again = run_cli("select", run, "--selectors", "best_of_n")
    assert "best_of_n: judged 0 new candidates" in again.stderr  # stored once, never recomputed
    run_cli("report", run, "--out", tmp / "report", "--bootstrap", "50")
    return run, tmp / "report"


def brute_force(correct: list[bool], pick_weights) -> dict[int, tuple[float, float]]:
    """Per k: (P(correct in subset), P(correct in subset and pick wrong)) over all k-subsets;
    ``pick_weights(subset)`` gives each member's chance of being picked."""
    n = len(correct)
    out = {}
    for k in range(1, n + 1):
        cov = missed = 0.0
        subsets = list(itertools.combinations(range(n), k))
        for sub in subsets:
            has = any(correct[i] for i in sub)
            p_right = sum(w for i, w in zip(sub, pick_weights(sub)) if correct[i])
            cov += has
            missed += has - p_right
        out[k] = (cov / len(subsets), missed / len(subsets))
    return out


def argmax_picker(scores):
    def pick(sub):
        vals = [scores[i] if scores[i] is not None and not math.isnan(scores[i]) else -math.inf for i in sub]
        top = max(vals)
        tied = [v == top for v in vals]
        return [t / sum(tied) for t in tied]
    return pick


def vote_picker(classes):
    def pick(sub):
        cnt = Counter(classes[i] for i in sub if classes[i] is not None)
        if not cnt:
            return [1 / len(sub)] * len(sub)
        top = max(cnt.values())
        members = [classes[i] is not None and cnt[classes[i]] == top for i in sub]
        return [m / sum(members) for m in members]
    return pick


def test_study_tables_plots_and_brute_force(study_run):
    run, report_dir = study_run
    report = json.loads((report_dir / "report.json").read_text())
    md = (report_dir / "report.md").read_text()
    r = report["runs"][0]
    for name in ("gap_run.png", "vote_share_run_majority.png", "study_run.png"):
        assert (report_dir / name).stat().st_size > 10_000 and name in report["plots"]
    assert "## Study: run: gap to coverage" in md and "correct answer's vote share" in md

    with RunStore.open(run) as store:
        oracle = store.verdicts("gsm8k")
        maj = store.verdicts("majority")
        bon = store.verdicts("best_of_n")
        by_problem: dict[str, list] = {}
        for c in store.candidates():
            by_problem.setdefault(c.problem_id, []).append(c)
    ks = [int(k) for k in r["coverage"]]
    assert ks[-1] == N
    for sel, picker_of in (("best_of_n", lambda cs: argmax_picker([bon[c.key].score for c in cs])),
                           ("majority", lambda cs: vote_picker([maj[c.key].answer for c in cs]))):
        per_k = {k: [0.0, 0.0] for k in ks}
        for cs in by_problem.values():
            bf = brute_force([oracle[c.key].passed is True for c in cs], picker_of(cs))
            for k in ks:
                per_k[k][0] += bf[k][0] / PROBLEMS
                per_k[k][1] += bf[k][1] / PROBLEMS
        for k in ks:
            assert r["coverage"][str(k)] == pytest.approx(per_k[k][0], abs=1e-9)
            gap = r["selectors"][sel]["gap"][str(k)]["mean"]
            tol = 1e-9 if sel == "best_of_n" or k in (1, N) else 0.03  # votes at 1 < k < n: sampled or exact
            assert gap == pytest.approx(per_k[k][1], abs=tol), (sel, k)
        assert r["selectors"][sel]["missed"] == pytest.approx(per_k[N][1], abs=1e-9)
        want_given = per_k[N][1] / per_k[N][0]
        assert r["study"]["missed_given_covered"][sel] == pytest.approx(want_given, abs=1e-9)

    # vote shares from the store, by hand
    counts = Counter()
    shares = []
    for cs in by_problem.values():
        cnt = Counter(maj[c.key].answer for c in cs if maj[c.key].answer is not None)
        right = {maj[c.key].answer for c in cs if oracle[c.key].passed is True and maj[c.key].answer is not None}
        if not right:
            counts["no_correct"] += 1
            continue
        rv = max(cnt[a] for a in right)
        wv = max([v for a, v in cnt.items() if a not in right], default=0)
        counts["plurality" if rv > wv else "tied" if rv == wv else "minority"] += 1
        shares.append(rv / len(cs))
    vs = r["study"]["vote_shares"]["majority"]
    assert vs["counts"] == {s: counts.get(s, 0) for s in ("plurality", "tied", "minority", "no_correct")}
    assert vs["mean_share"] == pytest.approx(float(np.mean(shares)))
    assert sum(sum(h) for h in vs["histogram"].values()) == len(shares)
    assert counts["minority"] >= 1 and counts["no_correct"] >= 1  # the case exercises every branch
    assert f"| minority | {counts['minority']} |" in md
    # confidence had nothing recorded: every candidate unscored, counted in the report
    assert r["selectors"]["confidence"]["unscored"] == PROBLEMS * N


def test_vote_shares_hand_case():
    sel = SelectorData("vote", [np.array([0, 0, 1, 1, 1, -1]), np.array([0, 1, 2, 2]), np.array([0, 0, 1]),
                                np.array([-1, -1])], [])
    correct = [np.array([1, 1, 0, 0, 0, 0], bool), np.array([0, 0, 1, 0], bool), np.array([0, 0, 1], bool),
               np.array([1, 0], bool)]
    unjudged = [np.zeros(6, bool), np.array([0, 1, 0, 0], bool), np.zeros(3, bool), np.zeros(2, bool)]
    vs = vote_share_study(correct, unjudged, sel)
    # p0: right 2 vs wrong 3 -> minority; p1: class 2 mixes right and wrong (2 votes) vs 1 -> plurality;
    # p2: right 1 vs 2 -> minority; p3: no answer at all -> no_correct
    assert vs.status == ("minority", "plurality", "minority", "no_correct")
    assert vs.shares[:3].tolist() == pytest.approx([2 / 6, 2 / 4, 1 / 3])
    assert math.isnan(vs.shares[3])
    assert vs.unjudged == 1 and vs.mixed == 1
    assert vs.margin[:3].tolist() == [-1.0, 1.0, -1.0]


def test_selector_spec_syntax():
    s = parse_selector_spec("reward_model:backend=http:url=http://127.0.0.1:8000/x:head=1:as=rm2")
    assert (s.selector, s.name, dict(s.options)) == ("reward_model", "rm2", {"backend": "http", "url": "http://127.0.0.1:8000/x", "head": "1"})
    w = parse_selector_spec("weighted_majority:weights=reward_model")
    assert w.name == "weighted_majority@reward_model" and w.weights == "reward_model" and not w.options
    j = parse_selector_spec("llm_judge:engine=openai:engine_model=q:engine_base_url=http://h:1/v1:top_k=5")
    assert j.engine == "openai" and dict(j.engine_options) == {"model": "q", "base_url": "http://h:1/v1"}
    assert dict(j.options) == {"top_k": "5"}
    assert j.text == "llm_judge:engine=openai:engine_base_url=http://h:1/v1:engine_model=q:top_k=5"
    with pytest.raises(SelectorSpecError, match="given twice"):
        parse_selector_specs("majority,majority")
    with pytest.raises(SelectorSpecError, match="no engine=NAME"):
        parse_selector_spec("llm_judge:engine_model=x")
    with pytest.raises(SelectorSpecError, match="bad selector"):
        parse_selector_spec(":x=1")


def test_select_refuses_changed_options_and_missing_weights(study_run):
    run, _ = study_run
    p = run_cli("select", run, "--selectors", "weighted_majority:weights=nothing", check=False)
    assert p.returncode == 2 and "weights=nothing is not a stored selector" in p.stderr
    p = run_cli("select", run, "--selectors", "confidence:source=logprob", check=False)
    assert p.returncode == 2 and "stored with options 'confidence'" in p.stderr and "as=NAME" in p.stderr
    p = run_cli("select", run, "--selectors", "llm_judge", check=False)
    assert p.returncode == 2 and "llm_judge needs a model" in p.stderr
    p = run_cli("select", run, "--selectors", "gsm8k", check=False)
    assert p.returncode == 2 and "oracle" in p.stderr
    p = run_cli("select", run, "--selectors", "nope", check=False)
    assert p.returncode == 2 and "nope" in p.stderr


def test_confidence_sources():
    prob = Problem("p", ({"role": "user", "content": "q"},))
    cands = [Candidate("p", 0, "a", logprobs=(-0.1, -0.3), meta={"confidence": 0.2}),
             Candidate("p", 1, "b", logprobs=(-1.0, -3.0), meta={"confidence": 0.9}),
             Candidate("p", 2, "c", logprobs=(-0.05,))]
    auto = Confidence().verify(prob, cands)  # not every candidate has cot -> mean logprob for all
    assert [v.score for v in auto] == pytest.approx([-0.2, -2.0, -0.05])
    assert [v.passed for v in auto] == [False, False, True]
    cot = Confidence(source="cot").verify(prob, cands)
    assert [v.score for v in cot][:2] == [0.2, 0.9] and math.isnan(cot[2].score) and cot[1].passed
    both = Confidence().verify(prob, cands[:2])
    assert [v.details["source"] for v in both] == ["cot", "cot"]
    with pytest.raises(ValueError, match="source 'x' is unknown"):
        Confidence(source="x")
