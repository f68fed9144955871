"""RFT selection: one path per distinct key, the most different ones preferred.

``mode="reference"``: the reference code's online rule, in source order, nothing else
(``loop.rft.reference.online_farthest``). ``mode="extended"`` (the default), per problem, over
the correct paths of every pooled source (each keeps its source):

1. Paths are ordered by a seeded shuffle and grouped by key.
2. Groups with one path keep it. Then each group with several paths (in shuffled order)
   keeps the path whose total Levenshtein distance to the paths kept so far is largest
   (ties: the earlier one in shuffled order). This is RFT's rule: among equals, prefer the
   one most different from what is already in the training set.
3. ``max_per_problem``: when more keys than that remain, the subset is grown greedily from
   the first kept path by farthest-point selection (largest total distance to the chosen).
4. ``min_per_problem``: problems with fewer kept paths than that are left out.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

from rapidfuzz.distance import Levenshtein

from .collect import MODES, ClassifiedPath
from .reference import online_farthest


@dataclass(frozen=True)
class SelectOptions:
    max_per_problem: int | None = None
    min_per_problem: int = 1
    seed: int = 0  # extended: the order equal paths are compared in (reference: source order)
    mode: str = "extended"  # "reference": gsm8k-ScRel exactly (loop.rft.reference); "extended": ours
    include_original: bool | None = None  # write each problem's own solution first (None: on in reference mode)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"--mode must be reference or extended, got {self.mode!r}")
        if self.include_original is None:
            object.__setattr__(self, "include_original", self.mode == "reference")
        if self.mode == "reference" and (self.max_per_problem is not None or self.min_per_problem != 1):
            raise ValueError("--max-per-problem and --min-per-problem are not part of the reference algorithm "
                             "(it keeps every distinct path); use --mode extended for them")
        if self.max_per_problem is not None and self.max_per_problem < 1:
            raise ValueError(f"--max-per-problem must be >= 1, got {self.max_per_problem}")
        if self.min_per_problem < 0:
            raise ValueError(f"--min-per-problem must be >= 0, got {self.min_per_problem}")
        if self.max_per_problem is not None and self.min_per_problem > self.max_per_problem:
            raise ValueError(
                f"--min-per-problem ({self.min_per_problem}) is above --max-per-problem ({self.max_per_problem}); "
                "no problem could be kept"
            )


def _total_distance(text: str, kept: Sequence[ClassifiedPath]) -> int:
    return sum(Levenshtein.distance(text, k.text) for k in kept)


def dedupe_farthest(paths: Sequence[ClassifiedPath], rng: random.Random) -> list[ClassifiedPath]:
    """One path per key (steps 1-2 of the module doc), in the order they were kept."""
    order = list(paths)
    rng.shuffle(order)
    groups: dict[str, list[ClassifiedPath]] = {}
    for p in order:
        assert p.key is not None, "only correct paths (with a key) are selected"
        groups.setdefault(p.key, []).append(p)
    kept: list[ClassifiedPath] = [g[0] for g in groups.values() if len(g) == 1]
    for g in groups.values():
        if len(g) > 1:
            best = max(range(len(g)), key=lambda i: (_total_distance(g[i].text, kept), -i))
            kept.append(g[best])
    return kept


def farthest_subset(paths: Sequence[ClassifiedPath], n: int) -> list[ClassifiedPath]:
    """``n`` of ``paths``: the first, then repeatedly the one farthest (in total) from those chosen."""
    if len(paths) <= n:
        return list(paths)
    chosen = [paths[0]]
    rest = list(paths[1:])
    totals = [Levenshtein.distance(p.text, chosen[0].text) for p in rest]
    while len(chosen) < n:
        i = max(range(len(rest)), key=lambda j: (totals[j], -j))
        new = rest.pop(i)
        totals.pop(i)
        chosen.append(new)
        totals = [t + Levenshtein.distance(p.text, new.text) for t, p in zip(totals, rest)]
    return chosen


def select_problem(paths: Sequence[ClassifiedPath], options: SelectOptions, rng: random.Random) -> list[ClassifiedPath]:
    """The kept paths of one problem (empty if fewer than ``min_per_problem``)."""
    correct = [p for p in paths if p.status == "correct"]
    if options.mode == "reference":  # source order as pooled (sources as given, samples by index)
        return online_farthest(correct, key=lambda p: p.key or "", text=lambda p: p.text)
    kept = dedupe_farthest(correct, rng)
    if options.max_per_problem is not None:
        kept = farthest_subset(kept, options.max_per_problem)
    return kept if len(kept) >= max(options.min_per_problem, 1) else []


def select_all(by_group: dict[str, list[ClassifiedPath]], options: SelectOptions) -> dict[str, list[ClassifiedPath]]:
    """Kept paths per problem group. Each problem draws from its own generator, seeded by
    ``seed`` and the problem, so adding a problem does not change another's selection."""
    out: dict[str, list[ClassifiedPath]] = {}
    for group, paths in by_group.items():
        rng = random.Random(f"{options.seed}:{group}")
        out[group] = select_problem(paths, options, rng)
    return out
