"""Logic of the sampling loop (turns, feedback policy, crash + resume) with a FAKE engine.
The real-model, real-sandbox kill/resume test is tests/test_run_resume_kill.py."""
from __future__ import annotations

import hashlib
from typing import ClassVar

import pytest

from loop.engines.base import Completion, Engine
from loop.run.config import RunConfig
from loop.run.loop import RunLoop
from loop.run.progress import RunProgress
from loop.store import DB_NAME, RunStore
from loop.tasks import RETRY_FEEDBACK, get_task


class FakeAnswerEngine(Engine):
    """FAKE engine: answers 'The answer is X' with X a hash of (prompt, seed, i); can crash."""

    name: ClassVar[str] = "fake"
    model_name = "fake-model"

    def __init__(self, crash_after_calls: int | None = None) -> None:
        self.calls = 0
        self.crash_after_calls = crash_after_calls
        self.prompts: list[tuple[int, ...]] = []
        self.batches: list[tuple] = []  # what each successful call held: (prompt, seed, n)

    def generate(self, requests):  # type: ignore[override]
        if self.crash_after_calls is not None and self.calls >= self.crash_after_calls:
            raise RuntimeError("fake engine crash")
        self.calls += 1
        self.batches.append(tuple((tuple(r.prompt_token_ids), r.seed, r.n) for r in requests))
        out = []
        for r in requests:
            self.prompts.append(tuple(r.prompt_token_ids))
            row = []
            for i in range(r.n):
                h = int(hashlib.sha256(f"{r.prompt_token_ids}|{r.seed}|{i}".encode()).hexdigest(), 16)
                text = f"The answer is {h % 4 + 16}."  # gold of GSM8K problem 0 is 18
                row.append(Completion(text, (h % 50, 7), "stop", len(r.prompt_token_ids), 2))
            out.append(row)
        return out

    def chat_token_ids(self, messages, add_generation_prompt=True):  # type: ignore[override]
        text = "".join(m["role"] + m["content"] for m in messages)
        return [int(hashlib.sha256(text.encode()).hexdigest()[:6], 16), len(messages)]

    def tokenize(self, text):  # type: ignore[override]
        return [1] * len(text.split())

    def detokenize(self, token_ids):  # type: ignore[override]
        return f"<{token_ids[0]}>" if token_ids else ""


def _run(tmp, shared_data, engine, cfg, resume=False, progress=None):
    task = get_task("gsm8k", data=shared_data / "gsm8k" / "test.jsonl")
    problems = task.load(limit=cfg.limit)
    store = RunStore.open(tmp) if resume else RunStore.create(tmp, cfg.stored())
    store.add_problems(problems)
    try:
        RunLoop(cfg, store, engine, problems, ("gsm8k", task.oracle()), None, progress).run()
    finally:
        rows = {c.key: c.text for c in store.candidates()}
        verdicts = {k: v.passed for k, v in store.verdicts("gsm8k").items()}
        store.close()
    return rows, verdicts


def _cfg(**kw):
    base = dict(task="gsm8k", limit=6, n=4, max_turns=3, feedback="retry", gen_batch=2, verify_batch=3,
                show_progress=False, max_in_flight=8)
    base.update(kw)
    return RunConfig(**base)


def test_multi_turn_retry_stops_at_first_pass_and_after_t_turns(tmp_path, shared_data):
    rows, verdicts = _run(tmp_path / "a", shared_data, FakeAnswerEngine(), _cfg())
    assert set(rows) == set(verdicts)  # the oracle judged every turn
    trajs: dict = {}
    for (pid, idx, turn) in rows:
        trajs.setdefault((pid, idx), []).append(turn)
    assert len(trajs) == 6 * 4
    for (pid, idx), turns in trajs.items():
        turns.sort()
        assert turns == list(range(len(turns))) and len(turns) <= 3
        passed = [verdicts[(pid, idx, t)] for t in turns]
        assert all(p is False for p in passed[:-1])  # continued only after a failure
        if len(turns) < 3:
            assert passed[-1] is True  # stopped early only on a pass
    assert any(len(t) > 1 for t in trajs.values())


def test_follow_up_prompts_carry_the_conversation(tmp_path, shared_data):
    engine = FakeAnswerEngine()
    _run(tmp_path / "a", shared_data, engine, _cfg(limit=2, n=2))
    # chat_token_ids encodes the number of messages: turn t has 1 + 2t messages
    assert {p[1] for p in engine.prompts} <= {1, 3, 5} and 3 in {p[1] for p in engine.prompts}


