"""`fireassay view` speed on the synthetic 500 problems x 10,000 samples run (issue 18).

    .venv/bin/python bench/view_speed.py [--problems 500] [--samples 10000] [--store DIR] [--repeat 5]

Writes the run that ``bench/report_speed.py`` builds (same generator: answer classes with a
Zipf tail, no-answers, a few unjudged, a noisy reward; oracle + majority, best_of_n and
weighted_majority) into a real run store (kept in --store and reused), serves it with the real
app on uvicorn while the index is read in the background (as `fireassay view` does with large
stores), and measures time to first byte (TTFB) of the problems page while indexing, then of
the problems page and of a problem page (target: under 1 s each). Printed side by side: the
index build, an idle live refresh, and the contender for the problems table: one SQL aggregate
over the verdicts per request (what a viewer without an index would do).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import sqlite3
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_speed import synthetic_run  # noqa: E402

from loop.store import DB_NAME, SCHEMA, SCHEMA_VERSION  # noqa: E402
from loop.view import create_app, open_runs  # noqa: E402


def write_store(run_dir: Path, problems: int, samples: int) -> None:
    """The synthetic run as a fireassay store, written with plain SQL (fast)."""
    run = synthetic_run(problems, samples)
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / (DB_NAME + ".part")
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(tmp, isolation_level=None)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    con.executescript(SCHEMA)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    config = {"command": "verify", "task": "synthetic", "name": "synthetic", "n": samples}
    con.executemany("INSERT INTO config VALUES (?, ?)", [(k, json.dumps(v)) for k, v in config.items()])
    for name, role, ref, rule in (("oracle", "oracle", 1, "vote"), ("majority", "selector", 0, "vote"),
                                  ("best_of_n", "selector", 0, "argmax"),
                                  ("weighted_majority", "selector", 0, "weighted_vote")):
        con.execute("INSERT INTO verifiers VALUES (?, ?, ?, ?)", (name, role, ref, rule))
    sampler = json.dumps({"name": "synthetic"})
    t0 = time.perf_counter()
    for i, pid in enumerate(run.problem_ids):
        con.execute("BEGIN")
        con.execute("INSERT INTO problems VALUES (?, ?, ?, ?, ?)",
                    (pid, i, json.dumps([{"role": "user", "content": f"synthetic problem {pid}: what is {i} + 1?"}]),
                     json.dumps(str(i + 1)), "{}"))
        cls, ok, unj = run.answers[i], run.correct[i], run.unjudged[i]
        reward = run.selectors["best_of_n"].scores[i]
        answers = [None if c < 0 else str(i + 1) if c == 0 else f"wrong-{c}" for c in cls.tolist()]
        con.executemany("INSERT INTO candidates VALUES (?, ?, 0, ?, NULL, NULL, ?, 'synthetic', NULL, ?, ?)",
                        ((pid, j, f"... so the answer is {a}." if a else "no idea", sampler,
                          None if np.isnan(r) else float(r), '{"tokens": 24}')
                         for j, (a, r) in enumerate(zip(answers, reward.tolist()))))
        passed = [None if u else int(o) for o, u in zip(ok.tolist(), unj.tolist())]
        con.executemany("INSERT INTO verdicts VALUES (?, ?, 0, 'oracle', ?, ?, ?, '', '{}')",
                        ((pid, j, float(p or 0), p, a) for j, (p, a) in enumerate(zip(passed, answers))))
        con.executemany("INSERT INTO verdicts VALUES (?, ?, 0, 'majority', 0.0, NULL, ?, '', '{}')",
                        ((pid, j, a) for j, a in enumerate(answers)))
        con.executemany("INSERT INTO verdicts VALUES (?, ?, 0, 'best_of_n', ?, NULL, ?, '', '{}')",
                        ((pid, j, None if np.isnan(r) else float(r), a) for j, (a, r) in enumerate(zip(answers, reward.tolist()))))
        con.executemany("INSERT INTO verdicts VALUES (?, ?, 0, 'weighted_majority', 0.0, NULL, ?, '', ?)",
                        ((pid, j, a, json.dumps({"weight": None if np.isnan(r) else float(r)}))
                         for j, (a, r) in enumerate(zip(answers, reward.tolist()))))
        con.execute("COMMIT")
        if i % 50 == 49:
            print(f"  wrote {i + 1}/{problems} problems ({time.perf_counter() - t0:.0f} s)", flush=True)
    con.execute("PRAGMA journal_mode=WAL")
    con.close()
    tmp.rename(run_dir / DB_NAME)


def ttfb(port: int, path: str) -> tuple[float, int, int]:
    """Seconds to the first byte of the response, status, body size."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()  # returns once the status line (the first byte) has arrived
    first = time.perf_counter() - t0
    body = resp.read()
    conn.close()
    return first, resp.status, len(body)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", type=int, default=500)
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--store", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "fireassay-view-bench")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    run_dir = args.store / f"synthetic-{args.problems}x{args.samples}"
    if not (run_dir / DB_NAME).exists():
        print(f"writing the synthetic store {run_dir} ...", flush=True)
        t0 = time.perf_counter()
        write_store(run_dir, args.problems, args.samples)
        print(f"  written in {time.perf_counter() - t0:.0f} s, {(run_dir / DB_NAME).stat().st_size / 1e9:.2f} GB")
    print(f"store: {run_dir} ({args.problems} problems x {args.samples} samples; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")

    # as `fireassay view` does with a large store: pages answer while the index is read
    runs = open_runs([run_dir], build=False)
    idx = next(iter(runs.values()))
    timing: dict[str, float] = {}

    def build() -> None:
        t0, c0 = time.perf_counter(), time.thread_time()
        idx.refresh(force=True)
        timing["wall"], timing["cpu"] = time.perf_counter() - t0, time.thread_time() - c0

    builder = threading.Thread(target=build, daemon=True)
    builder.start()

    import uvicorn

    app = create_app(runs)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    rid = idx.rid
    time.sleep(2.0)
    early = [ttfb(port, f"/run/{rid}/problems") for _ in range(3)]
    print(f"  TTFB problems page while indexing  median {statistics.median(t for t, _, _ in early):6.3f} s "
          f"(status {early[0][1]}; {len(idx.problems)} of {args.problems} problems read so far)")
    builder.join()
    print(f"  index build (background)         {timing['wall']:8.2f} s   (CPU {timing['cpu']:.2f} s)")
    t0 = time.perf_counter()
    idx.refresh(force=True)
    print(f"  live refresh, nothing new        {1000 * (time.perf_counter() - t0):8.1f} ms")
    pages = {
        "problems page": f"/run/{rid}/problems",
        "problems page, filtered + sorted": f"/run/{rid}/problems?show=missed:majority&sort=share&desc=1",
        f"problem page ({args.samples:,} candidates)": f"/run/{rid}/problem/{args.problems // 2}",
        "problem page, one answer class": f"/run/{rid}/problem/{args.problems // 2}?show=class:0",
    }
    results = {}
    for label, path in pages.items():
        times = []
        for _ in range(args.repeat):
            t, status, size = ttfb(port, path)
            assert status == 200, (path, status)
            times.append(t)
        results[label] = times
        print(f"  TTFB {label:<34} first {times[0]:6.3f} s, median {statistics.median(times):6.3f} s "
              f"({size / 1e3:.0f} kB)  target < 1 s: {'ok' if max(times) < 1.0 else 'MISSED'}")

    # the contender: the problems table's counts by one SQL aggregate per request
    con = sqlite3.connect((run_dir / DB_NAME).resolve().as_uri() + "?mode=ro", uri=True)
    t0 = time.perf_counter()
    con.execute("SELECT problem_id, COUNT(*), SUM(passed = 1), SUM(passed IS NULL) FROM verdicts "
                "WHERE verifier = 'oracle' GROUP BY problem_id").fetchall()
    t_sql = time.perf_counter() - t0
    con.close()
    med = statistics.median(results["problems page"])
    print(f"  contender: SQL aggregate for the problems table per request {t_sql:6.2f} s "
          f"(counts only; no votes or picks) -> the indexed page is {t_sql / med:.0f}x faster")
    server.should_exit = True
    thread.join(timeout=10)


if __name__ == "__main__":
    main()
