"""Counts about a pool: per source, what was sampled, correct, dropped, distinct, unique to it,
kept; and the RFT paper's table of distinct reasoning paths per problem against k samples."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from .collect import ClassifiedPath, Pool

K_VALUES = (1, 3, 6, 12, 25, 50, 100)


@dataclass(frozen=True)
class SourceCounts:
    candidates: int = 0
    correct: int = 0  # the oracle passed it (arithmetic drops included)
    unjudged: int = 0
    dropped_arithmetic: int = 0
    distinct_keys: int = 0  # distinct (problem, key) among its correct paths
    only_this_source: int = 0  # ... that no other source produced
    kept: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def source_counts(pool: Pool, kept: dict[str, list[ClassifiedPath]]) -> dict[str, SourceCounts]:
    keys_by_source: dict[str, set[tuple[str, str]]] = defaultdict(set)
    sources_of_key: dict[tuple[str, str], set[str]] = defaultdict(set)
    raw: dict[str, dict[str, int]] = {s.label: defaultdict(int) for s in pool.sources}
    for p in pool.paths:
        r = raw[p.source]
        r["candidates"] += 1
        r["correct"] += p.status in ("correct", "arithmetic")
        r["unjudged"] += p.status == "unjudged"
        r["dropped_arithmetic"] += p.status == "arithmetic"
        if p.status == "correct" and p.key is not None:
            keys_by_source[p.source].add((p.group, p.key))
            sources_of_key[(p.group, p.key)].add(p.source)
    for paths in kept.values():
        for p in paths:
            raw[p.source]["kept"] += 1
    out = {}
    for label, r in raw.items():
        keys = keys_by_source[label]
        out[label] = SourceCounts(
            candidates=r["candidates"], correct=r["correct"], unjudged=r["unjudged"],
            dropped_arithmetic=r["dropped_arithmetic"], distinct_keys=len(keys),
            only_this_source=sum(1 for k in keys if sources_of_key[k] == {label}), kept=r["kept"],
        )
    return out


def total_counts(pool: Pool, kept: dict[str, list[ClassifiedPath]], min_per_problem: int,
                 include_original: bool = False, mode: str = "extended") -> dict[str, int]:
    correct_groups = {p.group for p in pool.paths if p.status == "correct"}
    extra: dict[str, int] = {}
    if include_original:  # every problem's own solution, written first
        extra["originals"] = sum(1 for p in pool.problems if p.original is not None)
    if mode == "reference":  # the reference's '#### x' rule and the run's oracle disagree
        extra["oracle_disagrees"] = sum(
            (p.oracle is True) != (p.status in ("correct", "arithmetic")) for p in pool.paths)
    return extra | {
        "problems": len(pool.problems),
        "candidates": len(pool.paths),
        "correct": sum(p.status in ("correct", "arithmetic") for p in pool.paths),
        "unjudged": sum(p.status == "unjudged" for p in pool.paths),
        "dropped_arithmetic": sum(p.status == "arithmetic" for p in pool.paths),
        "distinct_keys": len({(p.group, p.key) for p in pool.paths if p.status == "correct"}),
        "kept": sum(len(v) for v in kept.values()),
        "problems_with_correct": len(correct_groups),
        "problems_kept": sum(1 for v in kept.values() if v),
        "problems_below_min": sum(1 for g in correct_groups if not kept.get(g)) if min_per_problem > 1 else 0,
    }


def _trajectories(paths: Sequence[ClassifiedPath]) -> dict[int, list[ClassifiedPath]]:
    out: dict[int, list[ClassifiedPath]] = defaultdict(list)
    for p in paths:
        out[p.sample_index].append(p)
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class KTable:
    ks: tuple[int, ...]
    rows: dict[str, dict[int, float | None]]  # source label (and "pooled") -> k -> mean distinct paths
    samples: dict[str, int]  # source label -> samples per problem (max)


def distinct_paths_by_k(pool: Pool, ks: Sequence[int] = K_VALUES) -> KTable:
    """Mean number of distinct correct keys per problem among each source's first k samples
    (trajectories in sample order, every turn of a trajectory included); ``pooled`` takes the
    first k of every source (all of a source with fewer). Columns: the ``ks`` up to the largest
    n, and each source's n. A cell is None where the source has fewer than k samples."""
    per: dict[str, dict[str, dict[int, list[ClassifiedPath]]]] = defaultdict(dict)  # source -> group -> trajs
    by_source: dict[str, dict[str, list[ClassifiedPath]]] = defaultdict(lambda: defaultdict(list))
    for p in pool.paths:
        by_source[p.source][p.group].append(p)
    for src, groups in by_source.items():
        for g, paths in groups.items():
            per[src][g] = _trajectories(paths)
    samples = {s.label: max((len(t) for t in per[s.label].values()), default=0) for s in pool.sources}
    n_max = max(samples.values(), default=0)
    cols = sorted({k for k in ks if k <= n_max} | {n for n in samples.values() if n})

    def distinct(trajs: dict[int, list[ClassifiedPath]], k: int) -> set[str]:
        first = list(trajs.values())[:k]
        return {p.key for t in first for p in t if p.status == "correct" and p.key is not None}

    rows: dict[str, dict[int, float | None]] = {}
    for s in pool.sources:
        groups = per[s.label]
        rows[s.label] = {
            k: (sum(len(distinct(t, k)) for t in groups.values()) / len(groups) if groups and k <= samples[s.label] else None)
            for k in cols
        }
    if len(pool.sources) > 1:
        all_groups = [p.group for p in pool.problems]
        rows["pooled"] = {
            k: sum(len(set().union(*(distinct(per[s.label][g], k) for s in pool.sources if g in per[s.label])))
                   for g in all_groups) / max(len(all_groups), 1)
            for k in cols
        }
    return KTable(tuple(cols), rows, samples)
