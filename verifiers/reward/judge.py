"""``llm_judge``: a generative verifier. A language model is asked whether the candidate's answer
is correct; the score is P("Yes") from the raw log-probabilities of its first answer token,
normalized over the Yes/No variants among the top-k tokens (" Yes", "yes", "YES", "No", ...):

    score = sum(exp(lp) for Yes variants) / sum(exp(lp) for Yes and No variants)

A problem where no Yes/No variant is among the top-k gets nan (ranks last; counted as unscored).

``verifiers`` knows nothing of engines: the model comes in as a :class:`NextTokenScorer`, any
object that returns the next token's top-k ``(token_text, logprob)`` after chat messages. The
CLI wraps any fireassay engine in one (``loop.run.selectors.EngineNextToken``), so
``llm_judge:engine=llamacpp`` runs with the embedded model on CPU.
"""
from __future__ import annotations

import math
from typing import ClassVar, Mapping, Protocol, Sequence

from ..base import SubsetRule, Verifier
from ..selectors import selection_verdicts
from ..types import Candidate, Problem, Verdict

TEMPLATE = (
    "You check answers to problems.\n\nProblem:\n{question}\n\nProposed solution:\n{response}\n\n"
    "Is the answer correct? Reply with Yes or No."
)

YES = "yes"
NO = "no"


class NextTokenScorer(Protocol):
    """The model ``llm_judge`` asks (the loop wraps an engine as one)."""

    def next_token_logprobs(self, conversations: Sequence[Sequence[Mapping[str, str]]],
                            top_k: int) -> list[list[tuple[str, float]]]:
        """Per conversation, the top-k (token text, raw logprob) of the first generated token."""
        ...

    def close(self) -> None:
        """Release the model if the scorer owns it (a no-op otherwise). Called by
        :meth:`LLMJudge.close`; safe to call twice."""
        ...


def _variant(token: str) -> str | None:
    t = token.strip().strip(".,!:;\"'*").lower()
    return t if t in (YES, NO) else None


def yes_probability(top: Sequence[tuple[str, float]]) -> tuple[float, float]:
    """(P(Yes | Yes or No), total probability of the Yes/No variants) from top-k logprobs."""
    mass = {YES: 0.0, NO: 0.0}
    for text, lp in top:
        v = _variant(text)
        if v is not None and math.isfinite(lp):
            mass[v] += math.exp(lp)
    total = mass[YES] + mass[NO]
    return (mass[YES] / total if total > 0 else math.nan), total


def question_text(problem: Problem) -> str:
    q = problem.meta.get("question") if isinstance(problem.meta, Mapping) else None
    if isinstance(q, str) and q.strip():
        return q.strip()
    return "\n\n".join(m["content"] for m in problem.prompt if m.get("role") != "system").strip()


class LLMJudge(Verifier):
    name: ClassVar[str] = "llm_judge"
    uses_reference: ClassVar[bool] = False
    subset_rule: ClassVar[SubsetRule] = "argmax"

    def __init__(self, scorer: NextTokenScorer | None = None, top_k: int = 20, template: str = TEMPLATE,
                 system: str = "", seed: int = 0) -> None:
        if scorer is None:
            raise ValueError("llm_judge needs a model: use `--selectors llm_judge:engine=llamacpp` "
                             "(or engine=openai:engine_model=NAME:engine_base_url=URL), or pass scorer= in "
                             "Python; in `fireassay run` it judges with the run's own model")
        if "{question}" not in template or "{response}" not in template:
            raise ValueError("llm_judge template must contain {question} and {response}")
        self.scorer = scorer
        self.top_k = int(top_k)
        self.template = template
        self.system = system
        self.seed = seed

    def conversation(self, problem: Problem, candidate: Candidate) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        return msgs + [{"role": "user", "content": self.template.format(question=question_text(problem),
                                                                         response=candidate.text.strip())}]

    def verify(self, problem: Problem, candidates: Sequence[Candidate]) -> list[Verdict]:
        return self.verify_many([(problem, candidates)])[0]

    def verify_many(self, items: Sequence[tuple[Problem, Sequence[Candidate]]]) -> list[list[Verdict]]:
        convs = [self.conversation(p, c) for p, cs in items for c in cs]
        tops = self.scorer.next_token_logprobs(convs, self.top_k) if convs else []
        out, pos = [], 0
        for problem, cands in items:
            scores, details = [], []
            for top in tops[pos:pos + len(cands)]:
                p, mass = yes_probability(top)
                scores.append(p)
                details.append({"weight": p, "yes_no_mass": mass, "top": [t for t, _ in top[:5]]})
            pos += len(cands)
            out.append(selection_verdicts(self.name, problem, scores, [None] * len(scores), details, self.seed))
        return out

    def close(self) -> None:
        self.scorer.close()
