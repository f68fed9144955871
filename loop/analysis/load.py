"""From a run store to the arrays the metrics take (:class:`loop.analysis.metrics.RunData`)."""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from ..store import RunStore, StoreError
from .metrics import RunData, SelectorData, class_ids


def load_run_data(run_dir: str | Path, name: str | None = None, final_turn_only: bool = False) -> RunData:
    """Read one run. Each problem's candidates are its trajectories' samples in store order;
    the oracle decides ``correct``; every stored selector becomes a :class:`SelectorData`.

    With several turns, a trajectory (problem, sample_index) counts as correct when any of its
    turns passed the oracle, and selectors see its last turn.
    """
    with RunStore.open(run_dir) as store:
        config = store.config()
        verifiers = store.verifiers()
        oracles = [n for n, v in verifiers.items() if v["role"] == "oracle"]
        if not oracles:
            raise StoreError(f"{run_dir}: no oracle verdicts stored; run `fireassay verify` or `fireassay run` first")
        oracle = oracles[0]
        ov = store.verdicts(oracle)
        cands = store.candidates()
        last_turn: dict[tuple[str, int], int] = {}
        for c in cands:
            last_turn[(c.problem_id, c.sample_index)] = max(last_turn.get((c.problem_id, c.sample_index), 0), c.turn)
        # a trajectory passed if any turn passed; else unjudged if any turn was; else failed
        turns_passed: dict[tuple[str, int], list[bool | None]] = defaultdict(list)
        for c in cands:
            if c.key in ov:
                turns_passed[(c.problem_id, c.sample_index)].append(ov[c.key].passed)
        traj_pass = {t: True if True in ps else (None if None in ps else False) for t, ps in turns_passed.items()}
        finals = [c for c in cands if c.turn == last_turn[(c.problem_id, c.sample_index)] and c.key in ov]
        by_problem: dict[str, list] = defaultdict(list)
        for c in finals:
            by_problem[c.problem_id].append(c)
        pids = [p.id for p in store.problems() if by_problem.get(p.id)]
        correct, unjudged, answers = [], [], []
        for pid in pids:
            cs = by_problem[pid]
            passed = [traj_pass.get((c.problem_id, c.sample_index)) for c in cs]
            correct.append(np.array([p is True for p in passed], dtype=bool))
            unjudged.append(np.array([p is None for p in passed], dtype=bool))
            answers.append(class_ids([ov[c.key].answer for c in cs]))
        selectors: dict[str, SelectorData] = {}
        for sname, info in verifiers.items():
            if info["role"] != "selector":
                continue
            sv = store.verdicts(sname)
            classes, scores = [], []
            not_grouped: Counter[str] = Counter()
            problems_not_grouped = 0
            for pid in pids:
                cs = by_problem[pid]
                vs = [sv.get(c.key) for c in cs]
                classes.append(class_ids([v.answer if v is not None else None for v in vs]))
                scores.append(np.array([_weight(v) for v in vs], dtype=float))
                left = Counter(_grouping(v) for v in vs if _grouping(v))
                not_grouped += left
                problems_not_grouped += bool(left)
            recorded = next((v.details["transform"] for v in sv.values()
                             if isinstance(v.details, dict) and isinstance(v.details.get("transform"), str)), None)
            selectors[sname] = SelectorData(info["subset_rule"], classes, scores, dict(not_grouped), problems_not_grouped,
                                            transform=vote_transform(info["subset_rule"], recorded))
        traj_tokens: dict[tuple[str, int], int] = defaultdict(int)
        traj_calls: dict[tuple[str, int], int] = defaultdict(int)
        shared: dict[str, int] = defaultdict(int)  # one-token requests a problem's samples share
        firsts: dict[str, set] = defaultdict(set)  # distinct first tokens of turn-0 samples
        hot_split: dict[bool, list[bool]] = {True: [], False: []}  # FIRE turn-0 samples: hot token? -> passed
        for c in cands:
            traj = (c.problem_id, c.sample_index)
            traj_tokens[traj] += int(c.meta.get("tokens", 0) or 0)
            traj_calls[traj] += 1
            spec = c.sampler if isinstance(c.sampler, dict) else {}
            extra = fire_extra_request(spec.get("name"), spec.get("sentence"), c.turn, c.meta.get("hot_position"))
            if extra == "per_problem":
                shared[c.problem_id] = 1
            elif extra == "per_candidate":  # a request of one token, for this candidate alone
                traj_calls[traj] += 1
                traj_tokens[traj] += 1
            steps = c.meta.get("hot_positions")
            later = fire_step_requests(spec.get("name"), len(steps) if isinstance(steps, list) else None)
            traj_calls[traj] += 2 * later
            traj_tokens[traj] += later
            if c.turn == 0 and str(spec.get("name") or "").startswith("fire") and c.key in ov:
                hot_split[c.meta.get("hot_position") is not None].append(ov[c.key].passed is True)
            if c.turn == 0 and c.meta.get("first_token") is not None:
                firsts[c.problem_id].add(c.meta["first_token"])
        has_tokens = any(traj_tokens.values())
        tok_arrays = [np.array([traj_tokens[(c.problem_id, c.sample_index)] for c in by_problem[pid]], dtype=float)
                      for pid in pids] if has_tokens else None
        call_arrays = [np.array([traj_calls[(c.problem_id, c.sample_index)] for c in by_problem[pid]], dtype=float)
                       for pid in pids]
        shared_calls = np.array([float(shared.get(pid, 0)) for pid in pids])
        tokens = list(traj_tokens.values())
        meta = {
            "run_dir": str(run_dir), "oracle": oracle, "config": config,
            "turns": max((c.turn for c in cands), default=0) + 1,
            "generated_tokens": sum(tokens),
            "sampler": config.get("sampler"), "model": config.get("model_path") or config.get("model"), "engine": config.get("engine"),
            "feedback": config.get("feedback_used"),
        }
        if isinstance(config.get("sweep"), dict):  # one value of a sweep (loop.run.sweep)
            meta["sweep"] = config["sweep"]
        fmt = next((v.details["answer_format"] for v in ov.values()
                    if isinstance(v.details, dict) and isinstance(v.details.get("answer_format"), str)), None)
        if fmt is not None:  # how the oracle read answers (GSM8K: flexible or strict)
            meta["answer_format"] = fmt
        hot = fire_hot_meta(len(hot_split[True]), sum(hot_split[True]), len(hot_split[False]), sum(hot_split[False]))
        if hot is not None:
            meta["fire_hot"] = hot
        add_judging_meta(meta, config)
        if firsts:  # mean over problems of the distinct first tokens among their turn-0 samples
            meta["distinct_first_tokens"] = round(float(np.mean([len(firsts[p]) for p in pids])), 2)
        return RunData(
            name=name or config.get("name") or Path(run_dir).name, task=str(config.get("task", "?")),
            problem_ids=pids, correct=correct, unjudged=unjudged, answers=answers, selectors=selectors, meta=meta,
            tokens=tok_arrays, calls=call_arrays, per_turn=per_turn_rates(cands, ov, turns_passed),
            shared_calls=shared_calls,
        )


