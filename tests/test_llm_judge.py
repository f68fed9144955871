"""``llm_judge`` with the embedded SmolLM2-135M on real GSM8K candidates: half carry the gold
answer, half a perturbed one. Scores are probabilities; the two halves' mean scores are printed
(no threshold asserted: a 135M model is not expected to judge well). Plus the pure parts."""
from __future__ import annotations

import json
import math
import random

import pytest

from verifiers import Candidate, Problem
from verifiers.reward import LLMJudge, yes_probability

PAIRS = 12


def test_yes_probability_normalizes_over_variants():
    top = [(" Yes", math.log(0.3)), ("yes", math.log(0.1)), ("No", math.log(0.2)), (" The", math.log(0.3)),
           ("NO.", math.log(0.1))]
    p, mass = yes_probability(top)
    assert p == pytest.approx(0.4 / 0.7) and mass == pytest.approx(0.7)
    p, mass = yes_probability([("Maybe", -0.1)])
    assert math.isnan(p) and mass == 0.0


class FakeScorer:
    """A fake NextTokenScorer (pure-logic test): Yes when the response contains 'right'."""

    def __init__(self):
        self.seen = []

    def next_token_logprobs(self, conversations, top_k):
        self.seen += conversations
        return [[("Yes", math.log(0.9)), ("No", math.log(0.1))] if "right" in c[-1]["content"]
                else [("No", math.log(0.8)), ("Yes", math.log(0.2))] for c in conversations]

    def close(self):
        pass


def test_judge_prompt_and_selection_with_a_fake_scorer():
    fake = FakeScorer()
    prob = Problem("p", ({"role": "user", "content": "PROMPT"},), meta={"question": "What is 1+1?"})
    j = LLMJudge(scorer=fake, system="Be strict.")
    vs = j.verify(prob, [Candidate("p", 0, "wrong"), Candidate("p", 1, "right")])
    assert [v.score for v in vs] == pytest.approx([0.2, 0.9]) and [v.passed for v in vs] == [False, True]
    assert fake.seen[0][0] == {"role": "system", "content": "Be strict."}
    assert "What is 1+1?" in fake.seen[0][1]["content"] and "Proposed solution:\nwrong" in fake.seen[0][1]["content"]
    with pytest.raises(ValueError, match="llm_judge needs a model"):
        LLMJudge()


def gsm8k_pairs(path, pairs: int = PAIRS):
    rng = random.Random(5)
    rows = [json.loads(line) for line in path.open()][:pairs]
    out = []
    for i, r in enumerate(rows):
        reasoning, gold = r["answer"].split("####")
        g = int(float(gold.strip().replace(",", "")))
        bad = g + rng.choice([-3, -2, -1, 1, 2, 3, 10])
        prob = Problem(str(i), ({"role": "user", "content": r["question"]},), reference=r["answer"],
                       meta={"question": r["question"]})
        out.append((prob, Candidate(str(i), 0, f"{reasoning.strip()}\nThe answer is {g}."),
                    Candidate(str(i), 1, f"{reasoning.strip()}\nThe answer is {bad}.")))
    return out


@pytest.mark.engine
def test_llm_judge_with_the_embedded_model(shared_data):
    from loop.engines import create_engine
    from loop.run.selectors import EngineNextToken

    judge = LLMJudge(scorer=EngineNextToken(create_engine("llamacpp")), top_k=20)
    try:
        items = [(p, [gold, bad]) for p, gold, bad in gsm8k_pairs(shared_data / "gsm8k" / "test.jsonl")]
        results = judge.verify_many(items)
    finally:
        judge.close()
    gold_scores = [vs[0].score for vs in results]
    bad_scores = [vs[1].score for vs in results]
    allv = gold_scores + bad_scores
    assert all(0.0 <= s <= 1.0 for s in allv if not math.isnan(s))
    assert sum(not math.isnan(s) for s in allv) >= len(allv) // 2  # the model mostly answers Yes/No
    masses = [v.details["yes_no_mass"] for vs in results for v in vs]
    gm = sum(s for s in gold_scores if not math.isnan(s)) / max(1, sum(not math.isnan(s) for s in gold_scores))
    bm = sum(s for s in bad_scores if not math.isnan(s)) / max(1, sum(not math.isnan(s) for s in bad_scores))
    wins = sum(g > b for g, b in zip(gold_scores, bad_scores))
    print(f"\nllm_judge SmolLM2-135M on {len(items)} GSM8K pairs: mean P(Yes) gold {gm:.4f}, perturbed {bm:.4f}; "
          f"gold ranked above its perturbed twin in {wins}/{len(items)}; mean Yes/No mass {sum(masses) / len(masses):.3f}")
