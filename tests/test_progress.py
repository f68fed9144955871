"""The one progress helper (loop/progress.py): counters count whether or not bars are drawn;
drawn, a bar shows its name, done/total and its note."""
from __future__ import annotations

import io

from rich.console import Console

from loop.progress import EtaColumn, ProgressBars


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


class FakeClock:
    """FAKE clock: time moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_and_eta_are_measured_over_the_whole_life_not_counting_work_done_before():
    clock = FakeClock()
    with ProgressBars(enabled=False, clock=clock) as bars:
        c = bars.counter("generate", total=100, completed=20)  # 20 found done (a resumed run)
        assert c.rate() is None and c.eta() is None  # nothing measured yet
        clock.now += 5
        c.advance(10, tokens=500)
        assert c.rate() == 2.0 and c.token_rate() == 100.0
        assert c.eta() == 35.0  # 70 left at 2/s
        clock.now += 15  # a long call: nothing done for 15 s, the rate drops with it
        c.advance(10, tokens=500)
        assert c.rate() == 1.0 and c.eta() == 60.0
        c.grow(40)  # more turns decided: the total grows, so does the time left
        assert c.total == 140 and c.eta() == 100.0
        c.done_before(5)  # found done, not done by this start: the rate stays
        assert c.completed == 45 and c.rate() == 1.0
        c.advance(95)
        assert c.eta() == 0.0
    assert "tok/s" in c.rate_text()


def test_bars_show_rate_tokens_per_second_and_a_counting_down_eta():
    clock = FakeClock()
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=160, color_system=None)
    bars = ProgressBars(console=console, clock=clock)
    c = bars.counter("generate", total=100)
    clock.now += 10
    c.advance(20, tokens=3000)  # 2 samples/s, 300 tok/s: 80 left is 40 s
    task = next(t for t in c.progress.tasks if t.id == c.task)
    col = EtaColumn(clock)
    assert col.render(task).plain == "eta 0:40"
    clock.now += 15  # 15 s into the next call: the clock runs down
    assert col.render(task).plain == "eta 0:25"
    clock.now += 60  # past the guess: it stays at zero, not negative
    assert col.render(task).plain == "eta 0:00"
    with bars:
        pass
    text = buf.getvalue()
    assert "300 tok/s" in text and "2.0/s" in text and "20/100" in text and "eta" in text
