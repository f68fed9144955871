"""Pure logic of verifiers.code.execution: result parsing, batching, limits."""
from __future__ import annotations

import json

import pytest

from verifiers.code.execution import CallGroup, CodeLimits, make_batches, parse_runner_output


def line(nonce: str, obj, values=()) -> bytes:
    """A runner result line: the header and the framed value texts (``vlen`` set here)."""
    from sandbox.runner import frame_result

    values = [json.dumps(v).encode() for v in values]
    it = iter(values)
    for o in obj.get("outputs", []):
        if o.get("s") == "ok":
            o["vlen"] = len(next(it))
    return frame_result(nonce, obj, values)


def test_only_lines_with_the_nonce_count():
    good = {"id": "p", "load": None, "outputs": [{"s": "ok", "t": 0.1}]}
    forged = {"id": "q", "load": None, "outputs": [{"s": "ok"}]}
    out = b"\n".join([
        b"noise", line("f" * 32, dict(forged), [1]), line("abc", dict(forged), [1])[:-3],
        b"FIREASSAY-RESULT abc", line("abc", good, [{"tuple": [1]}]), line("abc", {"id": 3, "outputs": []}),
    ])
    res = parse_runner_output(out, "abc", ["p", "q"])
    assert set(res) == {"p"}  # q's line has the wrong nonce or is cut short
    assert res["p"].outcomes[0].value == (1,) and res["p"].loaded


def test_undecodable_value_becomes_unserializable_and_statuses_map():
    obj = {"id": "p", "load": None, "outputs": [
        {"s": "ok"}, {"s": "timeout", "wall": 1.0},
        {"s": "error", "kind": "ValueError", "message": "m", "traceback": "tb"}, {"s": "??"}]}
    r = parse_runner_output(line("n", obj, [{"bogus": 1}]), "n", ["p"])["p"]
    assert [o.status for o in r.outcomes] == ["ok", "timeout", "error", "crash"]
    assert type(r.outcomes[0].value).__name__ == "Unserializable"
    assert r.outcomes[2].error_kind == "ValueError"
    load = parse_runner_output(line("n", {"id": "p", "load": {"kind": "SyntaxError"}, "outputs": []}), "n",
                               ["p"])["p"]
    assert not load.loaded and load.load_error["kind"] == "SyntaxError"


def test_fields_the_host_cannot_digest_fail_their_own_call_only():
    big = 10 ** 400
    obj = {"id": "p", "load": None, "outputs": [
        {"s": "ok", "t": big, "cpu": big}, {"s": "error", "kind": ["x"], "message": {"m": 1},
                                            "t": -big}, {"s": "ok", "t": 0.1}]}
    r = parse_runner_output(line("n", obj, [3, 4]), "n", ["p"])["p"]
    assert [(o.status, o.seconds) for o in r.outcomes] == [("ok", 0.0), ("error", 0.0),
                                                           ("ok", 0.1)]
    assert r.outcomes[0].cpu_seconds is None and r.outcomes[1].error_kind == "error"


def test_batches_cover_every_program_once():
    groups = [CallGroup(f"f{i}", ({"list": []},), (1.0,),
                        tuple((f"g{i}p{j}", "code") for j in range(n)), 3.0)
              for i, n in enumerate([1, 5, 40, 2])]
    batches = make_batches(groups, workers=2, max_programs=6)
    ids = [pid for b in batches for g in b for pid, _ in g.programs]
    assert sorted(ids) == sorted(pid for g in groups for pid, _ in g.programs)
    assert all(sum(len(g.programs) for g in b) <= 6 for b in batches)
    assert make_batches([], 2, 6) == []


def test_batches_balance_estimated_cost_heaviest_first():
    # one slow problem (2 s per program) and many fast ones: the slow programs spread out
    slow = CallGroup("slow", ({"list": []},), (8.0,), tuple((f"s{j}", "c") for j in range(4)),
                     10.0, cost_s=2.0)
    fast = CallGroup("fast", ({"list": []},), (1.0,), tuple((f"f{j}", "c") for j in range(40)),
                     3.0, cost_s=0.05)
    batches = make_batches([fast, slow], workers=2, max_programs=32)
    assert len(batches) == 4  # two per worker
    cost = [sum(g.program_cost() * len(g.programs) for g in b) for b in batches]
    assert cost == sorted(cost, reverse=True)
    assert max(cost) - min(cost) <= 2.1 + 1e-9  # within one slow program (LPT bound)
    assert [sum(g.entry_point == "slow" for g in b) for b in batches] == [1, 1, 1, 1]
    # longest first onto the lightest batch: 3,2,2,1,1,1 splits 5/5 (round robin gives 6/4)
    mixed = [CallGroup(f"g{c}{k}", ({"list": []},), (1.0,), ((f"m{c}{k}", "c"),), 3.0,
                       cost_s=float(c)) for k, c in enumerate([3, 2, 2, 1, 1, 1])]
    two = make_batches(mixed, workers=1, max_programs=32)
    loads = [sum(g.cost_s for g in b) for b in two]
    assert loads == [5.0, 5.0], loads
    # programs keep their group order inside a batch; the cap holds
    one = make_batches([fast], workers=1, max_programs=8, per_worker=1)
    assert len(one) == 5 and all(sum(len(g.programs) for g in b) <= 8 for b in one)


def test_limits_follow_evalplus():
    lim = CodeLimits()
    assert lim.time_limits([0.01, 2.0]) == [1.0, 8.0]
    assert lim.budget([1.0] * 100) == 62.0 and lim.budget([1.0, 2.0]) == 5.0
    with pytest.raises(ValueError):
        CodeLimits(min_time_limit=0)
    with pytest.raises(ValueError):
        CodeLimits(wall_factor=0.5)
    assert lim.wall_factor == 3.0  # wall time <= 3x the CPU limit, never more


def test_a_lazy_executor_started_in_the_background_is_waited_for_and_closed():
    """LazyExecutor.start (EvalPlusOracle.prepare): the pool is made in the background; get()
    waits for it (its error raised there), close() closes one that was never used. The
    executors here are fakes (named so): pure logic."""
    import threading

    from verifiers.code.executors import LazyExecutor, RunnerExecutor

    class FakeExecutor(RunnerExecutor):
        def __init__(self) -> None:
            self.closed = False
            self.thread = threading.current_thread().name

        def run_batches(self, batches, limits, progress=False):
            return {}

        def close(self) -> None:
            self.closed = True

    made: list[FakeExecutor] = []

    def factory() -> FakeExecutor:
        made.append(FakeExecutor())
        return made[-1]

    lazy = LazyExecutor(factory)
    lazy.start()
    lazy.start()  # once
    got = lazy.get()
    assert got is made[0] and len(made) == 1 and got.thread.startswith("pool-start")
    lazy.close()
    assert got.closed
    unused = LazyExecutor(factory)
    unused.start()
    unused.close()  # started, never used: closed all the same
    assert len(made) == 2 and made[1].closed

    def broken() -> FakeExecutor:
        raise RuntimeError("no docker")

    failing = LazyExecutor(broken)
    failing.start()
    with pytest.raises(RuntimeError, match="no docker"):
        failing.get()
    failing.close()  # nothing to close