def test_single_turn_and_no_feedback_never_continue(tmp_path, shared_data):
    rows, _ = _run(tmp_path / "a", shared_data, FakeAnswerEngine(), _cfg(feedback="none"))
    assert {k[2] for k in rows} == {0} and len(rows) == 24


@pytest.mark.parametrize("crash_after", [1, 3, 6])
def test_crash_then_resume_equals_clean_run(tmp_path, shared_data, crash_after):
    clean_rows, clean_v = _run(tmp_path / "clean", shared_data, FakeAnswerEngine(), _cfg())
    with pytest.raises(RuntimeError, match="fake engine crash"):
        _run(tmp_path / "crashed", shared_data, FakeAnswerEngine(crash_after_calls=crash_after), _cfg())
    with RunStore.open(tmp_path / "crashed") as s:
        kept = s.count_candidates()
    assert 0 < kept < len(clean_rows)  # what was made before the crash is kept, the rest is not
    rows, verdicts = _run(tmp_path / "crashed", shared_data, FakeAnswerEngine(), _cfg(), resume=True)
    assert rows == clean_rows
    assert verdicts == clean_v


@pytest.mark.parametrize("crash_after", [2, 5])
def test_generation_calls_hold_the_same_samples_in_clean_and_resumed_runs(tmp_path, shared_data, crash_after):
    """Batched engines are deterministic per call at best: which samples share a call must not
    depend on timing (verification speed) or on where a run was cut."""
    calls = []
    for name in ("a", "b"):  # two clean runs: verification timing differs, calls do not
        engine = FakeAnswerEngine()
        _run(tmp_path / name, shared_data, engine, _cfg())
        calls.append(sorted(engine.batches))
    assert calls[0] == calls[1]
    first, second = FakeAnswerEngine(crash_after_calls=crash_after), FakeAnswerEngine()
    with pytest.raises(RuntimeError, match="fake engine crash"):
        _run(tmp_path / "cut", shared_data, first, _cfg())
    _run(tmp_path / "cut", shared_data, second, _cfg(), resume=True)
    assert sorted(first.batches + second.batches) == calls[0]
    # each call is one unit: one problem group's turn 0, or its follow-ups after one turn
    assert all(len({b[1] for b in batch}) == len(batch) for batch in calls[0])


def test_progress_counts_generation_judging_and_turns_for_the_whole_run(tmp_path, shared_data):
    """The run's bars: generated samples with their tokens, judged candidates, finished
    trajectories; follow-up turns join both totals as they are decided, so at the end each
    total is what was done; a resumed start counts the store's work as done, not in its rate."""
    p = RunProgress.off(6 * 4)
    rows, _ = _run(tmp_path / "a", shared_data, FakeAnswerEngine(), _cfg(), progress=p)
    assert len(rows) > 24  # some trajectories took more turns
    assert p.generate.completed == p.generate.total == p.judge.completed == p.judge.total == len(rows)
    assert p.generate.tokens == 2 * len(rows)  # the fake engine's 2 tokens per sample
    assert p.trajectories.completed == p.trajectories.total == 24
    with pytest.raises(RuntimeError, match="fake engine crash"):
        _run(tmp_path / "b", shared_data, FakeAnswerEngine(crash_after_calls=4), _cfg())
    with RunStore.open(tmp_path / "b") as s:
        kept = s.count_candidates()
    q = RunProgress.off(6 * 4)
    again, _ = _run(tmp_path / "b", shared_data, FakeAnswerEngine(), _cfg(), resume=True, progress=q)
    assert again == rows
    assert q.generate.base == kept and q.generate.completed == q.generate.total == len(rows)
    assert q.judge.completed == q.judge.total == len(rows) and q.trajectories.completed == 24
    assert q.generate.tokens == 2 * (len(rows) - kept)  # only what this start generated


def test_retry_feedback_text_is_fixed_and_gold_flagged():
    assert "not correct" in RETRY_FEEDBACK


def test_report_shows_compute_spent_and_per_turn_rates(tmp_path, shared_data):
    from loop.analysis.load import load_run_data
    from loop.report import ReportConfig, build_report, write_report

    _run(tmp_path / "one", shared_data, FakeAnswerEngine(), _cfg(max_turns=1))
    _run(tmp_path / "three", shared_data, FakeAnswerEngine(), _cfg(max_turns=3))
    runs = [load_run_data(tmp_path / "one"), load_run_data(tmp_path / "three")]
    report = build_report(runs, ReportConfig(progress=False, bootstrap=50))
    one, three = (r.to_dict()["compute_matched"] for r in report.runs)
    assert one["calls_per_trajectory"] == 1.0 and 1.0 < three["calls_per_trajectory"] <= 3.0
    assert one["tokens_per_trajectory"] == 2.0  # the fake engine makes 2 tokens per call
    turns = three["per_turn"]
    assert [t["turn"] for t in turns] == [0, 1, 2]
    assert turns[0]["candidates"] == 24 and turns[1]["candidates"] == 24 - turns[0]["passed"]
    assert turns[0]["solved_by_turn"] <= turns[1]["solved_by_turn"] <= turns[2]["solved_by_turn"]
    # a trajectory counts as covered if any of its turns passed the oracle
    assert report.runs[1].to_dict()["coverage"]["1"] == turns[2]["solved_by_turn"]
    paths = write_report(report, tmp_path / "rep")
    assert any(p.name == "coverage_vs_calls.png" for p in paths)
    assert "Per-turn pass rates" in (tmp_path / "rep" / "report.md").read_text()