def fire_extra_request(sampler_name: object, sentence: object, turn: int, hot_position: object) -> str | None:
    """Where FIRE's extra request for the first token's top-k log-probabilities (one request,
    one generated token) was made for a candidate, from what the store records (its sampler's
    name and ``sentence``, its turn, its ``hot_position``): ``"per_problem"`` (FIRE at turn 0:
    one request for the prompt, shared by the problem's n samples), ``"per_candidate"`` (FIRE
    at a later turn: each trajectory's conversation is its own prompt; ``fire@sentence:N``: one
    per sample that reached sentence N, ``hot_position`` set), None (not FIRE, or a
    fire@sentence sample that ended before its hot token)."""
    if not str(sampler_name or "").startswith("fire"):
        return None
    if sentence:  # fire@sentence:N
        return "per_candidate" if hot_position is not None else None
    return "per_problem" if turn == 0 else "per_candidate"


def fire_step_requests(sampler_name: object, hot_positions: int | None) -> int:
    """fire@step's requests beyond its first line's: one per later line (``hot_positions`` counts
    the candidate's lines that got a hot token). Each is a one-token request and a continuation."""
    if sampler_name != "fire@step" or not isinstance(hot_positions, int) or hot_positions < 2:
        return 0
    return hot_positions - 1


def fire_hot_meta(with_hot: int, with_passed: int, without_hot: int, without_passed: int) -> dict | None:
    """FIRE's turn-0 judged samples split by whether they got a hot token (fire@sentence:N: a
    sample that ended before sentence N did not; it is a regular sample): each side's count and
    pass rate, from the counts of samples and of those that passed; None when the run has no
    FIRE sample. FIRE's numbers keep the two apart."""
    if not with_hot and not without_hot:
        return None
    return {
        "with_hot_token": with_hot, "without_hot_token": without_hot,
        "pass_rate_with_hot_token": with_passed / with_hot if with_hot else None,
        "pass_rate_without_hot_token": without_passed / without_hot if without_hot else None,
    }


def add_judging_meta(meta: dict, config: dict) -> None:
    """The rules that judged the run, as its config stores them (e.g. ``timing=evalplus``), into
    ``meta`` (keys already there win)."""
    judging = config.get("judging")
    for rule, value in (judging.items() if isinstance(judging, dict) else ()):
        if isinstance(rule, str) and isinstance(value, str):
            meta.setdefault(rule, value)


def per_turn_rates(cands, oracle_verdicts, turns_passed) -> list[dict]:
    """Per turn: candidates, how many passed the oracle, and the share of trajectories solved by then."""
    turns = sorted({c.turn for c in cands})
    total = max(1, len(turns_passed))
    rows = []
    for t in turns:
        at = [oracle_verdicts[c.key].passed for c in cands if c.turn == t and c.key in oracle_verdicts]
        solved = sum(any(p is True for p in ps[: t + 1]) for ps in turns_passed.values())
        rows.append({"turn": t, "candidates": len(at), "passed": sum(p is True for p in at),
                     "pass_rate": sum(p is True for p in at) / max(1, len(at)), "solved_by_turn": solved / total})
    return rows


def _grouping(v) -> str:
    """Why a vote left this candidate's answer in a class of its own ("" when it did not)."""
    g = v.details.get("grouping", "") if v is not None and isinstance(v.details, dict) else ""
    return g if isinstance(g, str) else ""


def vote_transform(rule: str, recorded: str | None) -> str | None:
    """A weighted vote's transform: as its verdicts record it; stores written before the option
    existed shifted negative scores by the problem's minimum (``shift``)."""
    if rule != "weighted_vote":
        return None
    return recorded if recorded is not None else "shift"


def _weight(v) -> float:
    if v is None:
        return math.nan
    w = v.details.get("weight", v.score) if isinstance(v.details, dict) else v.score
    try:
        return float(w) if w is not None else math.nan
    except (TypeError, ValueError):
        return math.nan
