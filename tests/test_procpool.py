"""The killable worker pool: hard timeouts, memory caps and crashes never stall a batch."""
from __future__ import annotations

import os
import time

from sandbox.procpool import ProcessPool


def test_results_in_order_and_errors_per_call():
    with ProcessPool("tests.poolfns:work", workers=2, timeout=5) as pool:
        res = pool.map([("ok", 1), ("raise", 2), ("ok", 3)])
    assert [r.ok for r in res] == [True, False, True]
    assert res[0].value == 1 and res[2].value == 3
    assert "ValueError" in res[1].error


def test_hang_is_killed_and_rest_of_batch_continues():
    with ProcessPool("tests.poolfns:work", workers=1, timeout=1.5, chunk_size=8) as pool:
        t0 = time.monotonic()
        res = pool.map([("ok", 1), ("hang", 0), ("ok", 2), ("ok", 3)])
        took = time.monotonic() - t0
    assert [r.ok for r in res] == [True, False, True, True]
    assert "timeout" in res[1].error
    assert took < 20


def test_memory_bomb_hits_the_cap_and_crash_is_survived():
    with ProcessPool("tests.poolfns:work", workers=1, timeout=20, memory_mb=512) as pool:
        res = pool.map([("alloc", 0), ("exit", 0), ("ok", 5)])
    assert not res[0].ok and "Memory" in res[0].error
    assert not res[1].ok and "died" in res[1].error
    assert res[2].ok and res[2].value == 5


def test_workers_do_not_outlive_close():
    pool = ProcessPool("tests.poolfns:work", workers=2, timeout=5)
    pool.map([("ok", 1)] * 4)
    pids = [w.proc.pid for w in pool._workers]
    pool.close()
    time.sleep(0.2)
    for pid in pids:
        try:
            os.kill(pid, 0)
            alive = os.waitpid(pid, os.WNOHANG) == (0, 0)
        except (ProcessLookupError, ChildProcessError):
            alive = False
        assert not alive


_ORPHAN_SCRIPT = """
import sys, threading
from sandbox.procpool import ProcessPool
pool = ProcessPool("tests.poolfns:work", workers=2, timeout=600)
pool.map([("ok", 1), ("ok", 2)])
print(" ".join(str(w.proc.pid) for w in pool._workers), flush=True)
pool.map([("hang", 0), ("hang", 0)])  # both workers busy for good; the test kills us here
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_workers_die_with_a_killed_parent_even_mid_call():
    """kill -9 of the process that owns the pool: its workers, busy in a call, go too."""
    import signal
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN_SCRIPT], cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(_alive(p) for p in pids)
        time.sleep(0.5)  # the hanging calls are running
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        t0 = time.monotonic()
        while any(_alive(p) for p in pids) and time.monotonic() - t0 < 10:
            time.sleep(0.05)
        assert not any(_alive(p) for p in pids), "a worker outlived the process that owned its pool"
    finally:
        for p in pids if "pids" in dir() else []:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if parent.poll() is None:
            parent.kill()


def test_deadline_caps_the_whole_batch():
    with ProcessPool("tests.poolfns:work", workers=1, timeout=60, chunk_size=1) as pool:
        t0 = time.monotonic()
        res = pool.map([("ok", 1), ("hang", 0), ("ok", 2)], deadline=time.monotonic() + 3)
        took = time.monotonic() - t0
        assert res[0].ok and res[0].value == 1
        assert not res[1].ok and not res[2].ok and "time budget" in res[1].error and "time budget" in res[2].error
        assert took < 30
        assert pool.map([("ok", 7)])[0].value == 7  # the pool goes on after a spent budget


def test_worker_logs_never_reach_stderr_and_come_back_shortened(capfd):
    with ProcessPool("tests.poolfns:work", workers=1, timeout=30) as pool:
        res = pool.map([("log", 0), ("log", 8), ("ok", 1)])
    res[0], res[1] = res[1], res[0]  # (the warning is shown once per place: by the first call)
    err = capfd.readouterr().err
    assert "xxxxxxxxxx" not in err and "a library warning" not in err
    assert res[0].ok and len(res[0].logs) == 6  # 5 kept, one line counting the rest
    assert "Timeout during parsing" in res[0].logs[0] and "(100024 chars)" in res[0].logs[0]
    assert len(res[0].logs[0]) < 300 and "3 more" in res[0].logs[-1]
    assert len(res[1].logs) == 1 and res[1].logs[0].startswith("WARNING py.warnings:") and "a library warning" in res[1].logs[0]
    assert res[2].logs == ()
