"""Reading verified runs into classified reasoning paths (the input of RFT selection).

Each candidate of each run is classified once: ``failed`` / ``unjudged`` by the run's oracle,
``arithmetic`` (math: passed, but an equation in it is wrong), or ``correct`` (kept as a
candidate path, with its key). Problems are pooled across runs by id and prompt: the same
GSM8K question sampled by two models is one problem; two different datasets that both number
their problems from 0 are not.

``mode="reference"`` (GSM8K, one turn) classifies as gsm8k-ScRel does (``loop.rft.reference``):
correct by the reference's ``#### x`` rule, equations = the ``<<...>>`` annotations only, each
held to the absolute 1e-3 rule, key = the annotations joined by ``|`` without spaces. The run
oracle's verdict is kept beside (``ClassifiedPath.oracle``) and disagreements are counted.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from sandbox.registry import UnknownNameError
from verifiers import Problem

from ..progress import ProgressBars
from ..store import RunStore, StoreError
from ..tasks import Task, get_task
from .equations import extract_equations, wrong_steps
from .keys import code_key, equations_key
from .reference import annotation_key, reference_correct, sound

CODE_TASKS = frozenset({"mbppplus", "humanevalplus"})
UNSUPPORTED_TASKS = frozenset({"swe"})
STATUSES = ("correct", "arithmetic", "failed", "unjudged")
MODES = ("reference", "extended")
REFERENCE_TASKS = frozenset({"gsm8k"})


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
    original: str | None = None  # the dataset's own solution, as a candidate would write it
    original_key: str | None = None
    original_equations: tuple[str, ...] = ()


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
    oracle: bool | None = None  # the run's oracle verdict (reference mode judges by its own rule)


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


def classify_reference(text: str, gold_text: str) -> tuple[str, str | None, tuple[str, ...], tuple[str, ...]]:
    """(status, key, annotations, failing annotations) of one candidate, as gsm8k-ScRel does."""
    if not reference_correct(text, gold_text):
        return "failed", None, (), ()
    ok, found, bad = sound(text)
    if not ok:
        return "arithmetic", None, tuple(found), tuple(bad)
    return "correct", annotation_key(found), tuple(found), ()


def reference_gold(problem: Problem) -> str:
    """The problem's gold solution text, with its ``#### x`` (a bare answer gets one)."""
    text = str(problem.reference)
    return text if "####" in text else "#### " + text.strip()


def path_key(text: str, kind: str, mode: str, entry_point: str | None) -> tuple[str, tuple[str, ...]]:
    """(key, equations) of a text as a path of this kind would be keyed (for the originals)."""
    if mode == "reference":
        _, found, _ = sound(text)
        return annotation_key(found), tuple(found)
    if kind == "code":
        return code_key(text, entry_point), ()
    eqs = extract_equations(text)
    return equations_key(eqs), tuple(e.text for e in eqs)


def original_text(task: Task | None, problem: Problem) -> str | None:
    """The task's own solution of ``problem`` as a candidate would write it (None if the task
    cannot say)."""
    if task is None:
        return None
    try:
        text = task.reference_text(problem)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return text or None


def task_or_none(name: str) -> Task | None:
    """The task ``name`` (for its ``reference_text``), None where it is not installed here."""
    try:
        return get_task(name)
    except (UnknownNameError, KeyError, TypeError, ValueError):
        return None


def _kind(task: str, problems: Iterable[Problem], run_dir: Path) -> str:
    if task in UNSUPPORTED_TASKS:
        raise RFTError(f"{run_dir}: task {task!r} is not supported by rft (math and code tasks are)")
    if task in CODE_TASKS or any("entry_point" in p.meta for p in problems):
        return "code"
    return "math"


def load_pool(run_dirs: Sequence[str | Path], progress: bool = True, mode: str = "extended") -> Pool:
    """Read and classify every candidate of every run (one source per run), as ``mode`` says."""
    if mode not in MODES:
        raise RFTError(f"mode must be reference or extended, got {mode!r}")
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
                task = str(config.get("task", "?"))
                if mode == "reference" and task not in REFERENCE_TASKS:
                    raise RFTError(f"{run_dir}: --mode reference reproduces gsm8k-ScRel, which is defined for "
                                   f"gsm8k runs; this is a {task!r} run: use --mode extended")
                oracle = next((n for n, v in store.verifiers().items() if v["role"] == "oracle"), None)
                if oracle is None:
                    raise RFTError(f"{run_dir}: no oracle verdicts stored; run `fireassay verify` or `fireassay run` first")
                run_problems = store.problems()
                kind = _kind(task, run_problems, run_dir)
                if sources and kind != sources[0].kind:
                    raise RFTError(f"{run_dir}: a {kind} run cannot be pooled with {sources[0].kind} runs ({sources[0].run_dir})")
                sources.append(Source(label, str(run_dir), task, kind, config))
                groups: dict[str, tuple[str, str | None]] = {}
                golds: dict[str, str] = {}
                task_obj = task_or_none(task)
                for p in run_problems:
                    h = _prompt_hash(p.prompt)
                    first = ids_seen.setdefault(p.id, h)
                    group = p.id if first == h else f"{p.id}@{h}"
                    if (p.id, h) not in problems:
                        original = original_text(task_obj, p)
                        okey, oeqs = (path_key(original, kind, mode, p.meta.get("entry_point"))
                                      if original is not None else (None, ()))
                        problems[(p.id, h)] = PoolProblem(group, p.id, tuple(dict(m) for m in p.prompt),
                                                          original, okey, oeqs)
                    groups[p.id] = (group, p.meta.get("entry_point"))
                    golds[p.id] = reference_gold(p)
                verdicts = store.verdicts(oracle)
                cands = store.candidates()
                if mode == "reference" and any(c.turn > 0 for c in cands):
                    raise RFTError(f"{run_dir}: --mode reference reproduces gsm8k-ScRel, which has one response per "
                                   "problem and sample; this run has later turns: use --mode extended")
                bar = bars.counter(f"classifying {label}", total=len(cands))
                for c in cands:
                    v = verdicts.get(c.key)
                    group, entry = groups[c.problem_id]
                    passed = v.passed if v else None
                    if mode == "reference":
                        status, key, eqs, wrong = classify_reference(c.text, golds[c.problem_id])
                    else:
                        status, key, eqs, wrong = classify(c.text, passed, kind, entry)
                    paths.append(ClassifiedPath(group, label, c.sample_index, c.turn, status, c.text, key, eqs,
                                                wrong, passed))
                    bar.advance()
    return Pool(tuple(sources), tuple(problems.values()), tuple(paths))
