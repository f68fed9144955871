"""The runner's own cost inside the sandbox: this checkout's runner program beside git commit REF's.

One warm docker sandbox; a driver inside it starts each runner (``python3 -I -c <program>``) on
the same job, the two in turn (the order swapped every repetition), and takes the wall time and
the CPU time of the runner with its fork server and children (``wait4``: robust to a busy
machine). Jobs of 1 and of 8 programs (5 inputs each, ``a + b``): what an exec costs before any
candidate's work. Docker's own exec overhead is left out (the same for both runners).

    python bench/runner_cost.py [--ref main] [--reps 100]
"""
from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.sandbox_throughput import runner_at  # noqa: E402
from sandbox.config import SandboxConfig  # noqa: E402
from sandbox.plain import encode  # noqa: E402
from sandbox.pool import SandboxPool  # noqa: E402
from sandbox.runner import runner_source  # noqa: E402
from verifiers.code.execution import CallGroup, CodeLimits, build_job  # noqa: E402

SIZES = (1, 8)
DRIVER = r'''
import os, statistics, sys, time

reps, sizes = int(sys.argv[1]), sys.argv[2].split(",")
got = {}
for r in range(reps):
    for n in sizes:
        for who in (("ref", "this") if r % 2 else ("this", "ref")):
            program = open(f"/work/{who}.py").read()
            job = open(f"/work/job{n}.json", "rb").read()
            rfd, wfd = os.pipe()
            t = time.perf_counter()
            pid = os.fork()
            if pid == 0:
                os.dup2(rfd, 0)
                os.close(wfd)
                os.dup2(os.open("/dev/null", os.O_WRONLY), 1)
                os.execvp("python3", ["python3", "-I", "-c", program])
            os.close(rfd)
            os.write(wfd, job)
            os.close(wfd)
            _, status, use = os.wait4(pid, 0)
            assert status == 0, status
            got.setdefault((who, n), []).append((time.perf_counter() - t, use.ru_utime + use.ru_stime))
print("programs  runner  wall ms  cpu ms")
for n in sizes:
    med = {who: [statistics.median(x[i] for x in got[(who, n)]) for i in (0, 1)] for who in ("ref", "this")}
    for who in ("ref", "this"):
        print(f"{n:>8}  {who:>6}  {med[who][0] * 1e3:7.1f}  {med[who][1] * 1e3:6.1f}")
    print(f"{n:>8}  this/ref  wall {med['this'][0] / med['ref'][0]:.3f}x  cpu {med['this'][1] / med['ref'][1]:.3f}x")
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default="main", help="the git commit whose runner is the baseline")
    ap.add_argument("--reps", type=int, default=100)
    args = ap.parse_args()
    good = "def add(a, b):\n    return a + b\n"
    inputs = tuple(encode([i, i]) for i in range(5))
    files = {"this.py": runner_source(), "ref.py": runner_at(args.ref), "driver.py": DRIVER}
    for n in SIZES:
        group = CallGroup("add", inputs, (1.0,) * 5, tuple((f"p{j}", good) for j in range(n)), 10.0)
        files[f"job{n}.json"] = build_job([group], CodeLimits(), secrets.token_hex(16), True,
                                          ["/work/scratch"])
    print(f"runner of this checkout vs {args.ref}'s: {args.reps} runs each per job size", flush=True)
    with SandboxPool(1, config=SandboxConfig(memory="1g")) as pool, pool.lease() as sb:
        sb.write_files({**files, "scratch/.keep": ""})
        r = sb.exec(["python3", "/work/driver.py", str(args.reps), ",".join(map(str, SIZES))],
                    timeout=3600)
    print(r.stdout.decode(), r.stderr.decode()[-2000:], sep="")


if __name__ == "__main__":
    main()
