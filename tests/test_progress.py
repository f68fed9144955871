"""The one progress helper (loop/progress.py): counters count whether or not bars are drawn;
drawn, a bar shows its name, done/total and its note."""
from __future__ import annotations

import io

from rich.console import Console

from loop.progress import ProgressBars


def test_counters_count_with_bars_off():
    with ProgressBars(enabled=False) as bars:
        c = bars.counter("judging", total=10)
        c.advance(3)
        c.advance()
        c.note("ignored")
    assert c.completed == 4 and bars.counters["judging"] is c


def test_bars_draw_name_count_and_note():
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120, color_system=None)
    with ProgressBars(console=console) as bars:
        samples = bars.counter("samples")  # no known total
        done = bars.counter("trajectories", total=10)
        done.advance(3)
        samples.advance(7)
        samples.note("1,234 tok/s")
        done.describe("trajectories of run a")
    text = buf.getvalue()
    assert "trajectories of run a" in text and "3/10" in text
    assert "1,234 tok/s" in text and "samples" in text
