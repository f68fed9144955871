"""The view's in-memory index of a run: per problem, the arrays the metrics take and a summary row.

Built one problem at a time from the store (each problem's rows are a primary-key range), and
refreshed incrementally: a refresh asks the store which problems got a candidate or verdict
since the last one (rowids only grow) and re-reads just those. So the problems table and its
filters over 500 problems x 10,000 samples answer from memory, and a live run costs one small
query per refresh.

The arrays follow the report's reading of a store (``loop.rundata.load_run_data``): a
trajectory (problem, sample) counts once, as correct when any of its judged turns passed the
oracle, with its last turn's answer; selectors see the last turn; trajectories whose last turn
is not judged yet are left out. ``tests/test_view_pages.py`` checks that the report built from
:meth:`RunIndex.run_data` equals the one built from ``load_run_data`` on real stores.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..analysis import (
    RunData,
    SelectorData,
    add_judging_meta,
    fire_extra_request,
    fire_hot_meta,
    fire_step_requests,
    selection_per_problem,
    vote_transform,
)
from .source import RunSource, Status, parse_json

PUBLISH_S = 0.5  # how often a long refresh publishes the problems it has read
_TOKENS = "CASE WHEN json_valid(meta) THEN json_extract(meta, '$.tokens') END"
_FIRST = "CASE WHEN json_valid(meta) THEN json_extract(meta, '$.first_token') END"
# a selector's per-candidate weight: details["weight"] when present, else the score (as the report)
_WEIGHT = ("CASE WHEN instr(details, '\"weight\"') > 0 AND json_valid(details) "  # instr: no JSON parse for most rows
           "AND json_type(details, '$.weight') IS NOT NULL THEN json_extract(details, '$.weight') ELSE score END")


def _field(column: str, key: str) -> str:
    """SQL for ``column``'s JSON ``key`` (NULL when absent); rows without the key's name are not parsed."""
    return f"CASE WHEN instr({column}, '{key}') > 0 AND json_valid({column}) THEN json_extract({column}, '$.{key}') END"


# what FIRE's extra first-token request is counted from (loop.analysis.fire_extra_request)
_FIRE = f"{_field('sampler', 'name')}, {_field('sampler', 'sentence')}, {_field('meta', 'hot_position')}"
# fire@step's lines with a hot token (loop.analysis.fire_step_requests)
_STEPS = ("CASE WHEN instr(meta, 'hot_positions') > 0 AND json_valid(meta) "
          "THEN json_array_length(meta, '$.hot_positions') END")


def _float(x: Any) -> float:
    if x is None:
        return math.nan
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def _int(x: Any) -> int:
    try:
        return int(x or 0)
    except (TypeError, ValueError):
        return 0


def _classes(keys: list[Any]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Answer keys -> int64 ids (first appearance; None -> -1) and the label of each id."""
    ids: dict[Any, int] = {}
    out = np.empty(len(keys), dtype=np.int64)
    for i, k in enumerate(keys):
        out[i] = -1 if k is None else ids.setdefault(k, len(ids))
    return out, tuple(str(k) for k in ids)


@dataclass(frozen=True, eq=False)
class SelectorArrays:
    rule: str
    classes: np.ndarray
    labels: tuple[str, ...]
    scores: np.ndarray
    transform: str | None = None  # weighted vote: the transform its verdicts record


