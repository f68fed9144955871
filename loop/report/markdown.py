"""``report.md``: the report's tables (runs, coverage, selection accuracy, ties and counts, the
selection study, the power-law fit, compute spent)."""
from __future__ import annotations

from typing import Sequence

from ..analysis import STATUSES, Interval, excludes_zero, missed_given_covered
from .model import Comparison, Report, RunReport, sweep_groups
from .text import md_table, model_label, num, pct

# meta shown in a column of their own in the runs table (run_dir: report.json has it)
OWN_COLUMNS = frozenset({"model", "engine", "distinct_first_tokens", "run_dir", "answer_format"})


def task_label(r: RunReport) -> str:
    """The task, with the answer format its oracle read answers in where it has one (GSM8K)."""
    fmt = r.meta.get("answer_format")
    return f"{r.task} (answer format {fmt})" if fmt else r.task


def render_markdown(report: Report, plots: Sequence[str] = ()) -> str:
    cfg = report.config
    runs = report.runs
    conf = f"{round(100 * cfg.confidence)}%"
    out = [
        "# fireassay report",
        "",
        f"Coverage = unbiased pass@k. Selection accuracy = the oracle's verdict on the selector's pick "
        f"in a uniform random k-subset (votes recomputed in the subset), mean over problems; "
        f"[lo, hi] = {conf} bootstrap interval over problems ({cfg.bootstrap} resamples, seed {cfg.seed}). "
        "Unjudged candidates count as not correct. Values in %.",
        "",
        "## Runs",
        "",
    ]
    out += md_table(
        ["run", "task", "model", "problems", "n", "#EA", "distinct 1st tokens", "unjudged", "meta"],
        [
            [
                r.name,
                task_label(r),
                model_label(r.meta.get("model"), r.meta.get("engine")),
                str(r.problems),
                str(r.n) if r.n == r.n_max else f"{r.n} (max {r.n_max})",
                f"{r.effective_answers:.2f}",
                str(r.meta.get("distinct_first_tokens", "–")),
                f"{r.unjudged.candidates} ({pct(r.unjudged.share, 2)}%) in {r.unjudged.problems} problems",
                ", ".join(f"{k}={v}" for k, v in r.meta.items()
                          if k not in OWN_COLUMNS and isinstance(v, (str, int, float, bool)))[:120] or "–",
            ]
            for r in runs
        ],
    )
    fire_runs = [r for r in runs if isinstance(r.meta.get("fire_hot"), dict)]
    if fire_runs:
        out += ["## FIRE: samples with and without a hot token", "",
                "Turn-0 samples of FIRE runs. fire@sentence:N samples that ended before sentence N got no hot "
                "token: they are regular samples, counted apart here (pass % = the oracle's share of each group).",
                ""]
        out += md_table(
            ["run", "with hot token", "pass %", "without hot token", "pass %"],
            [[r.name, str(h["with_hot_token"]),
              pct(h["pass_rate_with_hot_token"]) if h["pass_rate_with_hot_token"] is not None else "–",
              str(h["without_hot_token"]),
              pct(h["pass_rate_without_hot_token"]) if h["pass_rate_without_hot_token"] is not None else "–"]
             for r in fire_runs for h in [r.meta["fire_hot"]]],
        )
    all_ks = sorted({k for r in runs for k in r.ks})
    out += ["## Coverage (pass@k, %)", ""]
    rows = []
    for k in all_ks:
        row = [str(k)]
        for r in runs:
            row.append(pct(r.coverage[r.ks.index(k)].mean) if k in r.ks else "")
        rows.append(row)
    out += md_table(["k"] + [r.name for r in runs], rows)

    out += ["## Effective answers: #EA@k", "",
            "#EA@k = expected number of distinct answers in a uniform random k-subset of a problem's candidates "
            "(exact), mean over problems [interval]; at k = n it is #EA. Answers are grouped as the vote groups them "
            "(" + "; ".join(f"{r.name}: {r.effective_answers_classes}" for r in runs) + "), so runs with different n "
            "compare at the same k.", ""]
    rows = []
    for k in all_ks:
        row = [str(k)]
        for r in runs:
            iv = r.effective_answers_at_k[r.ks.index(k)] if k in r.ks and r.effective_answers_at_k else None
            row.append(f"{iv.mean:.2f} [{iv.lo:.2f}, {iv.hi:.2f}]" if iv is not None else "")
        rows.append(row)
    out += md_table(["k"] + [r.name for r in runs], rows)

    for sname in report.selector_names:
        have = [r for r in runs if sname in r.selection]
        out += [f"## Selection accuracy: {sname} (%, [{conf} interval])", ""]
        header = ["k"]
        for r in have:
            header += [f"{r.name}", f"{r.name} coverage"]
        rows = []
        for k in all_ks:
            row = [str(k)]
            for r in have:
                if k in r.ks:
                    iv = r.selection[sname].accuracy[r.ks.index(k)]
                    row += [
                        f"{pct(iv.mean)} [{pct(iv.lo)}, {pct(iv.hi)}]",
                        pct(r.coverage[r.ks.index(k)].mean),
                    ]
                else:
                    row += ["", ""]
            rows.append(row)
        out += md_table(header, rows)

    out += [
        "## Selectors: ties and counts",
        "",
        "ties: problems whose full-set pick is a tie (vote: >= 2 classes; argmax: >= 2 candidates); "
        "mixed: the tied candidates disagree, so the random tie break decides. no basis: no answer "
        "class (vote) or no score (argmax) at all: the pick is random. missed: share of problems with a "
        "correct candidate among n where the pick is wrong (= coverage - selection at k = n). "
        "draws: random permutations per problem (0 = computed exactly).",
        "",
    ]
    out += md_table(
        ["run", "selector", "rule", "ties", "mixed", "no basis", "unscored", "missed %", "draws"],
        [
            [
                r.name,
                s,
                sr.rule_label,
                str(sr.result.ties),
                str(sr.result.ties_mixed),
                str(sr.result.no_basis),
                str(sr.result.unscored),
                pct(sr.missed),
                str(sr.result.draws),
            ]
            for r in runs
            for s, sr in r.selection.items()
        ],
    )
    out += not_grouped_markdown(runs)
    out += study_markdown(report)
    out += ["## Power-law fit of coverage: c(k) ≈ exp(a·k^b)", ""]
    out += md_table(
        ["run", "a", "b", "R²", "k for 90%", "k for 99%", "points"],
        [
            [
                r.name,
                num(r.power_law.a),
                num(r.power_law.b),
                num(r.power_law.r2, ".4f"),
                num(r.power_law.k90, ".4g"),
                num(r.power_law.k99, ".4g"),
                str(r.power_law.points),
            ]
            for r in runs
        ],
    )
    out += sweep_markdown(runs)
    out += beyond_n_markdown(runs)
    out += paired_markdown(report.comparisons, conf)
    out += _compute_markdown(runs)
    if plots:
        out += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    return "\n".join(out)


