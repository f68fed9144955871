"""Progress on the terminal: one helper for every long stage of fireassay (sampling, judging,
building a report, reading runs for RFT).

    with ProgressBars(enabled=show_progress) as bars:
        done = bars.counter("trajectories", total=400)
        done.advance(8, tokens=1_234)     # 8 items, and the tokens they took (optional)
        done.grow(16)                     # the total grew (e.g. follow-up turns were decided)
        done.note("run a")

A :class:`ProgressBars` holds named counters, each drawn as one bar on stderr (rich): its
description, the bar, ``done/total``, its rate (items/s, and tokens/s for a counter that counts
tokens), a free-text note, time elapsed and time left. Disabled (or given nothing to count), it
draws nothing and its counters still count, so callers never branch on whether a terminal is
there.

Rate and time left are the counter's own measurement over its whole life, not over the last few
seconds: ``rate = items done since the counter was made / seconds since``, ``eta = (total -
done) / rate``. Work done before (a resumed run's stored samples, given as ``completed``) counts
toward ``done`` but not toward the rate. Between two advances the time left counts down, so a
long generation call shows the clock running rather than a frozen guess.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

Clock = Callable[[], float]


def format_duration(seconds: float) -> str:
    """``h:mm:ss`` (``m:ss`` under an hour)."""
    s = max(0, int(round(seconds)))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass(eq=False)
class Counter:
    """One named count shown as a bar; ``total`` None: no known end (the bar pulses, no ETA).

    ``base``: what was already ``completed`` when the counter was made (not part of the rate);
    ``tokens``: tokens counted with :meth:`advance` (shown as tokens/s when any)."""

    name: str
    total: int | None = None
    completed: int = 0
    progress: Progress | None = field(default=None, repr=False)  # where it is drawn (None: nowhere)
    task: TaskID | None = field(default=None, repr=False)
    clock: Clock = field(default=time.monotonic, repr=False)
    started: float = 0.0
    base: int = 0
    tokens: int = 0

    def __post_init__(self) -> None:
        self.started = self.clock()
        self.base = self.completed

    # -- counting ---------------------------------------------------------------------------
    def advance(self, steps: int = 1, tokens: int = 0) -> None:
        """``steps`` more items done, which took ``tokens`` tokens (0: not counted)."""
        self.completed += steps
        self.tokens += tokens
        self._draw(advance=steps)

    def done_before(self, steps: int) -> None:
        """``steps`` items found done already (a resumed run's): counted, not part of the rate."""
        self.completed += steps
        self.base += steps
        self._draw(completed=self.completed)

    def grow(self, steps: int) -> None:
        """The total grew by ``steps`` (work found along the way, e.g. another turn)."""
        self.total = (self.total or 0) + steps
        self._draw(total=self.total)

    def describe(self, text: str) -> None:
        """Replace the text in front of the bar (e.g. which run and selector is being done)."""
        self._draw(description=text)

    def note(self, text: str) -> None:
        """Free text after the rate (e.g. which run)."""
        self._draw(note=text)

    # -- measuring --------------------------------------------------------------------------
    def elapsed(self) -> float:
        return max(0.0, self.clock() - self.started)

    def rate(self) -> float | None:
        """Items per second since the counter was made; None before the first item."""
        done, dt = self.completed - self.base, self.elapsed()
        return done / dt if done > 0 and dt > 0 else None

    def token_rate(self) -> float | None:
        """Tokens per second since the counter was made; None when no tokens were counted."""
        dt = self.elapsed()
        return self.tokens / dt if self.tokens > 0 and dt > 0 else None

    def eta(self) -> float | None:
        """Seconds left at the measured rate; None without a total or a rate; 0 when done."""
        if self.total is None:
            return None
        left = self.total - self.completed
        if left <= 0:
            return 0.0
        r = self.rate()
        return left / r if r else None

    def rate_text(self) -> str:
        parts = []
        r = self.rate()
        if r is not None:
            parts.append(f"{r:,.1f}/s" if r < 100 else f"{r:,.0f}/s")
        t = self.token_rate()
        if t is not None:
            parts.append(f"{t:,.0f} tok/s")
        return "  ".join(parts)

    def _draw(self, **fields: Any) -> None:
        if self.progress is None or self.task is None:
            return
        eta = self.eta()
        # the moment the counter expects to be done; the ETA column counts down to it
        self.progress.update(self.task, rate=self.rate_text(),
                             eta_at=None if eta is None else self.clock() + eta, **fields)


class EtaColumn(ProgressColumn):
    """Time left from the counter's own whole-life rate (``Counter.eta``), counting down
    between advances; ``-:--`` while unknown."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock

    def render(self, task: Task) -> Text:
        at = task.fields.get("eta_at")
        if task.finished:
            return Text("done", style="progress.remaining")
        if at is None:
            return Text("eta -:--", style="progress.remaining")
        return Text(f"eta {format_duration(max(0.0, at - self.clock()))}", style="progress.remaining")


class ProgressBars:
    """Named counters drawn as progress bars on stderr; nothing is drawn when ``enabled`` is
    False. ``transient``: the bars vanish when the block ends (for stages inside a command).
    ``clock``: where time comes from (tests give a fake one)."""

    def __init__(self, enabled: bool = True, transient: bool = False, console: Console | None = None,
                 clock: Clock = time.monotonic) -> None:
        self.enabled = enabled
        self.clock = clock
        self.counters: dict[str, Counter] = {}
        self._progress: Progress | None = None
        if enabled:
            self._progress = Progress(*self._columns(), console=console or Console(stderr=True),
                                      transient=transient)

    def _columns(self) -> tuple[ProgressColumn, ...]:
        # names and notes may hold user text (a selector's as=NAME): shown as written, never as markup
        return (TextColumn("{task.description}", style="bold", markup=False), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}", markup=False), TextColumn("{task.fields[note]}", markup=False),
                TimeElapsedColumn(),
                EtaColumn(self.clock))

    def counter(self, name: str, total: int | None = None, completed: int = 0) -> Counter:
        """A new counter ``name`` (its bar appears now); ``completed``: done before (not in its rate)."""
        task = None
        if self._progress is not None:
            task = self._progress.add_task(name, total=total, completed=completed, note="", rate="", eta_at=None)
        c = Counter(name, total, completed, self._progress, task, self.clock)
        self.counters[name] = c
        return c

    def __enter__(self) -> "ProgressBars":
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
