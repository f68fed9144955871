"""Judging what a run store holds: each verifier runs on the candidates it has not judged yet.

Verdicts are written per batch of problems as they are produced, so an interrupted run keeps
everything judged so far and a rerun judges only what is missing.
"""
from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from verifiers import Candidate, Problem, Verdict, Verifier

from ..progress import ProgressBars
from ..store import RunStore


@dataclass(frozen=True)
class Tally:
    """A verifier's verdicts counted: passed, failed, and unjudged (it could not decide), with
    the commonest reasons it gave for the unjudged (numbers as N, so that alike reasons count
    together) and how many verdicts keep a checker's log records (math-verify's, shortened, in
    ``details["checker_log"]``: they are summarized here, never printed)."""

    candidates: int
    passed: int
    failed: int
    unjudged: int
    why_unjudged: tuple[tuple[str, int], ...] = ()
    logged: int = 0

    @classmethod
    def of(cls, verdicts: Iterable[Verdict]) -> "Tally":
        vs = list(verdicts)
        passed = [v.passed for v in vs]
        reasons = Counter(_reason(v) for v in vs if v.passed is None)
        return cls(len(passed), sum(p is True for p in passed), sum(p is False for p in passed),
                   sum(p is None for p in passed), tuple(reasons.most_common(3)),
                   sum(1 for v in vs if v.details.get("checker_log")))

    def notes(self) -> list[str]:
        """Lines that say why candidates are unjudged and where the checker's logs went."""
        out = []
        if self.why_unjudged:
            shown = sum(n for _, n in self.why_unjudged)
            more = f"; {self.unjudged - shown} for other reasons" if self.unjudged > shown else ""
            out.append("unjudged: " + "; ".join(f"{n} {why}" for why, n in self.why_unjudged) + more)
        if self.logged:
            out.append(f"the checker logged warnings on {self.logged} candidates (kept, shortened, in their "
                       "verdicts' details['checker_log']; `fireassay export` has the verdicts)")
        return out


def _reason(v: Verdict) -> str:
    why = str(v.details.get("error") or v.feedback or "no reason given")
    return re.sub(r"\d+(?:\.\d+)?", "N", why)[:100]


def with_scores_from(candidates: Sequence[Candidate], scores: dict[tuple[str, int, int], float]) -> list[Candidate]:
    """Candidates whose ``score`` is taken from another verifier's stored scores (weighted votes)."""
    return [dataclasses.replace(c, score=scores.get(c.key, math.nan)) for c in candidates]


def judge_missing(
    store: RunStore,
    name: str,
    verifier: Verifier,
    role: str,
    batch_problems: int = 32,
    score_source: str | None = None,
    show_progress: bool = True,
    final_turns_only: bool = False,
    watch: Callable[[ProgressBars], None] | None = None,
) -> int:
    """Run ``verifier`` over every problem with unjudged candidates; returns candidates judged.

    Selectors judge a problem's candidates as a whole (votes), so a problem with any candidate
    missing is judged again in full. ``final_turns_only``: judge only each trajectory's last
    turn (selectors of a multi-turn run choose among final answers). ``watch(bars)`` may add
    bars of its own (the cluster's) beside the verifier's.
    """
    store.register_verifier(name, role, verifier.uses_reference, verifier.subset_rule)
    by_problem: dict[str, list[Candidate]] = defaultdict(list)
    if final_turns_only:
        last: dict[tuple[str, int], Candidate] = {}
        for c in store.candidates():
            if c.turn >= last.get((c.problem_id, c.sample_index), c).turn:
                last[(c.problem_id, c.sample_index)] = c
        for c in last.values():
            by_problem[c.problem_id].append(c)
        have = store.verdict_keys(name)
        missing = [pid for pid, cs in by_problem.items() if any(c.key not in have for c in cs)]
    else:
        missing = store.problems_missing(name)
        if missing:
            for c in store.candidates():
                by_problem[c.problem_id].append(c)
    if not missing:
        return 0
    problems = {p.id: p for p in store.problems()}
    outside = None
    if score_source:
        outside = {k: v.score for k, v in store.verdicts(score_source).items()}
    done = 0
    with ProgressBars(enabled=show_progress) as bars:
        bar = bars.counter(name, total=sum(len(by_problem[p]) for p in missing))
        if watch is not None:
            watch(bars)
        for start in range(0, len(missing), batch_problems):
            chunk = missing[start:start + batch_problems]
            items: list[tuple[Problem, Sequence[Candidate]]] = []
            for pid in chunk:
                cands = by_problem[pid]
                if outside is not None:
                    cands = with_scores_from(cands, outside)
                items.append((problems[pid], cands))
            results = verifier.verify_many(items)
            for (_problem, cands), verdicts in zip(items, results):
                if len(verdicts) != len(cands):
                    raise RuntimeError(f"verifier {name!r} returned {len(verdicts)} verdicts for {len(cands)} candidates")
                store.add_verdicts(name, list(zip(cands, verdicts)))
                done += len(cands)
                bar.advance(len(cands))
    return done
