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


# -- issue 16 item 3: the reward-weighted vote's transform is explicit ------------------------

def _picked(vs):
    return [v.passed for v in vs].index(True)


def test_weighted_majority_default_sums_raw_scores_as_the_monkeys_paper():
    """A: three candidates scored 0.1, B: one scored 1.0, C: one scored -2.0. Summed as given
    (raw, the default: the Monkeys paper's weighted vote) B wins 1.0 to 0.3; shifting every score
    by the problem's minimum (+2, the old rule) gives A 6.3 against B's 3.0: plain majority."""
    texts = ["The answer is 1."] * 3 + ["The answer is 2.", "The answer is 3."]
    scores = [0.1, 0.1, 0.1, 1.0, -2.0]
    raw = create_verifier("weighted_majority", answer_format="numeric").verify(P, cands(texts, scores))
    assert _picked(raw) == 3
    assert [v.details["weight"] for v in raw] == scores and raw[0].details["transform"] == "raw"
    shift = create_verifier("weighted_majority", answer_format="numeric", transform="shift").verify(P, cands(texts, scores))
    assert _picked(shift) in (0, 1, 2)
    assert [round(v.details["weight"], 9) for v in shift] == [2.1, 2.1, 2.1, 3.0, 0.0]


def test_weighted_majority_transforms_for_raw_logits():
    """Logits A: 0, 0, 0 and B: 3. sigmoid (P(good) per sample): A 3 x 0.5 = 1.5 beats B's 0.953;
    softmax over the problem's samples: B's e^3 = 20.1 beats A's 3 x e^0 = 3."""
    texts = ["The answer is 1."] * 3 + ["The answer is 2.", "none"]
    scores = [0.0, 0.0, 0.0, 3.0, None]
    sig = create_verifier("weighted_majority", answer_format="numeric", transform="sigmoid").verify(P, cands(texts, scores))
    assert _picked(sig) in (0, 1, 2)
    assert sig[0].details["weight"] == 0.5 and math.isclose(sig[3].details["weight"], 1 / (1 + math.exp(-3)))
    assert sig[4].details["weight"] == 0.0  # a missing score counts 0 under every transform
    soft = create_verifier("weighted_majority", answer_format="numeric", transform="softmax").verify(P, cands(texts, scores))
    assert _picked(soft) == 3
    assert math.isclose(sum(v.details["weight"] for v in soft), 1.0)
    # huge logits do not overflow: A = 2 e^-1 + e^-2000001 = 0.74 against B = e^0 = 1
    big = create_verifier("weighted_majority", answer_format="numeric", transform="softmax").verify(
        P, cands(texts[:4], [1e6, 1e6, -1e6, 1e6 + 1]))
    assert _picked(big) == 3 and all(math.isfinite(v.details["weight"]) for v in big)
    with __import__("pytest").raises(ValueError, match="raw, shift, sigmoid, softmax"):
        create_verifier("weighted_majority", answer_format="numeric", transform="exp")


def test_weighted_majority_transform_checked_before_any_work():
    import pytest

    from loop.run.selectors import SelectorSpecError, check_selector_specs, parse_selector_specs

    with pytest.raises(SelectorSpecError, match="transform"):
        check_selector_specs(parse_selector_specs("weighted_majority:transform=exp"))
    with pytest.raises(SelectorSpecError, match="auto, cot, logprob"):  # found before a run samples, too
        check_selector_specs(parse_selector_specs("confidence:source=bogus"))
    check_selector_specs(parse_selector_specs("weighted_majority:transform=sigmoid"))
