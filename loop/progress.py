"""Progress on the terminal: one helper for every long stage of fireassay (sampling, judging,
building a report, reading runs for RFT).

    with ProgressBars(enabled=show_progress) as bars:
        done = bars.counter("trajectories", total=400)
        done.advance(8)
        done.note("1,234 tok/s")

A :class:`ProgressBars` holds named counters, each drawn as one bar on stderr (rich): its
description, the bar, ``done/total``, a free-text note, time elapsed and time left. Disabled (or
given nothing to count), it draws nothing and its counters still count, so callers never branch
on whether a terminal is there. To show more per counter (a rate, an ETA over several
counters), add a field to :class:`Counter` and a column in :meth:`ProgressBars._columns`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


@dataclass(eq=False)
class Counter:
    """One named count shown as a bar; ``total`` None: no known end (the bar pulses)."""

    name: str
    total: int | None = None
    completed: int = 0
    progress: Progress | None = field(default=None, repr=False)  # where it is drawn (None: nowhere)
    task: TaskID | None = field(default=None, repr=False)

    def advance(self, steps: int = 1) -> None:
        self.completed += steps
        self._draw(advance=steps)

    def describe(self, text: str) -> None:
        """Replace the text in front of the bar (e.g. which run and selector is being done)."""
        self._draw(description=text)

    def note(self, text: str) -> None:
        """Free text after the count (e.g. a rate)."""
        self._draw(note=text)

    def _draw(self, **fields: Any) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, **fields)


class ProgressBars:
    """Named counters drawn as progress bars on stderr; nothing is drawn when ``enabled`` is
    False. ``transient``: the bars vanish when the block ends (for stages inside a command)."""

    def __init__(self, enabled: bool = True, transient: bool = False, console: Console | None = None) -> None:
        self.enabled = enabled
        self.counters: dict[str, Counter] = {}
        self._progress: Progress | None = None
        if enabled:
            self._progress = Progress(*self._columns(), console=console or Console(stderr=True),
                                      transient=transient)

    @staticmethod
    def _columns() -> tuple[ProgressColumn, ...]:
        # names and notes may hold user text (a selector's as=NAME): shown as written, never as markup
        return (TextColumn("{task.description}", style="bold", markup=False), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[note]}", markup=False), TimeElapsedColumn(), TimeRemainingColumn())

    def counter(self, name: str, total: int | None = None, completed: int = 0) -> Counter:
        """A new counter ``name`` (its bar appears now)."""
        task = None
        if self._progress is not None:
            task = self._progress.add_task(name, total=total, completed=completed, note="")
        c = Counter(name, total, completed, self._progress, task)
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
