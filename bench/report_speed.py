"""Report speed on the synthetic 500 problems x 10,000 samples case (issue 2), stage by stage.

    .venv/bin/python bench/report_speed.py [--problems 500] [--samples 10000] [--total-draws N]

Builds a synthetic run (answer classes with a Zipf tail of wrong answers and some no-answers,
a noisy reward per candidate) with three selectors: majority (vote), best_of_n (argmax) and
weighted_majority (weighted_vote). Prints seconds per stage, then the contenders side by side on
a few problems: the vectorized permutation-prefix estimator against a plain loop that draws
each k-subset with ``rng.choice`` and votes with ``np.unique`` (same number of subsets), and
the time of the exact argmax (no sampling). Also prints how much the selection means move between
two seeds (draw noise) next to the bootstrap interval half-width (problem noise).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loop.analysis.metrics import RunData, SelectorData, coverage_per_problem, k_grid  # noqa: E402
from loop.analysis.selection_at_k import SelectionConfig, selection_per_problem, vote_weights  # noqa: E402
from loop.report import ReportConfig, build_report, write_report  # noqa: E402


def synthetic_run(problems: int, samples: int, seed: int = 0, name: str = "synthetic") -> RunData:
    rng = np.random.default_rng(seed)
    correct, unjudged, answers, rewards = [], [], [], []
    for _ in range(problems):
        p = 0.0 if rng.random() < 0.08 else rng.beta(0.35, 1.5)  # per-problem solve rate
        ok = rng.random(samples) < p
        wrong_kinds = int(rng.integers(5, 3000))
        wrong = 1 + (rng.zipf(1.3, samples) % wrong_kinds)  # a few popular wrong answers, long tail
        cls = np.where(ok, 0, wrong).astype(np.int64)
        cls[(~ok) & (rng.random(samples) < 0.05)] = -1  # no answer extracted
        judged_out = rng.random(samples) < 0.001  # the oracle could not judge a few
        reward = rng.normal(0.0, 1.0, samples) + 0.8 * ok
        reward[rng.random(samples) < 0.002] = np.nan
        correct.append(ok & ~judged_out)
        unjudged.append(judged_out)
        answers.append(cls)
        rewards.append(reward)
    selectors = {
        "majority": SelectorData("vote", answers, [np.zeros(samples)] * problems),
        "best_of_n": SelectorData("argmax", answers, rewards),
        "weighted_majority": SelectorData("weighted_vote", answers, rewards),
    }
    return RunData(
        name,
        "synthetic",
        [str(i) for i in range(problems)],
        correct,
        unjudged,
        answers,
        selectors,
        {"sampler": "synthetic", "seed": seed},
    )


def naive_vote(
    classes: np.ndarray, correct: np.ndarray, ks: np.ndarray, draws: int, rng: np.random.Generator
) -> np.ndarray:
    """The obvious loop: draw each k-subset, count classes with np.unique, pick a tied top class."""
    out = np.zeros(len(ks))
    for j, k in enumerate(ks):
        acc = 0.0
        for _ in range(draws):
            sub = rng.choice(classes.size, size=int(k), replace=False)
            cls = classes[sub]
            real = cls >= 0
            if not real.any():
                acc += correct[sub[rng.integers(k)]]
                continue
            u, cnt = np.unique(cls[real], return_counts=True)
            top = u[cnt == cnt.max()]
            members = sub[real][np.isin(cls[real], top)]
            acc += correct[members[rng.integers(members.size)]]
        out[j] = acc / draws
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", type=int, default=500)
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--total-draws", type=int, default=SelectionConfig().total_draws)
    ap.add_argument("--naive-problems", type=int, default=3)
    args = ap.parse_args()

    t0 = time.perf_counter()
    run = synthetic_run(args.problems, args.samples)
    t_build = time.perf_counter() - t0
    cfg = ReportConfig(selection=SelectionConfig(total_draws=args.total_draws), progress=False)
    draws = cfg.selection.draws_for(args.problems)
    print(
        f"synthetic run: {args.problems} problems x {args.samples} samples "
        f"(built in {t_build:.2f} s); {draws} permutations per problem for vote rules"
    )

    t0, c0 = time.perf_counter(), time.process_time()
    report = build_report([run], cfg)
    t_report, c_report = time.perf_counter() - t0, time.process_time() - c0
    r = report.runs[0]
    for stage, (sec, cpu) in r.timings.items():
        print(f"  {stage:<32} {sec:8.2f} s   (CPU {cpu:.2f} s)")
    print(f"  {'build_report total':<32} {t_report:8.2f} s   (CPU {c_report:.2f} s)")
    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        paths = write_report(report, tmp)
        t_write, c_write = time.perf_counter() - t0, time.process_time() - c0
    print(f"  {'write_report (json, md, ' + str(len(paths) - 2) + ' png)':<32} {t_write:8.2f} s")
    print(
        f"  {'TOTAL report':<32} {t_report + t_write:8.2f} s   (CPU {c_report + c_write:.2f} s; "
        f"load average {os.getloadavg()[0]:.1f})"
    )

    # draw noise vs problem noise
    report2 = build_report([run], ReportConfig(selection=cfg.selection, seed=1, progress=False))
    for name, sr in r.selection.items():
        sr2 = report2.runs[0].selection[name]
        diff = max(abs(a.mean - b.mean) for a, b in zip(sr.accuracy, sr2.accuracy))
        half = max((iv.hi - iv.lo) / 2 for iv in sr.accuracy)
        print(
            f"  {name:<18} max |seed0 - seed1| over k = {100 * diff:.2f} pts; "
            f"widest 95% CI half-width = {100 * half:.2f} pts"
        )
    print(
        f"  coverage@1 {100 * r.coverage[0].mean:.1f}%  coverage@{r.n} {100 * r.coverage[-1].mean:.1f}%  "
        f"power law a={r.power_law.a:.3f} b={r.power_law.b:.3f} R2={r.power_law.r2:.4f}"
    )

    # contenders side by side on a few problems, same number of subsets per k
    ks = k_grid(args.samples)
    ks = ks[(ks > 1) & (ks < args.samples)]
    m = args.naive_problems
    sub = SelectorData("vote", run.selectors["majority"].classes[:m], run.selectors["majority"].scores[:m])
    same = SelectionConfig(total_draws=1, min_draws=draws, max_draws=draws)
    t0 = time.perf_counter()
    vec = selection_per_problem(sub, run.correct[:m], ks, same)
    t_vec = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    naive = np.array([naive_vote(run.answers[i], run.correct[i], ks, draws, rng) for i in range(m)])
    t_naive = time.perf_counter() - t0
    print(
        f"vote, {m} problems x {len(ks)} k values x {draws} subsets: vectorized {t_vec:.3f} s, "
        f"naive loop {t_naive:.2f} s -> {t_naive / t_vec:.1f}x; mean accuracy over problems and k: "
        f"{vec.per_problem.mean():.3f} vs {naive.mean():.3f} (both sampled)"
    )
    sc = run.selectors["best_of_n"].scores
    t0 = time.perf_counter()
    ex = selection_per_problem(SelectorData("argmax", [], sc[:m]), run.correct[:m], ks, cfg.selection)
    t_ex = time.perf_counter() - t0
    print(
        f"argmax exact, {m} problems: {t_ex:.3f} s ({t_ex / m * args.problems:.2f} s for {args.problems}); "
        f"weighted vote sums the stored weights as they are (raw): min weight {vote_weights(sc[0]).min():.1f}; "
        f"argmax@k{ks[2]} = {100 * ex.per_problem[:, 2].mean():.1f}%"
    )
    cov = coverage_per_problem(run, ks)
    print(f"coverage matrix {cov.shape} ok")


if __name__ == "__main__":
    main()
