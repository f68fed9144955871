"""The sampling loop: generate, verify, feed back, repeat — with the model and the verifiers
working at the same time, and every candidate and verdict committed as it appears.

Two worker threads share one condition variable:

* the generation thread takes follow-up turns first (they finish trajectories, which keeps
  memory bounded), else starts new problems while fewer than ``max_in_flight`` trajectories
  are open; it commits each batch of candidates, then hands them to
* the verification thread, which judges them with the oracle and the feedback verifier,
  commits the verdicts, and queues another turn for trajectories that failed the feedback.

The state is rebuilt from the store at start, so a fresh run and a resumed run are the same
code path: what is stored is never generated or judged again, and seeds depend only on
(run seed, problem position, sample index, turn), so a resumed run samples what a clean run
would have where the engine is deterministic.

Batched engines are deterministic per *call* at best (llama.cpp's and vLLM's numbers depend on
which sequences share a batch), so what goes into one generation call never depends on timing:
turn 0 of problem group ``g`` (positions ``g*gen_batch ...``) is one call, and the follow-ups
of group ``g`` after turn ``t`` are one call, made once every turn-``t`` candidate of the group
is judged, in (problem, sample) order. Each unit is committed in one transaction, so a resumed
run rebuilds exactly these units. With ``gen_workers`` > 1 (engine replicas on a cluster) that
many generation threads take units side by side; a unit is still one call, so which thread or
replica drew it never changes its texts.
"""
from __future__ import annotations

import dataclasses
import threading
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Sequence

from verifiers import Candidate, Problem, Verdict, Verifier

from ..engines import Completion, Engine, SamplingParams
from ..samplers import derive_seed, parse_sampler
from ..store import RunStore
from ..tasks import RETRY_FEEDBACK, UNSPECIFIED_FEEDBACK
from .config import RunConfig
from .progress import RunProgress

_SAMPLING_KEYS = {f.name for f in dataclasses.fields(SamplingParams)}


@dataclass
class Trajectory:
    problem: Problem
    position: int
    sample_index: int
    texts: list[str] = field(default_factory=list)  # one per turn so far
    feedback: list[str] = field(default_factory=list)  # feedback after each judged turn

    def messages(self) -> list[dict[str, str]]:
        msgs = [dict(m) for m in self.problem.prompt]
        for text, fb in zip(self.texts, self.feedback):
            msgs.append({"role": "assistant", "content": text})
            msgs.append({"role": "user", "content": fb})
        return msgs


