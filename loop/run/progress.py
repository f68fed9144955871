"""What a run shows while it works: three counters of :class:`~loop.progress.ProgressBars`.

* ``generate``: samples generated, with tokens/s; its total is every turn-0 sample plus every
  follow-up turn decided so far (a multi-turn run's total grows as the verifier asks for more),
* ``judge``: candidates judged (oracle and feedback verifier); the same total,
* ``trajectories``: trajectories finished, out of problems x n: its ETA is the run's.

Each shows its rate and time left measured over this whole start of the run (not the current
call); what a resumed run finds in the store counts as done, not toward the rate.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..progress import Counter, ProgressBars


@dataclass(frozen=True)
class RunProgress:
    generate: Counter
    judge: Counter
    trajectories: Counter

    @classmethod
    def on(cls, bars: ProgressBars, trajectories: int) -> "RunProgress":
        """The run's counters on ``bars`` for ``trajectories`` = problems x n."""
        return cls(bars.counter("generate", total=trajectories), bars.counter("judge", total=trajectories),
                   bars.counter("trajectories", total=trajectories))

    @classmethod
    def off(cls, trajectories: int = 0) -> "RunProgress":
        """Counters that count and draw nothing."""
        return cls.on(ProgressBars(enabled=False), trajectories)

    def restored(self, generated: int, judged: int, finished: int, followups: int) -> None:
        """What the store held at start: candidates ``generated`` (of which ``judged``),
        trajectories ``finished``, and ``followups``: turns after the first, generated or decided."""
        self.scheduled(followups)
        for c, k in ((self.generate, generated), (self.judge, judged), (self.trajectories, finished)):
            c.done_before(k)

    def generated(self, samples: int, tokens: int) -> None:
        self.generate.advance(samples, tokens=tokens)

    def scheduled(self, samples: int) -> None:
        """``samples`` more turns were decided (they are generated, then judged)."""
        if samples:
            self.generate.grow(samples)
            self.judge.grow(samples)

    def judged(self, candidates: int, finished: int) -> None:
        self.judge.advance(candidates)
        self.trajectories.advance(finished)