@dataclass(frozen=True, eq=False)
class ProblemData:
    """One problem's judged trajectories (store order) and its counts."""

    pid: str
    position: int
    samples: np.ndarray  # sample_index of each judged trajectory
    correct: np.ndarray
    unjudged: np.ndarray
    answers: np.ndarray  # oracle answer class per trajectory (-1 none)
    labels: tuple[str, ...]  # oracle answer class labels
    selectors: dict[str, SelectorArrays]
    tokens: np.ndarray  # generated tokens per judged trajectory, all turns (FIRE's own one-token requests too)
    calls: np.ndarray  # model calls per judged trajectory
    begun: np.ndarray  # sample_index of every trajectory begun (judged or not)
    candidates: int  # all turns
    judged: int  # candidates with an oracle verdict
    generated_tokens: int
    has_tokens: bool
    first_tokens: frozenset
    has_first_tokens: bool
    turns: dict[int, tuple[int, int]]  # turn -> (oracle-judged candidates, passed)
    first_pass: tuple[int | None, ...]  # per trajectory with a judged turn: judged-turn index of its first pass
    max_turn: int
    picks: dict[str, float] = field(default_factory=dict)  # selector -> expected accuracy of its full-set pick
    shared_calls: int = 0  # one-token requests all its trajectories share (FIRE at turn 0)
    answer_format: str | None = None  # how the oracle read answers (its verdicts' details)
    # FIRE's judged turn-0 samples: (with a hot token, of them passed, without one, of them passed)
    fire_hot: tuple[int, int, int, int] = (0, 0, 0, 0)

    @property
    def n(self) -> int:
        return int(self.correct.size)

    @property
    def n_correct(self) -> int:
        return int(np.count_nonzero(self.correct))

    @property
    def n_unjudged(self) -> int:
        return int(np.count_nonzero(self.unjudged))

    def top_class(self, selector: str) -> tuple[str | None, int, bool]:
        """(label, votes, tied) of the selector's largest answer class."""
        s = self.selectors.get(selector)
        if s is None or s.classes.size == 0 or not (s.classes >= 0).any():
            return None, 0, False
        counts = np.bincount(s.classes[s.classes >= 0])
        top = int(counts.max())
        winners = np.flatnonzero(counts == top)
        return s.labels[int(winners[0])], top, winners.size > 1

    def class_table(self) -> list[dict[str, Any]]:
        """Oracle answer classes, largest first: label, count, correct members."""
        out = []
        if self.answers.size:
            real = self.answers >= 0
            counts = np.bincount(self.answers[real], minlength=len(self.labels))
            good = np.bincount(self.answers[real], weights=self.correct[real].astype(float), minlength=len(self.labels))
            for i in np.argsort(-counts, kind="stable"):
                out.append({"index": int(i), "label": self.labels[i], "count": int(counts[i]), "correct": int(good[i])})
            none = int(np.count_nonzero(~real))
            if none:
                out.append({"index": -1, "label": None, "count": none,
                            "correct": int(np.count_nonzero(self.correct[~real]))})
        return out