class RunLoop:
    def __init__(
        self,
        cfg: RunConfig,
        store: RunStore,
        engine: Engine,
        problems: Sequence[Problem],
        oracle: tuple[str, Verifier],
        feedback: tuple[str, Verifier] | None,
        progress: RunProgress | None = None,
        gen_workers: int = 1,
    ) -> None:
        self.cfg = cfg
        self.gen_workers = max(1, int(gen_workers))
        self.store = store
        self.engine = engine
        self.problems = list(problems)
        self.position = {p.id: i for i, p in enumerate(self.problems)}
        self.oracle_name, self.oracle = oracle
        self.feedback_name, self.feedback_verifier = feedback if feedback else (None, None)
        self.first_sampler = parse_sampler(cfg.sampler, max_tokens=cfg.max_tokens, **cfg.sampler_params)
        if cfg.fire_turns == "all" or cfg.max_turns == 1:
            self.later_sampler = self.first_sampler
        else:
            regular = {k: v for k, v in cfg.sampler_params.items() if k in _SAMPLING_KEYS}
            self.later_sampler = parse_sampler("regular", max_tokens=cfg.max_tokens, **regular)
        self.progress = progress if progress is not None else RunProgress.off(len(self.problems) * cfg.n)
        self.cv = threading.Condition()
        self.pending: deque[Problem] = deque()
        self.followups: deque[list[Trajectory]] = deque()  # units: one generation call each
        # unit (group, turn): candidates in it, how many are judged, who wants another turn
        self.unit_size: dict[tuple[int, int], int] = defaultdict(int)
        self.unit_judged: dict[tuple[int, int], int] = defaultdict(int)
        self.unit_next: dict[tuple[int, int], list[Trajectory]] = defaultdict(list)
        self.to_verify: list[tuple[Trajectory, Candidate]] = []
        self.in_flight = 0
        self.gen_busy = 0  # generation threads inside a call
        self.verify_busy = False
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.tokens = 0
        self.stats = {"generated": 0, "verified": 0, "finished": 0}

    # -- state from the store ------------------------------------------------------------------
    def _restore(self) -> None:
        cands: dict[tuple[str, int], list[Candidate]] = defaultdict(list)
        for c in self.store.candidates():
            cands[(c.problem_id, c.sample_index)].append(c)
        oracle_v = self.store.verdicts(self.oracle_name)
        fb_v = self.store.verdicts(self.feedback_name) if self.feedback_name else {}
        started = {pid for pid, _ in cands}
        self.restored = len(cands)  # trajectories already begun in the store
        stored, later_turns = 0, 0
        for p in self.problems:
            if p.id not in started:
                self.pending.append(p)
        for (pid, idx), cs in cands.items():
            if pid not in self.position:
                continue
            cs.sort(key=lambda c: c.turn)
            stored += len(cs)
            later_turns += len(cs) - 1
            traj = Trajectory(self.problems[self.position[pid]], self.position[pid], idx)
            for c in cs[:-1]:
                traj.texts.append(c.text)
                traj.feedback.append(self._feedback_text(oracle_v.get(c.key), fb_v.get(c.key)))
            last = cs[-1]
            traj.texts.append(last.text)
            unit = (self._group(traj.position), last.turn)
            self.unit_size[unit] += 1
            judged = last.key in oracle_v and (self.feedback_name is None or last.key in fb_v)
            if not judged:
                self.to_verify.append((traj, last))
                self.in_flight += 1
                continue
            self.unit_judged[unit] += 1
            if self._wants_another_turn(last.turn, oracle_v[last.key], fb_v.get(last.key)):
                traj.feedback.append(self._feedback_text(oracle_v[last.key], fb_v.get(last.key)))
                self.unit_next[unit].append(traj)
                self.in_flight += 1
        for unit in sorted(self.unit_size):
            self._maybe_release(unit)
        decided = self.in_flight - len(self.to_verify)  # another turn decided, not generated yet
        self.progress.restored(generated=stored, judged=stored - len(self.to_verify),
                               finished=self.restored - self.in_flight, followups=later_turns + decided)

    # -- units ------------------------------------------------------------------------------------
    def _group(self, position: int) -> int:
        return position // self.cfg.gen_batch

    def _maybe_release(self, unit: tuple[int, int]) -> None:
        """Once every candidate of ``unit`` is judged, queue its follow-ups as one call."""
        if self.unit_judged.get(unit, 0) < self.unit_size.get(unit, 0):
            return
        nxt = sorted(self.unit_next.pop(unit, []), key=lambda t: (t.position, t.sample_index))
        self.unit_size.pop(unit, None)
        self.unit_judged.pop(unit, None)
        if nxt:
            self.followups.append(nxt)

    # -- feedback policy -------------------------------------------------------------------------
    def _wants_another_turn(self, turn: int, oracle_v: Verdict | None, fb_v: Verdict | None) -> bool:
        if turn + 1 >= self.cfg.max_turns:
            return False
        if self.feedback_name is not None:
            return fb_v is not None and fb_v.passed is not True
        if self.cfg.feedback == "retry":
            return oracle_v is not None and oracle_v.passed is False
        return False

    def _feedback_text(self, oracle_v: Verdict | None, fb_v: Verdict | None) -> str:
        if self.feedback_name is not None:
            return fb_v.feedback if fb_v is not None and fb_v.feedback else UNSPECIFIED_FEEDBACK
        return RETRY_FEEDBACK

    # -- generation ----------------------------------------------------------------------------
    def _candidate(self, traj: Trajectory, turn: int, comp: Completion, seed: int | None) -> Candidate:
        meta = {k: v for k, v in comp.meta.items() if k != "sampler"}
        meta.update(finish_reason=comp.finish_reason, prompt_tokens=comp.prompt_tokens, tokens=comp.completion_tokens)
        return Candidate(
            problem_id=traj.problem.id, sample_index=traj.sample_index, turn=turn, text=comp.text,
            token_ids=tuple(comp.token_ids), logprobs=comp.token_logprobs, sampler=comp.meta.get("sampler", {}),
            engine=f"{self.cfg.engine}:{self.engine.model_name}", seed=seed, meta=meta,
        )

    def _generate_initial(self, problems: list[Problem]) -> list[tuple[Trajectory, Candidate]]:
        seeds = [derive_seed(self.cfg.seed, self.position[p.id]) for p in problems]
        rows = self.first_sampler.sample(self.engine, [list(p.prompt) for p in problems], self.cfg.n, seeds)
        out = []
        for p, seed, row in zip(problems, seeds, rows):
            for idx, comp in enumerate(row):
                traj = Trajectory(p, self.position[p.id], idx, texts=[comp.text])
                out.append((traj, self._candidate(traj, 0, comp, seed)))
        return out

    def _generate_followups(self, trajs: list[Trajectory]) -> list[tuple[Trajectory, Candidate]]:
        turns = [len(t.texts) for t in trajs]
        seeds = [derive_seed(self.cfg.seed, t.position, t.sample_index, turn) for t, turn in zip(trajs, turns)]
        rows = self.later_sampler.sample(self.engine, [t.messages() for t in trajs], 1, seeds)
        out = []
        for t, turn, seed, row in zip(trajs, turns, seeds, rows):
            t.texts.append(row[0].text)
            out.append((t, self._candidate(t, turn, row[0], seed)))
        return out

    def _done(self) -> bool:
        return not (self.pending or self.followups or self.to_verify or self.gen_busy or self.verify_busy)

    def _gen_worker(self) -> None:
        try:
            while True:
                with self.cv:
                    while not self.stop.is_set():
                        if self._done():
                            self.cv.notify_all()
                            return
                        if self.followups or (self.pending and self.in_flight < self.cfg.max_in_flight):
                            break
                        self.cv.wait(0.5)
                    if self.stop.is_set():
                        return
                    if self.followups:
                        batch_f = self.followups.popleft()
                        batch_p: list[Problem] = []
                    else:
                        batch_f = []
                        group = self._group(self.position[self.pending[0].id])
                        batch_p = []
                        while self.pending and self._group(self.position[self.pending[0].id]) == group:
                            batch_p.append(self.pending.popleft())
                        self.in_flight += len(batch_p) * self.cfg.n
                    self.gen_busy += 1
                made = self._generate_followups(batch_f) if batch_f else self._generate_initial(batch_p)
                self.store.add_candidates([c for _, c in made])  # committed before anyone judges it
                toks = sum(int(c.meta.get("tokens", 0)) for _, c in made)
                with self.cv:
                    for t, c in made:
                        self.unit_size[(self._group(t.position), c.turn)] += 1
                    self.to_verify.extend(made)
                    self.gen_busy -= 1
                    self.tokens += toks
                    self.stats["generated"] += len(made)
                    self.cv.notify_all()
                self.progress.generated(len(made), toks)
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            self._fail(e)

    # -- verification --------------------------------------------------------------------------
    def _judge(self, batch: list[tuple[Trajectory, Candidate]]) -> None:
        groups: dict[str, list[tuple[Trajectory, Candidate]]] = defaultdict(list)
        for t, c in batch:
            groups[c.problem_id].append((t, c))
        items = [(g[0][0].problem, [c for _, c in g]) for g in groups.values()]
        oracle_out = self.oracle.verify_many(items)
        fb_out = self.feedback_verifier.verify_many(items) if self.feedback_verifier is not None else None
        for gi, g in enumerate(groups.values()):
            self.store.add_verdicts(self.oracle_name, [(c, v) for (_, c), v in zip(g, oracle_out[gi])])
            if fb_out is not None:
                self.store.add_verdicts(self.feedback_name, [(c, v) for (_, c), v in zip(g, fb_out[gi])])
        finished, again = 0, 0
        with self.cv:
            for gi, g in enumerate(groups.values()):
                for j, (t, c) in enumerate(g):
                    ov = oracle_out[gi][j]
                    fv = fb_out[gi][j] if fb_out is not None else None
                    unit = (self._group(t.position), c.turn)
                    self.unit_judged[unit] += 1
                    if self._wants_another_turn(c.turn, ov, fv):
                        t.feedback.append(self._feedback_text(ov, fv))
                        self.unit_next[unit].append(t)
                        again += 1
                    else:
                        self.in_flight -= 1
                        finished += 1
                    self._maybe_release(unit)
            self.stats["verified"] += len(batch)
            self.stats["finished"] += finished
        self.progress.scheduled(again)
        self.progress.judged(len(batch), finished)

    def _verify_worker(self) -> None:
        try:
            while True:
                with self.cv:
                    while not self.to_verify and not self.stop.is_set():
                        if self._done():
                            self.cv.notify_all()
                            return
                        self.cv.wait(0.5)
                    if self.stop.is_set():
                        return
                    batch = self.to_verify[: self.cfg.verify_batch]
                    del self.to_verify[: self.cfg.verify_batch]
                    self.verify_busy = True
                try:
                    self._judge(batch)
                finally:
                    with self.cv:
                        self.verify_busy = False
                        self.cv.notify_all()
        except BaseException as e:  # noqa: BLE001
            self._fail(e)

    # -- driving -------------------------------------------------------------------------------
    def _fail(self, e: BaseException) -> None:
        with self.cv:
            if self.error is None:
                self.error = e
            self.stop.set()
            self.cv.notify_all()

    def run(self) -> dict[str, int]:
        """Run to completion; raises the first worker error (everything stored is kept).
        ``KeyboardInterrupt`` stops both workers after their current batch."""
        self.store.register_verifier(self.oracle_name, "oracle", self.oracle.uses_reference, self.oracle.subset_rule)
        if self.feedback_verifier is not None:
            self.store.register_verifier(self.feedback_name, "feedback", self.feedback_verifier.uses_reference,
                                         self.feedback_verifier.subset_rule)
        self._restore()
        threads = [threading.Thread(target=self._gen_worker, name=f"generate-{i}", daemon=True)
                   for i in range(self.gen_workers)]
        threads.append(threading.Thread(target=self._verify_worker, name="verify", daemon=True))
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
        except KeyboardInterrupt:
            self.stop.set()
            with self.cv:
                self.cv.notify_all()
            for t in threads:
                t.join()
            raise
        if self.error is not None:
            raise self.error
        return dict(self.stats, tokens=self.tokens)

    def totals(self) -> dict[str, int]:
        return {"trajectories": len(self.problems) * self.cfg.n}
