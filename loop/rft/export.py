"""Writing the training set: chat-format JSONL plus a sidecar JSON of counts.

Each line: ``{"messages": [<the task's prompt messages>..., {"role": "assistant", "content":
<kept response>}], "problem_id", "source", "sample_index", "turn", "key_id", "equations"}``;
with ``include_original`` (on in ``--mode reference``) each problem's own solution comes first
(``source`` "original", ``sample_index`` and ``turn`` null).
``messages`` is the conversational format that ``datasets.load_dataset("json", ...)`` reads
and TRL's ``SFTTrainer`` trains on (it drops the other columns). The sidecar
(``<out stem>.stats.json``) holds the options, the sources, the counts (total and per source:
candidates, correct, dropped for arithmetic, distinct keys, only this source, kept), the
distinct-paths-by-k table and, per problem, how many paths were kept.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from .collect import ClassifiedPath, Pool, PoolProblem, load_pool
from .select import SelectOptions, select_all
from .stats import KTable, SourceCounts, distinct_paths_by_k, source_counts, total_counts


@dataclass(frozen=True)
class RFTResult:
    pool: Pool
    options: SelectOptions
    kept: dict[str, list[ClassifiedPath]]  # problem group -> kept paths, in kept order
    totals: dict[str, int]
    per_source: dict[str, SourceCounts]

    def k_table(self) -> KTable:
        return distinct_paths_by_k(self.pool)


def build_rft(run_dirs: Sequence[str | Path], options: SelectOptions = SelectOptions(), progress: bool = True) -> RFTResult:
    """Read, classify, pool and select: everything but writing."""
    pool = load_pool(run_dirs, progress=progress, mode=options.mode)
    kept = select_all(pool.by_group(), options)
    totals = total_counts(pool, kept, options.min_per_problem, bool(options.include_original), options.mode)
    return RFTResult(pool, options, kept, totals, source_counts(pool, kept))


ORIGINAL = "original"  # the source label of a problem's own solution


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def training_rows(result: RFTResult) -> Iterator[dict[str, Any]]:
    """Per problem: its own solution first (``include_original``; every problem, also one with
    nothing kept, as the reference writes it), then the kept paths in kept order."""
    problems: dict[str, PoolProblem] = {p.group: p for p in result.pool.problems}
    for group, paths in result.kept.items():
        prob = problems[group]
        if result.options.include_original and prob.original is not None:
            yield {
                "messages": [*({"role": m["role"], "content": m["content"]} for m in prob.prompt),
                             {"role": "assistant", "content": prob.original}],
                "problem_id": prob.problem_id,
                "source": ORIGINAL,
                "sample_index": None,
                "turn": None,
                "key_id": key_id(prob.original_key or ""),
                "equations": list(prob.original_equations),
            }
        for p in paths:
            yield {
                "messages": [*({"role": m["role"], "content": m["content"]} for m in prob.prompt),
                             {"role": "assistant", "content": p.text}],
                "problem_id": prob.problem_id,
                "source": p.source,
                "sample_index": p.sample_index,
                "turn": p.turn,
                "key_id": key_id(p.key or ""),
                "equations": list(p.equations),
            }


def stats_path(out: Path) -> Path:
    return out.with_name(out.stem + ".stats.json")


def sidecar(result: RFTResult) -> dict[str, Any]:
    table = result.k_table()
    return {
        "options": asdict(result.options),
        "sources": [{"label": s.label, "run_dir": s.run_dir, "task": s.task, "kind": s.kind,
                     "model": s.config.get("model"), "sampler": s.config.get("sampler"),
                     "samples_per_problem": table.samples.get(s.label, 0)} for s in result.pool.sources],
        "counts": result.totals,
        "per_source": {k: v.as_dict() for k, v in result.per_source.items()},
        "distinct_paths_by_k": {"k": list(table.ks), "rows": {src: [row[k] for k in table.ks] for src, row in table.rows.items()}},
        "kept_per_problem": {g: len(v) for g, v in result.kept.items() if v},
    }


def write_export(result: RFTResult, out: str | Path) -> tuple[Path, Path, int]:
    """Write the JSONL and its sidecar; returns (jsonl path, sidecar path, rows written)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in training_rows(result):
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(out)
    side = stats_path(out)
    side.write_text(json.dumps(sidecar(result), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out, side, n
