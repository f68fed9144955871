"""Gold-free selectors: majority, weighted majority, best-of-N (pure logic, real answer formats)."""
from __future__ import annotations

import math

from verifiers import Candidate, Problem, create_verifier

P = Problem("p", ({"role": "user", "content": "q"},), reference=None)


def cands(texts, scores=None):
    scores = scores or [None] * len(texts)
    return [Candidate("p", i, t, score=s) for i, (t, s) in enumerate(zip(texts, scores))]


def test_majority_scores_vote_share_and_picks_largest_class():
    vs = create_verifier("majority", answer_format="numeric").verify(
        P, cands(["The answer is 5.", "so 5", "The answer is 0.50", "The answer is 1/2", "The answer is .5", "none"]))
    assert [round(v.score, 3) for v in vs] == [0.333, 0.333, 0.5, 0.5, 0.5, 0.0]
    assert vs[2].answer == vs[3].answer == vs[4].answer == "0.5"
    assert [v.passed for v in vs].count(True) == 1 and [v.passed for v in vs].index(True) in (2, 3, 4)


def test_majority_merges_math_equivalent_keys():
    sel = create_verifier("majority", answer_format="math")
    try:
        vs = sel.verify(P, cands([r"\boxed{\frac{\sqrt{2}}{2}}", r"\boxed{\frac{1}{\sqrt{2}}}", r"\boxed{3}"]))
    finally:
        sel.close()
    assert vs[0].answer == vs[1].answer and vs[0].score == vs[1].score == 2 / 3
    assert vs[2].score == 1 / 3


def test_ties_break_at_random_reproducibly():
    texts = ["The answer is 1.", "The answer is 2."]
    picks = set()
    for seed in range(20):
        sel = create_verifier("majority", answer_format="numeric", seed=seed)
        first = [v.passed for v in sel.verify(P, cands(texts))]
        assert first == [v.passed for v in sel.verify(P, cands(texts))]  # same seed, same pick
        picks.add(first.index(True))
    assert picks == {0, 1}


def test_weighted_majority_sums_scores_and_no_answer_never_wins():
    sel = create_verifier("weighted_majority", answer_format="numeric")
    vs = sel.verify(P, cands(["The answer is 1.", "The answer is 1.", "The answer is 2.", "nothing"], [0.1, 0.1, 0.9, 5.0]))
    assert vs[2].passed and math.isclose(vs[2].score, 0.9 / 6.1)
    vs = sel.verify(P, cands(["The answer is 1.", "nothing"], [0.0, 0.0]))
    assert vs[0].passed and not vs[1].passed


def test_best_of_n_highest_score_and_missing_scores_last():
    sel = create_verifier("best_of_n")
    vs = sel.verify(P, cands(["a", "b", "c"], [0.2, None, 0.7]))
    assert [v.passed for v in vs] == [False, False, True] and math.isnan(vs[1].score)
    vs = sel.verify(P, cands(["a", "b"]))
    assert sum(v.passed for v in vs) == 1  # all unscored: a random pick, as the report does
