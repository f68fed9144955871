"""The run store keeps every write; judge_missing only judges what is missing."""
from __future__ import annotations

from typing import ClassVar

import pytest

from loop.run.judging import judge_missing
from loop.store import RunStore, StoreError
from verifiers import Candidate, Problem, Verdict, Verifier


class FakeCountingVerifier(Verifier):
    """A fake oracle for store logic: passes even sample indices, can crash after N problems."""

    name: ClassVar[str] = "fake"
    uses_reference: ClassVar[bool] = True

    def __init__(self, crash_after: int | None = None) -> None:
        self.seen: list[str] = []
        self.crash_after = crash_after

    def verify(self, problem, candidates):
        if self.crash_after is not None and len(self.seen) >= self.crash_after:
            raise KeyboardInterrupt
        self.seen.append(problem.id)
        return [Verdict(1.0, c.sample_index % 2 == 0, str(c.sample_index)) for c in candidates]


def _fill(store: RunStore, problems: int = 6, n: int = 3) -> None:
    store.add_problems([Problem(str(i), ({"role": "user", "content": f"q{i}"},), reference={"a": i}) for i in range(problems)])
    store.add_candidates([Candidate(str(i), j, f"t{i}{j}", token_ids=(1, 2), meta={"tokens": 2}) for i in range(problems) for j in range(n)])


def test_roundtrip_and_crash_resume(tmp_path):
    store = RunStore.create(tmp_path / "r", {"task": "x"})
    _fill(store)
    assert store.problems()[2].reference == {"a": 2}
    assert store.candidates("1")[2].token_ids == (1, 2)
    v = FakeCountingVerifier(crash_after=2)
    with pytest.raises(KeyboardInterrupt):
        judge_missing(store, "fake", v, "oracle", batch_problems=1, show_progress=False)
    store.close()
    store = RunStore.open(tmp_path / "r")  # what was judged before the crash is kept
    assert len(store.verdicts("fake")) == 6
    v2 = FakeCountingVerifier()
    assert judge_missing(store, "fake", v2, "oracle", show_progress=False) == 12
    assert v2.seen == ["2", "3", "4", "5"]
    assert judge_missing(store, "fake", FakeCountingVerifier(), "oracle", show_progress=False) == 0
    assert store.verifiers()["fake"]["role"] == "oracle"
    store.close()


def test_create_refuses_existing_and_open_refuses_missing(tmp_path):
    RunStore.create(tmp_path / "r", {"task": "x"}).close()
    with pytest.raises(StoreError, match="--resume"):
        RunStore.create(tmp_path / "r", {"task": "x"})
    with pytest.raises(StoreError, match="not a run directory"):
        RunStore.open(tmp_path / "nothing")


def test_config_mismatch_names_the_setting(tmp_path):
    s = RunStore.create(tmp_path / "r", {"task": "x", "n": 4})
    assert s.config_mismatch({"task": "x", "n": 4}) == []
    assert s.config_mismatch({"task": "x", "n": 8})[0].startswith("n: stored 4")
    s.close()


def test_a_store_appears_whole_or_not_at_all(tmp_path):
    """`fireassay view`, `doctor` and a crash must never meet an empty run.sqlite: the store is
    written beside its place and linked in whole (a cluster test's poller once met 0 bytes)."""
    import sqlite3
    import threading

    from loop.store import DB_NAME, check_store

    seen: list[str] = []
    stop = threading.Event()

    def watch(d):
        while not stop.is_set():
            f = d / DB_NAME
            if f.exists():
                health = check_store(d)
                if not health.ok:
                    seen.append(health.problem)
                return

    for i in range(30):
        d = tmp_path / f"r{i}"
        d.mkdir()
        stop.clear()
        t = threading.Thread(target=watch, args=(d,))
        t.start()
        RunStore.create(d, {"task": "gsm8k", "n": 4}).close()
        stop.set()
        t.join()
    assert seen == []
    # a failure while writing leaves nothing behind, not an empty store
    import os

    def no_link(src, dst):
        raise OSError(28, "No space left on device")

    real_link, os.link = os.link, no_link
    try:
        with pytest.raises(StoreError, match="cannot write a run store there"):
            RunStore.create(tmp_path / "bad", {"task": "gsm8k"})
    finally:
        os.link = real_link
    assert list((tmp_path / "bad").iterdir()) == []
    # the settings are there from the first byte a reader can see
    con = sqlite3.connect(tmp_path / "r0" / DB_NAME)
    assert dict(con.execute("SELECT key, value FROM config")) == {"task": '"gsm8k"', "n": "4"}