# -- issue 16 item 14: --sweep ------------------------------------------------------------------

def _sweep_base(shared_data, **kw):
    return _cfg(max_turns=1, limit=3, n=2, data=str(shared_data / "gsm8k" / "test.jsonl"), **kw)


def _texts(run_dir):
    with RunStore.open(run_dir) as s:
        return {c.key: (c.text, c.seed) for c in s.candidates()}, s.config()


def test_sweep_one_subrun_per_value_same_problems_and_seeds(tmp_path, shared_data):
    from loop.run import Sweep, execute_sweep

    sweep = Sweep.parse("temperature=0.4, 0.7,1.0")
    assert sweep.values == (0.4, 0.7, 1.0)
    r = execute_sweep(_sweep_base(shared_data), sweep, tmp_path / "sw", engine=FakeAnswerEngine())
    subs = [tmp_path / "sw" / f"temperature={v}" for v in ("0.4", "0.7", "1.0")]
    got = [_texts(s) for s in subs]
    assert [c["sampler_params"]["temperature"] for _, c in got] == [0.4, 0.7, 1.0]
    assert [c["sweep"] for _, c in got] == [{"key": "temperature", "value": v} for v in (0.4, 0.7, 1.0)]
    assert got[0][0] == got[1][0] == got[2][0] and len(got[0][0]) == 6  # same problems, same seeds
    md = (tmp_path / "sw" / "report" / "report.md").read_text()
    assert "## Sweep: temperature" in md and "sw temperature=0.7" in md
    assert (tmp_path / "sw" / "report" / "sweep_temperature.png").exists()
    assert (tmp_path / "sw" / "report" / "coverage.png").exists() and r.report is not None


def test_sweep_crash_then_resume_equals_a_clean_sweep(tmp_path, shared_data):
    from loop.run import RunError, Sweep, execute_sweep, read_sweep

    sweep = Sweep.parse("temperature=0.4,1.0")
    execute_sweep(_sweep_base(shared_data, report=False), sweep, tmp_path / "clean", engine=FakeAnswerEngine())
    with pytest.raises(RuntimeError, match="fake engine crash"):  # dies inside the second sub-run
        execute_sweep(_sweep_base(shared_data, report=False), sweep, tmp_path / "crash",
                      engine=FakeAnswerEngine(crash_after_calls=3))
    assert (tmp_path / "crash" / "temperature=0.4" / DB_NAME).exists()
    base, stored = read_sweep(tmp_path / "crash")
    assert stored == sweep and base.sampler_params["temperature"] == 0.7 and not base.report
    engine = FakeAnswerEngine()
    execute_sweep(base, stored, tmp_path / "crash", resume=True, engine=engine)
    for v in ("0.4", "1.0"):
        assert _texts(tmp_path / "crash" / f"temperature={v}")[0] == _texts(tmp_path / "clean" / f"temperature={v}")[0]
    assert engine.calls <= 2  # the finished first sub-run generated nothing again
    with pytest.raises(RunError, match="not empty"):
        execute_sweep(_sweep_base(shared_data), sweep, tmp_path / "crash", engine=FakeAnswerEngine())


def test_sweep_settings_are_checked_before_anything_is_written(tmp_path, shared_data):
    from loop.run import RunError, Sweep, execute_sweep

    for text, message in (("hot_temperature=1,30", "hot_temperature"), ("temperature=0.5,-1", "temperature"),
                          ("temperature", "KEY=V1,V2"), ("temperature=0.5,0.5", "twice"),
                          ("temperature=0.5,hot", "not a number"), ("../x=1,2", "not a parameter name"),
                          ("temperature=1,nan", "not a number|finite")):
        with pytest.raises((RunError, ValueError), match=message):
            execute_sweep(_sweep_base(shared_data), Sweep.parse(text), tmp_path / "bad", engine=FakeAnswerEngine())
        assert not (tmp_path / "bad").exists()