def load_problem(src: RunSource, pid: str, position: int, oracle: str | None,
                 selectors: Mapping[str, str]) -> ProblemData:
    """Read one problem's rows (primary-key range scans) into :class:`ProblemData`."""
    cands = src.query(f"SELECT sample_index, turn, {_TOKENS}, {_FIRST}, {_FIRE}, {_STEPS} FROM candidates "
                      "WHERE problem_id = ? ORDER BY sample_index, turn", (pid,))
    ov: dict[tuple[int, int], tuple[Any, Any]] = {}
    answer_format = None
    if oracle is not None:
        for s, t, passed, ans, fmt in src.query(
                f"SELECT sample_index, turn, passed, answer, {_field('details', 'answer_format')} FROM verdicts "
                "WHERE problem_id = ? AND verifier = ?", (pid, oracle)):
            ov[(s, t)] = (passed, ans)
            if answer_format is None and isinstance(fmt, str):
                answer_format = fmt
    sv: dict[str, dict[tuple[int, int], tuple[Any, float]]] = {name: {} for name in selectors}
    transforms: dict[str, str] = {}
    if selectors:
        names = list(selectors)
        for name, s, t, ans, w, tf in src.query(
                f"SELECT verifier, sample_index, turn, answer, {_WEIGHT}, {_field('details', 'transform')} "
                f"FROM verdicts WHERE problem_id = ? AND verifier IN ({','.join('?' * len(names))})", (pid, *names)):
            sv[name][(s, t)] = (ans, _float(w))
            if isinstance(tf, str):
                transforms.setdefault(name, tf)
    last: dict[int, int] = {}
    tok: dict[int, int] = {}
    calls: dict[int, int] = {}
    passes: dict[int, list[Any]] = {}
    firsts: set = set()
    turns: dict[int, list[int]] = {}
    shared = 0
    hot_split = [0, 0, 0, 0]
    for s, t, tk, ft, fire_name, fire_sentence, hot, steps in cands:
        last[s] = t
        tok[s] = tok.get(s, 0) + _int(tk)
        calls[s] = calls.get(s, 0) + 1
        extra = fire_extra_request(fire_name, fire_sentence, t, hot)
        if extra == "per_problem":
            shared = 1
        elif extra == "per_candidate":
            calls[s] += 1
            tok[s] += 1
        later = fire_step_requests(fire_name, steps)
        calls[s] += 2 * later
        tok[s] += later
        if t == 0 and ft is not None:
            firsts.add(ft)
        jt = turns.setdefault(t, [0, 0])
        v = ov.get((s, t))
        if v is not None:
            if t == 0 and str(fire_name or "").startswith("fire"):
                at = 0 if hot is not None else 2
                hot_split[at] += 1
                hot_split[at + 1] += v[0] == 1
            passes.setdefault(s, []).append(v[0])
            jt[0] += 1
            jt[1] += v[0] == 1
    finals = [s for s in last if (s, last[s]) in ov]
    correct = np.array([1 in passes[s] for s in finals], dtype=bool)
    unjudged = np.array([(1 not in passes[s]) and (None in passes[s]) for s in finals], dtype=bool)
    answers, labels = _classes([ov[(s, last[s])][1] for s in finals])
    sel: dict[str, SelectorArrays] = {}
    for name, rule in selectors.items():
        got = [sv[name].get((s, last[s])) for s in finals]
        cls, lab = _classes([g[0] if g is not None else None for g in got])
        sel[name] = SelectorArrays(rule, cls, lab, np.array([g[1] if g is not None else math.nan for g in got],
                                                               dtype=float), transforms.get(name))
    first_pass = tuple(next((i for i, p in enumerate(ps) if p == 1), None) for ps in passes.values())
    data = ProblemData(
        pid=pid, position=position, samples=np.array(finals, dtype=np.int64), correct=correct, unjudged=unjudged,
        answers=answers, labels=labels, selectors=sel,
        tokens=np.array([tok[s] for s in finals], dtype=float), calls=np.array([calls[s] for s in finals], dtype=float),
        begun=np.array(list(last), dtype=np.int64), candidates=len(cands), judged=sum(j for j, _ in turns.values()),
        generated_tokens=sum(tok.values()), has_tokens=any(tok.values()), first_tokens=frozenset(firsts),
        has_first_tokens=bool(firsts), turns={t: (j, p) for t, (j, p) in sorted(turns.items())},
        first_pass=first_pass, max_turn=max(last.values(), default=0), shared_calls=shared,
        answer_format=answer_format, fire_hot=(hot_split[0], hot_split[1], hot_split[2], hot_split[3]),
    )
    if data.n:
        for name, s in sel.items():
            res = selection_per_problem(SelectorData(s.rule, [s.classes], [s.scores]), [correct],
                                        np.array([data.n], dtype=np.int64))
            data.picks[name] = float(res.per_problem[0, 0])
    return data


@dataclass(frozen=True)
class ProblemInfo:
    pid: str
    position: int
    prompt_text: str  # lower-cased message contents, for search
    reference: Any


def prompt_search_text(prompt: Any) -> str:
    if isinstance(prompt, list):
        return "\n".join(str(m.get("content", "")) if isinstance(m, dict) else str(m) for m in prompt).lower()
    return str(prompt).lower()


