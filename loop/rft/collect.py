"""Reading verified runs into classified reasoning paths (the input of RFT selection).

Each candidate of each run is classified once: ``failed`` / ``unjudged`` by the run's oracle,
``arithmetic`` (math: passed, but an equation in it is wrong), or ``correct`` (kept as a
candidate path, with its key). Problems are pooled across runs by id and prompt: the same
GSM8K question sampled by two models is one problem; two different datasets that both number
their problems from 0 are not.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from verifiers import Problem

from ..progress import ProgressBars
from ..store import RunStore, StoreError
from .equations import extract_equations, wrong_steps
from .keys import code_key, equations_key

CODE_TASKS = frozenset({"mbppplus", "humanevalplus"})
UNSUPPORTED_TASKS = frozenset({"swe"})
STATUSES = ("correct", "arithmetic", "failed", "unjudged")


class RFTError(ValueError):
    """A user-caused problem with the runs given to ``fireassay rft``."""


@dataclass(frozen=True)
class Source:
    label: str
    run_dir: str
    task: str
    kind: str  # "math" or "code"
    config: Mapping[str, object]


@dataclass(frozen=True)
class PoolProblem:
    group: str  # pooled identity: problem id (+ a prompt hash when ids collide)
    problem_id: str
    prompt: tuple[Mapping[str, str], ...]


@dataclass(frozen=True)
class ClassifiedPath:
    group: str
    source: str
    sample_index: int
    turn: int
    status: str  # one of STATUSES
    text: str
    key: str | None = None  # set for "correct"
    equations: tuple[str, ...] = ()
    wrong: tuple[str, ...] = ()  # the failing equations (status "arithmetic")


@dataclass(frozen=True)
class Pool:
    sources: tuple[Source, ...]
    problems: tuple[PoolProblem, ...]
    paths: tuple[ClassifiedPath, ...]

    def by_group(self) -> dict[str, list[ClassifiedPath]]:
        out: dict[str, list[ClassifiedPath]] = {p.group: [] for p in self.problems}
        for c in self.paths:
            out[c.group].append(c)
        return out


def _prompt_hash(prompt: Sequence[Mapping[str, str]]) -> str:
    blob = json.dumps([dict(m) for m in prompt], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def source_labels(run_dirs: Sequence[Path]) -> list[str]:
    """Each run's label: its directory name, or more of its path where names repeat."""
    labels = [Path(d).resolve().name for d in run_dirs]
    if len(set(labels)) == len(labels):
        return labels
    return [str(Path(d)) for d in run_dirs]


def classify(text: str, passed: bool | None, kind: str, entry_point: str | None) -> tuple[str, str | None, tuple[str, ...], tuple[str, ...]]:
    """(status, key, equations, wrong equations) of one candidate."""
    if passed is None:
        return "unjudged", None, (), ()
    if not passed:
        return "failed", None, (), ()
    if kind == "code":
        return "correct", code_key(text, entry_point), (), ()
    eqs = extract_equations(text)
    bad = wrong_steps(eqs)
    texts = tuple(e.text for e in eqs)
    if bad:
        return "arithmetic", None, texts, tuple(e.text for e in bad)
    return "correct", equations_key(eqs), texts, ()


def _kind(task: str, problems: Iterable[Problem], run_dir: Path) -> str:
    if task in UNSUPPORTED_TASKS:
        raise RFTError(f"{run_dir}: task {task!r} is not supported by rft (math and code tasks are)")
    if task in CODE_TASKS or any("entry_point" in p.meta for p in problems):
        return "code"
    return "math"


def load_pool(run_dirs: Sequence[str | Path], progress: bool = True) -> Pool:
    """Read and classify every candidate of every run (one source per run)."""
    if not run_dirs:
        raise RFTError("give at least one run directory")
    dirs = [Path(d) for d in run_dirs]
    if len({d.resolve() for d in dirs}) != len(dirs):
        raise RFTError("a run directory is given twice; pool each run once")
    labels = source_labels(dirs)
    sources: list[Source] = []
    problems: dict[tuple[str, str], PoolProblem] = {}
    ids_seen: dict[str, str] = {}  # problem id -> prompt hash of its first occurrence
    paths: list[ClassifiedPath] = []
    with ProgressBars(enabled=progress, transient=True) as bars:
        for run_dir, label in zip(dirs, labels):
            try:
                store = RunStore.open(run_dir)
            except StoreError as e:
                raise RFTError(str(e)) from None
            with store:
                config = store.config()
                oracle = next((n for n, v in store.verifiers().items() if v["role"] == "oracle"), None)
                if oracle is None:
                    raise RFTError(f"{run_dir}: no oracle verdicts stored; run `fireassay verify` or `fireassay run` first")
                run_problems = store.problems()
                task = str(config.get("task", "?"))
                kind = _kind(task, run_problems, run_dir)
                if sources and kind != sources[0].kind:
                    raise RFTError(f"{run_dir}: a {kind} run cannot be pooled with {sources[0].kind} runs ({sources[0].run_dir})")
                sources.append(Source(label, str(run_dir), task, kind, config))
                groups: dict[str, tuple[str, str | None]] = {}
                for p in run_problems:
                    h = _prompt_hash(p.prompt)
                    first = ids_seen.setdefault(p.id, h)
                    group = p.id if first == h else f"{p.id}@{h}"
                    problems.setdefault((p.id, h), PoolProblem(group, p.id, tuple(dict(m) for m in p.prompt)))
                    groups[p.id] = (group, p.meta.get("entry_point"))
                verdicts = store.verdicts(oracle)
                cands = store.candidates()
                bar = bars.counter(f"classifying {label}", total=len(cands))
                for c in cands:
                    v = verdicts.get(c.key)
                    group, entry = groups[c.problem_id]
                    status, key, eqs, wrong = classify(c.text, v.passed if v else None, kind, entry)
                    paths.append(ClassifiedPath(group, label, c.sample_index, c.turn, status, c.text, key, eqs, wrong))
                    bar.advance()
    return Pool(tuple(sources), tuple(problems.values()), tuple(paths))