def sweep_markdown(runs: Sequence[RunReport]) -> list[str]:
    """One table per swept parameter: coverage@k and each selector's accuracy at the largest
    shared k, per value."""
    out: list[str] = []
    for key, members in sweep_groups(runs).items():
        ks = sorted(set.intersection(*(set(r.ks) for _, r in members)))
        sels = [s for s in members[0][1].selection if all(s in r.selection for _, r in members)]
        kmax = ks[-1] if ks else None
        out += [f"## Sweep: {key}", "",
                f"One run per value of {key}, everything else equal (same problems, same seeds). Coverage@k and "
                f"selection accuracy at k = {kmax} in %; all values on one plot: sweep_{key}.png and coverage.png.", ""]
        rows = [[str(v), *[pct(r.coverage[r.ks.index(k)].mean) for k in ks],
                 *[pct(r.selection[s].accuracy[r.ks.index(kmax)].mean) if kmax else "–" for s in sels]]
                for v, r in members]
        out += md_table([key, *[f"coverage@{k}" for k in ks], *[f"{s}@{kmax}" for s in sels]], rows)
    return out


def beyond_n_markdown(runs: Sequence[RunReport]) -> list[str]:
    """Predicted coverage past n under each run's power law, with the refits' interval."""
    have = [r for r in runs if r.forecast is not None]
    if not have:
        return []
    out = ["## Beyond n: the fitted power law extrapolated", "",
           "Coverage the fit c(k) = exp(a·k^b) predicts past the largest k measured (dashed in "
           "coverage_beyond_n.png); [lo, hi] = the predictions of the fit redone on problem-bootstrap resamples. "
           "A prediction, not a measurement: how far it holds depends on the curve keeping its shape.", ""]
    factors = sorted({f for r in have for f in r.forecast.at})  # type: ignore[union-attr]
    out += md_table(
        ["run", "n", *[f"coverage at {f}× n" for f in factors], "refits"],
        [[r.name, str(r.n), *[_pct_iv(r.forecast.at[f]) if f in r.forecast.at else "–" for f in factors],  # type: ignore[union-attr]
          str(r.forecast.resamples)] for r in have],  # type: ignore[union-attr]
    )
    warn = [f"- **warning** {r.name}: {w}" for r in have for w in r.forecast.warnings]  # type: ignore[union-attr]
    return out + (warn + [""] if warn else [])