class RunIndex:
    """Everything the pages read about one run, kept current by :meth:`refresh`."""

    def __init__(self, source: RunSource, rid: str, label: str | None = None, min_interval: float = 1.0) -> None:
        self.source = source
        self.rid = rid
        self.min_interval = min_interval
        self._lock = threading.RLock()  # the report cache
        self._refreshing = threading.Lock()
        self.indexing: tuple[int, int] | None = None  # (problems read, to read) while a refresh runs
        self._last = -math.inf
        self.version: tuple[int, int] = (-1, -1)
        self.config: dict[str, Any] = {}
        self.verifiers: dict[str, dict[str, Any]] = {}
        self.oracle: str | None = None
        self.problems: dict[str, ProblemData] = {}
        self.infos: list[ProblemInfo] = []
        self.by_position: dict[int, ProblemInfo] = {}
        self.status = Status("indexing", 0, 0, 0, None, (0, 0))
        self.label = label
        self.sampler_spec: dict[str, Any] | None = None
        self._report_cache: tuple[tuple[int, int], Any] | None = None

    # -- loading ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.label or str(self.config.get("name") or self.source.run_dir.name)

    @property
    def selectors(self) -> dict[str, str]:
        return {n: v["subset_rule"] for n, v in sorted(self.verifiers.items()) if v["role"] == "selector"}

    @property
    def feedback_verifier(self) -> str | None:
        """The verifier whose feedback the model saw between turns (None: retry text or none).
        A selector of the same name (``public_tests``) re-registers it with the selector role, so
        the task's own feedback verifier is asked for too."""
        names = sorted(n for n, v in self.verifiers.items() if v["role"] == "feedback")
        if names:
            return names[0]
        if self.config.get("feedback", "auto") != "auto":
            return None
        try:
            from ..tasks import TASKS

            name = TASKS.get(str(self.config.get("task"))).feedback_name
        except Exception:  # noqa: BLE001 - an unknown or broken task plugin: no feedback verifier known
            return None
        return name if name in self.verifiers else None

    def refresh(self, force: bool = False, progress: Callable[[int, int], None] | None = None) -> bool:
        """Re-read what changed since the last refresh (at most every ``min_interval`` s unless
        forced). Returns True when anything changed. While one thread refreshes, others return at
        once and read what is there: problems are published as they are read (every
        ``PUBLISH_S``), so a large run is browsable while its index is still being built
        (``indexing`` says how far)."""
        if not self._refreshing.acquire(blocking=False):
            return False
        try:
            now = time.monotonic()
            if not force and now - self._last < self.min_interval:
                return False
            self._last = now
            version = self.source.version()
            config = self.source.config()
            verifiers = self.source.verifiers()
            changed_setup = verifiers != self.verifiers
            nprob = self.source.query("SELECT COUNT(*) FROM problems")[0][0]
            if nprob != len(self.infos):
                infos = [ProblemInfo(pid, pos, prompt_search_text(parse_json(prompt, "")), parse_json(ref))
                         for pid, pos, prompt, ref, _ in self.source.problem_rows()]
                self.by_position = {p.position: p for p in infos}
                self.infos = infos
            self.config, self.verifiers = config, verifiers
            self.oracle = self.source.oracle()
            if self.sampler_spec is None:  # the sampler with all its knobs, defaults included
                row = self.source.query("SELECT sampler FROM candidates WHERE turn = 0 LIMIT 1")
                spec = parse_json(row[0][0]) if row else None
                self.sampler_spec = spec if isinstance(spec, dict) else None
            if self.version == version and not changed_setup:
                self.status = self._status()
                return False
            if changed_setup or self.version[0] < 0:
                todo = [p.pid for p in self.infos]
            else:
                changed = self.source.changed_problems(self.version)
                todo = [p.pid for p in self.infos if p.pid in changed]
            pos = {p.pid: p.position for p in self.infos}
            selectors = self.selectors
            fresh: dict[str, ProblemData] = {}
            published = time.monotonic()
            for i, pid in enumerate(todo):
                fresh[pid] = load_problem(self.source, pid, pos[pid], self.oracle, selectors)
                self.indexing = (i + 1, len(todo)) if len(todo) > 1 else None
                if progress is not None:
                    progress(i + 1, len(todo))
                if time.monotonic() - published > PUBLISH_S:  # readers see a new dict, never a changing one
                    self.problems = {**self.problems, **fresh}
                    fresh = {}
                    self.status = self._status()
                    published = time.monotonic()
            self.problems = {**self.problems, **fresh}
            self.version = version
            self.status = self._status()
            return True
        finally:
            self.indexing = None
            self._refreshing.release()

    def _status(self) -> Status:
        problems = self.problems  # one snapshot (refreshes replace the dict, never change it)
        cands = sum(p.candidates for p in problems.values())
        judged = sum(p.judged for p in problems.values())
        trajs = sum(p.begun.size for p in problems.values())
        n = self.config.get("n")
        expected = len(self.infos) * n if self.config.get("command") == "run" and isinstance(n, int) else None
        return Status(self.source.state(self.config, cands, judged, trajs, expected), cands, judged, trajs,
                      expected, self.version)

    # -- reading -------------------------------------------------------------------------------
    def ordered(self) -> list[ProblemData]:
        """Problems with at least one judged trajectory, in store order."""
        problems = self.problems
        return [problems[p.pid] for p in self.infos if p.pid in problems and problems[p.pid].n]

    def run_data(self) -> RunData:
        """The run as the metrics take it (see the module docstring)."""
        problems = self.problems
        probs = [problems[p.pid] for p in self.infos if p.pid in problems and problems[p.pid].n]
        sels = self.selectors
        has_tokens = any(p.has_tokens for p in problems.values())
        turns = sorted({t for p in problems.values() for t in p.turns})
        n_traj = sum(len(p.first_pass) for p in problems.values())
        per_turn = []
        for t in turns:
            j = sum(p.turns.get(t, (0, 0))[0] for p in problems.values())
            ok = sum(p.turns.get(t, (0, 0))[1] for p in problems.values())
            solved = sum(fp is not None and fp <= t for p in problems.values() for fp in p.first_pass)
            per_turn.append({"turn": t, "candidates": j, "passed": ok, "pass_rate": ok / max(1, j),
                             "solved_by_turn": solved / max(1, n_traj)})
        config = self.config
        meta: dict[str, Any] = {
            "run_dir": str(self.source.run_dir), "oracle": self.oracle, "config": config,
            "turns": max((p.max_turn for p in problems.values() if p.candidates), default=0) + 1,
            "generated_tokens": sum(p.generated_tokens for p in problems.values()),
            "sampler": config.get("sampler"), "model": config.get("model_path") or config.get("model"),
            "engine": config.get("engine"), "feedback": config.get("feedback_used"),
        }
        if isinstance(config.get("sweep"), dict):
            meta["sweep"] = config["sweep"]
        fmt = next((p.answer_format for p in problems.values() if p.answer_format is not None), None)
        if fmt is not None:
            meta["answer_format"] = fmt
        counts = np.sum([p.fire_hot for p in problems.values()], axis=0, dtype=np.int64) if problems else np.zeros(4)
        hot = fire_hot_meta(*(int(x) for x in counts))
        if hot is not None:
            meta["fire_hot"] = hot
        add_judging_meta(meta, config)
        if any(p.has_first_tokens for p in problems.values()):
            meta["distinct_first_tokens"] = round(float(np.mean([len(p.first_tokens) for p in probs])), 2)

        def transform(name: str, rule: str) -> str | None:
            found = (p.selectors[name].transform for p in problems.values() if name in p.selectors)
            return vote_transform(rule, next((t for t in found if t is not None), None))

        return RunData(
            name=self.name, task=str(config.get("task", "?")), problem_ids=[p.pid for p in probs],
            correct=[p.correct for p in probs], unjudged=[p.unjudged for p in probs],
            answers=[p.answers for p in probs],
            selectors={name: SelectorData(rule, [_sel(p, name).classes for p in probs],
                                          [_sel(p, name).scores for p in probs], transform=transform(name, rule))
                       for name, rule in sels.items()},
            meta=meta, tokens=[p.tokens for p in probs] if has_tokens else None, calls=[p.calls for p in probs],
            per_turn=per_turn, shared_calls=np.array([float(p.shared_calls) for p in probs]),
        )

    def report(self, name: str | None = None) -> Any:
        """The report's numbers for this run (``loop.report.build_run_report``), cached per version."""
        from ..report import ReportConfig, build_run_report

        with self._lock:
            if self._report_cache is not None and self._report_cache[0] == self.version:
                return self._report_cache[1]
            version = self.version
            data = self.run_data()
            partial = self.indexing is not None
        # the pages show no forecast past n: its problem-bootstrap refits are left out (point fit only)
        cfg = ReportConfig(progress=False, forecast_resamples=0)
        rep = build_run_report(data, cfg, name=name or data.name) if data.problem_ids else None
        if not partial:
            with self._lock:
                self._report_cache = (version, rep)
        return rep


def _sel(p: ProblemData, name: str) -> SelectorArrays:
    """A selector's arrays for a problem (no verdicts: no answers, no scores; e.g. a problem read
    before the selector was registered, until the refresh that follows reads it again)."""
    got = p.selectors.get(name)
    if got is not None:
        return got
    return SelectorArrays("", np.full(p.n, -1, dtype=np.int64), (), np.full(p.n, math.nan))


def run_id(run_dir: Path, taken: set[str]) -> str:
    """A URL-safe id for a run folder, unique among ``taken``."""
    import re

    base = re.sub(r"[^A-Za-z0-9._-]+", "-", run_dir.resolve().name).strip("-.") or "run"
    rid, i = base, 2
    while rid in taken:
        rid, i = f"{base}-{i}", i + 1
    taken.add(rid)
    return rid