def _pct_iv(iv: Interval) -> str:
    return f"{pct(iv.mean)} [{pct(iv.lo)}, {pct(iv.hi)}]"


def _signed(iv: Interval) -> str:
    mark = " *" if excludes_zero(iv) else ""
    return f"{100 * iv.mean:+.1f} [{100 * iv.lo:+.1f}, {100 * iv.hi:+.1f}]{mark}"


def paired_markdown(comparisons: Sequence[Comparison], conf: str) -> list[str]:
    """One table per pair of runs over their shared problems."""
    out: list[str] = []
    for c in comparisons:
        sels = list(c.selection)
        out += [f"## Paired comparison: {c.b} − {c.a} ({c.problems} shared problems)", "",
                f"Difference in points of %, {c.b} minus {c.a}, on the problems both ran; [lo, hi] = {conf} paired "
                "bootstrap interval (the same resampled problems for both runs); * = the interval excludes 0.", ""]
        rows = [[str(k), _signed(c.coverage[j]), *[_signed(c.selection[s][j]) for s in sels]]
                for j, k in enumerate(c.ks)]
        out += md_table(["k", "coverage"] + [f"selection: {s}" for s in sels], rows)
    return out


def _compute_markdown(runs: Sequence[RunReport]) -> list[str]:
    """Compute-matched coverage and per-turn pass rates (runs that recorded compute)."""
    have = [r for r in runs if r.compute_matched]
    if not have:
        return []
    out = ["## Compute spent", "",
           "Coverage at k against the compute k trajectories cost: k × mean generated tokens and k × mean "
           "model calls per trajectory, plus what a problem's trajectories share (FIRE's one-token request for the "
           "first token's top-k at turn 0: one call and one token per prompt; at later FIRE turns and for "
           "fire@sentence it is one per sample, inside the per-trajectory numbers). Compare runs at equal cost, "
           "not equal k.", ""]
    out += md_table(
        ["run", "feedback", "tokens / trajectory", "calls / trajectory", "shared calls / problem",
         "k: coverage % @ tokens"],
        [[r.name, str(r.meta.get("feedback") or "-"),
          num(r.compute_matched.get("tokens_per_trajectory")), num(r.compute_matched.get("calls_per_trajectory")),
          num(r.compute_matched.get("shared_calls_per_problem")),
          "; ".join(f"{k}: {100 * c:.1f}" + (f" @ {t:,.0f}" if t is not None else "") for k, c, t in zip(
              r.compute_matched["k"], r.compute_matched["coverage"],
              r.compute_matched.get("tokens") or [None] * len(r.compute_matched["k"])))]
         for r in have],
    )
    rows = [[r.name, str(t["turn"]), str(t["candidates"]), str(t["passed"]), pct(t["pass_rate"]), pct(t["solved_by_turn"])]
            for r in have for t in r.compute_matched.get("per_turn") or []]
    if rows:
        out += ["## Per-turn pass rates", ""]
        out += md_table(["run", "turn", "candidates", "passed", "pass rate %", "trajectories solved by this turn %"], rows)
    return out


def not_grouped_markdown(runs: Sequence[RunReport]) -> list[str]:
    """A sentence per vote that left answers uncompared (nothing when every answer was grouped)."""
    lines = []
    for r in runs:
        for s, sr in r.selection.items():
            n = sum(sr.not_grouped.values())
            if n:
                why = ", ".join(f"{c} {k}" for k, c in sorted(sr.not_grouped.items()))
                lines.append(f"- {r.name} / {s}: {n} candidates in {sr.not_grouped_problems} problems ({why})")
    if not lines:
        return []
    return ["Answers a vote left in classes of their own, never compared with the others (their votes are "
            "their own): unreadable = its key could not be computed in time (math-verify could not parse it, "
            "or it is past the checker's size limits); ungrouped = the problem's grouping time cap ran out, "
            "or every comparison that could have merged it was undecided.", "", *lines, ""]


def study_markdown(report: Report) -> list[str]:
    """Markdown: gap to coverage at each k, missed given covered, vote-share tables."""
    out: list[str] = []
    for r in report.runs:
        if not r.selection or not all(sr.gap for sr in r.selection.values()):
            continue
        names = list(r.selection)
        out += [f"## Study: {r.name}: gap to coverage (points of %)", "",
                "gap = coverage − selection accuracy at k = the share of problems whose k-subset held a correct "
                "candidate while the selector picked a wrong one; [paired bootstrap interval].", ""]
        rows = [[str(k), pct(r.coverage[j].mean)] + [
            f"{pct(r.selection[s].gap[j].mean)} [{pct(r.selection[s].gap[j].lo)}, {pct(r.selection[s].gap[j].hi)}]"
            for s in names] for j, k in enumerate(r.ks)]
        out += md_table(["k", "coverage"] + [f"gap: {s}" for s in names], rows)
        out += md_table(
            ["selector", "rule", f"missed at k={r.n} (% of problems)", "missed given covered (%)", "ties",
             "tie decides", "unscored candidates", "oracle-unjudged candidates"],
            [[s, sr.rule_label, pct(sr.missed), pct(missed_given_covered(r.coverage_per_problem, sr.result.per_problem)),
              str(sr.result.ties), str(sr.result.ties_mixed), str(sr.result.unscored), str(r.unjudged.candidates)]
             for s, sr in r.selection.items()])
        for s, vs in r.vote_shares.items():
            c, total = vs.counts, len(vs.status)
            d = vs.to_dict()
            out += [f"### {r.name}: {s}: the correct answer's vote share (all {r.n_max if r.n == r.n_max else f'{r.n}–{r.n_max}'} candidates)", "",
                    "plurality: the correct answer has the most votes; tied: as many as the largest wrong answer (the "
                    "tie break decides); minority: fewer (majority vote cannot pick it); no correct: no candidate with "
                    "an answer was correct. Unjudged candidates count as not correct.", ""]
            out += md_table(["status", "problems", "% of problems"],
                          [[st.replace("_", " "), str(c[st]), pct(c[st] / total) if total else "–"] for st in STATUSES])
            hist = vs.histogram()
            edges = d["bins"]
            out += md_table(["correct answer's share", "plurality", "tied", "minority"],
                          [[f"{round(100 * edges[i])}–{round(100 * edges[i + 1])}%", str(hist["plurality"][i]),
                            str(hist["tied"][i]), str(hist["minority"][i])] for i in range(len(edges) - 1)])
            out += [f"mean share {pct(d['mean_share'])}%, median {pct(d['median_share'])}%; unjudged candidates: "
                    f"{vs.unjudged}; problems where one answer class mixes correct and wrong candidates: {vs.mixed}", ""]
    return out
