"""Pure-logic tests of loop.analysis (metrics, selection_at_k, powerlaw) against brute force."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest

from loop.analysis.metrics import (
    MetricsError,
    RunData,
    SelectorData,
    bootstrap_intervals,
    bootstrap_weights,
    class_ids,
    coverage_per_problem,
    effective_answers,
    k_grid,
    pass_at_k,
    unjudged_counts,
)
from loop.analysis.powerlaw import fit_power_law, forecast_k
from loop.analysis.selection_at_k import (
    SelectionConfig,
    _compact,
    _dense_vote,
    _sampled_vote,
    argmax_accuracy,
    selection_per_problem,
    vote_weights,
)

# ----------------------------------------------------------------------------- brute force


def brute_pick(rule: str, classes, weights, correct, subset) -> float:
    """Expected correctness of the pick in one subset: uniform among the tied top candidates."""
    sub = list(subset)
    if rule == "argmax":
        s = np.array([weights[i] for i in sub], dtype=float)
        if np.isnan(s).all():
            members = sub
        else:
            top = np.nanmax(s)
            members = [i for i in sub if not math.isnan(weights[i]) and weights[i] == top]
    else:
        real = [i for i in sub if classes[i] >= 0]
        if not real:
            members = sub
        else:
            totals: dict[int, float] = {}
            for i in real:
                totals[classes[i]] = totals.get(classes[i], 0.0) + (1.0 if rule == "vote" else weights[i])
            top = max(totals.values())
            winners = {c for c, v in totals.items() if v >= top - 1e-9}
            members = [i for i in real if classes[i] in winners]
    return float(np.mean([float(correct[i]) for i in members]))


def brute_accuracy(rule: str, classes, weights, correct, k: int) -> float:
    n = len(correct)
    return float(
        np.mean([brute_pick(rule, classes, weights, correct, s) for s in itertools.combinations(range(n), k)])
    )


def brute_pass(n: int, c: int, k: int) -> float:
    correct = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(correct[i] for i in s) for s in subsets) / len(subsets)


def random_case(rng: np.random.Generator, n: int):
    classes = rng.integers(-1, 3, n).astype(np.int64)
    scores = np.round(rng.random(n) * 3) / 2  # coarse: plenty of exact ties
    scores[rng.random(n) < 0.2] = np.nan
    if rng.random() < 0.3:
        scores -= 1.0  # negative scores: weighted vote shifts them
    correct = rng.random(n) < 0.5
    return classes, scores, correct


# ----------------------------------------------------------------------------- pass@k


def test_pass_at_k_matches_subset_enumeration():
    for n in range(1, 9):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(brute_pass(n, c, k), abs=1e-12), (n, c, k)


@pytest.mark.parametrize(
    "c,k",
    [
        (1, 1),
        (1, 2),
        (3, 10),
        (1, 50_000),
        (10, 100),
        (500, 1),
        (50_000, 3),
        (99_990, 10),
        (2, 99_998),
        (0, 10),
    ],
)
def test_pass_at_k_stable_at_100k(c, k):
    n = 100_000
    exact = 1 - Fraction(math.comb(n - c, k), math.comb(n, k))
    got = pass_at_k(n, c, k)
    if exact == 0:
        assert got == 0.0
    else:
        assert got == pytest.approx(float(exact), rel=1e-9)


def test_pass_at_k_vectorized_and_edges():
    c = np.array([0, 1, 5, 10])
    out = pass_at_k(10, c, 3)
    assert out.shape == (4,)
    assert out[0] == 0.0 and out[-1] == 1.0
    assert np.all(np.diff(out) > 0)
    assert isinstance(pass_at_k(10, 2, 2), float)
    assert pass_at_k(10, 8, 3) == 1.0  # n - c < k: every subset has a correct one
    grid = pass_at_k(np.array([[10], [20]]), np.array([[2], [3]]), np.array([[1, 2, 4]]))
    assert grid.shape == (2, 3)
    assert grid[1, 2] == pytest.approx(1 - math.comb(17, 4) / math.comb(20, 4))
    with pytest.raises(MetricsError):
        pass_at_k(5, 6, 1)
    with pytest.raises(MetricsError):
        pass_at_k(5, 1, 6)


def test_k_grid():
    assert k_grid(1).tolist() == [1]
    assert k_grid(8).tolist() == [1, 2, 4, 8]
    assert k_grid(10).tolist() == [1, 2, 4, 8, 10]
    assert k_grid(10_000)[-2:].tolist() == [8192, 10_000]
    with pytest.raises(MetricsError):
        k_grid(0)


# ----------------------------------------------------------------------------- selection


def _estimators():
    return {
        "sort": lambda codes, none, w, corr, ks, perms, rel, ncls: _sampled_vote(
            codes, none, w, corr, ks, perms, rel
        ),
        "dense": _dense_vote,
    }


@pytest.mark.parametrize("path", ["sort", "dense"])
@pytest.mark.parametrize("rule", ["vote", "weighted_vote"])
def test_vote_estimator_over_all_permutations_equals_brute_force(rule, path):
    """Averaged over EVERY permutation (all subsets in all tie orders), the prefix estimator is
    exactly the brute-force expectation: no bias from the tie rule or the no-answer rule."""
    rng = np.random.default_rng(7)
    n = 6
    perms = np.array(list(itertools.permutations(range(n))), dtype=np.int32)
    ks = np.arange(1, n + 1)
    for _ in range(12):
        classes, scores, correct = random_case(rng, n)
        codes, none, ncls = _compact(classes)
        weights = vote_weights(scores) if rule == "weighted_vote" else None
        if path == "sort" and weights is not None and (weights < 0).any():
            weights = weights - weights.min()  # the driver sends negative weights to the dense path
        got = _estimators()[path](codes, none, weights, correct, ks, perms, np.arange(n), ncls)
        want = [brute_accuracy(rule, classes, weights, correct, int(k)) for k in ks]
        np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("path", ["sort", "dense"])
def test_vote_estimator_special_cases_over_all_permutations(path):
    n = 6
    perms = np.array(list(itertools.permutations(range(n))), dtype=np.int32)
    ks = np.arange(1, n + 1)
    cases = [
        (np.array([0, 0, 0, 1, 1, 1]), np.ones(n), np.array([1, 1, 1, 0, 0, 0], bool)),  # exact tie
        (np.array([-1] * 6), np.ones(n), np.array([1, 0, 0, 0, 0, 0], bool)),  # nobody answered
        (np.array([-1, -1, -1, -1, 0, 1]), np.ones(n), np.array([0, 0, 0, 0, 1, 0], bool)),
        # weighted tie with unequal sizes: {0: 1+1} vs {1: 2}; uniform over tied candidates
        (
            np.array([0, 0, 1, 2, 2, 2]),
            np.array([1.0, 1.0, 2.0, 0.1, 0.1, 0.1]),
            np.array([1, 1, 0, 0, 0, 0], bool),
        ),
        # zero weights: a present real class still beats no-answer
        (
            np.array([-1, -1, 3, 3, 4, -1]),
            np.array([5.0, 5.0, 0.0, 0.0, 0.0, 5.0]),
            np.array([0, 0, 1, 1, 0, 0], bool),
        ),
    ]
    for classes, w, correct in cases:
        codes, none, ncls = _compact(classes)
        for rule, weights in (("vote", None), ("weighted_vote", w)):
            got = _estimators()[path](codes, none, weights, correct, ks, perms, np.arange(n), ncls)
            want = [brute_accuracy(rule, classes, w, correct, int(k)) for k in ks]
            np.testing.assert_allclose(got, want, atol=1e-12, err_msg=f"{rule} {classes}")
    # the weighted tie at k = 6: classes 0 (2 candidates, correct) and 1 (1 candidate) tie at 2.0
    assert brute_accuracy("weighted_vote", cases[3][0], cases[3][1], cases[3][2], 6) == pytest.approx(2 / 3)


def test_argmax_exact_equals_brute_force():
    rng = np.random.default_rng(3)
    for n in (1, 2, 5, 8):
        for _ in range(8):
            _, scores, correct = random_case(rng, n)
            ks = np.arange(1, n + 1)
            got = argmax_accuracy(scores, correct, ks)
            want = [brute_accuracy("argmax", None, scores, correct, int(k)) for k in ks]
            np.testing.assert_allclose(got, want, atol=1e-12)
    all_nan = argmax_accuracy(np.full(4, np.nan), np.array([1, 0, 0, 0], bool), np.array([1, 4]))
    np.testing.assert_allclose(all_nan, [0.25, 0.25])


@pytest.mark.parametrize("dense_factor", [0.0, 1e9])  # force the sort path, then the dense path
def test_selection_per_problem_sampled_close_to_brute_force(dense_factor, monkeypatch):
    """End to end (relabelling, shared permutations, exact k=1 and k=n) on several problems."""
    import loop.analysis.selection_at_k as selection

    monkeypatch.setattr(selection, "_DENSE_FACTOR", dense_factor)
    rng = np.random.default_rng(11)
    n = 8
    probs = [random_case(rng, n) for _ in range(4)]
    ks = np.array([1, 2, 4, 8])
    cfg = SelectionConfig(total_draws=1, min_draws=20_000, max_draws=20_000)
    for rule in ("vote", "weighted_vote", "argmax"):
        sel = SelectorData(rule, [p[0] for p in probs], [p[1] for p in probs])
        res = selection_per_problem(sel, [p[2] for p in probs], ks, cfg, seed=5)
        assert res.draws == (0 if rule == "argmax" else 20_000)
        for i, (classes, scores, correct) in enumerate(probs):
            w = vote_weights(scores) if rule == "weighted_vote" else scores
            want = np.array([brute_accuracy(rule, classes, w, correct, int(k)) for k in ks])
            # k = 1 and k = n are exact; the rest is a mean of 20,000 draws (sd <= 0.0036)
            np.testing.assert_allclose(res.per_problem[i][[0, -1]], want[[0, -1]], atol=1e-12)
            np.testing.assert_allclose(res.per_problem[i], want, atol=0.02)


def test_selection_is_reproducible_and_seed_dependent():
    rng = np.random.default_rng(2)
    probs = [random_case(rng, 40) for _ in range(5)]
    sel = SelectorData("vote", [p[0] for p in probs], [p[1] for p in probs])
    corr = [p[2] for p in probs]
    ks = k_grid(40)
    a = selection_per_problem(sel, corr, ks, seed=1).per_problem
    b = selection_per_problem(sel, corr, ks, seed=1).per_problem
    c = selection_per_problem(sel, corr, ks, seed=2).per_problem
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_ties_and_counts():
    classes = [
        np.array([0, 0, 1, 1]),
        np.array([0, 0, 0, 1]),
        np.array([-1, -1, -1, -1]),
        np.array([2, 2, 3, 3]),
    ]
    correct = [
        np.array([1, 1, 0, 0], bool),
        np.array([1, 1, 1, 0], bool),
        np.zeros(4, bool),
        np.array([1, 1, 1, 1], bool),
    ]
    scores = [
        np.array([1.0, 1.0, 1.0, np.nan]),
        np.array([0.0, 3.0, 1.0, 2.0]),
        np.full(4, np.nan),
        np.array([2.0, 2.0, 1.0, 1.0]),
    ]
    ks = np.array([1, 2, 4])
    vote = selection_per_problem(SelectorData("vote", classes, scores), correct, ks)
    assert (vote.ties, vote.ties_mixed, vote.no_basis, vote.unscored) == (2, 1, 1, 0)
    np.testing.assert_allclose(vote.per_problem[:, -1], [0.5, 1.0, 0.0, 1.0])
    arg = selection_per_problem(SelectorData("argmax", classes, scores), correct, ks)
    # problem 0: three candidates tie at 1.0 (2 right, 1 wrong); problem 3: two tie, both right
    assert (arg.ties, arg.ties_mixed, arg.no_basis, arg.unscored) == (2, 1, 1, 5)
    np.testing.assert_allclose(arg.per_problem[:, -1], [2 / 3, 1.0, 0.0, 1.0])


def test_vote_weights_as_stored_nan_zero():
    """The report sums the weights the selector stored (its transform applied); nothing shifted."""
    np.testing.assert_allclose(vote_weights(np.array([-2.0, 1.0, np.nan])), [-2.0, 1.0, 0.0])
    np.testing.assert_allclose(vote_weights(np.array([0.5, np.nan])), [0.5, 0.0])
    np.testing.assert_allclose(vote_weights(np.array([np.nan, np.nan])), [0.0, 0.0])


def test_selection_config_validation_and_draws():
    cfg = SelectionConfig(total_draws=8192, min_draws=16, max_draws=4096)
    assert cfg.draws_for(500) == 16
    assert cfg.draws_for(1) == 4096
    assert cfg.draws_for(100) == 81
    assert cfg.draws_for(5000) == 16
    assert cfg.draws_for(10, 65_536) == (1 << 27) // (10 * 65_536)  # position cap for huge runs
    assert cfg.draws_for(500, 1 << 20) == 16  # never below min_draws
    with pytest.raises(MetricsError):
        SelectionConfig(min_draws=10, max_draws=5)


# ----------------------------------------------------------------------------- power law


@pytest.mark.parametrize("a,b", [(-1.5, -0.3), (-0.4, -0.6), (-3.0, -0.15), (-0.05, -1.0)])
def test_power_law_recovers_known_curve(a, b):
    ks = np.unique(np.round(np.geomspace(1, 10_000, 40)))
    cov = np.exp(a * ks**b)
    fit = fit_power_law(ks, cov)
    assert fit.a == pytest.approx(a, rel=1e-6)
    assert fit.b == pytest.approx(b, rel=1e-6)
    assert fit.r2 == pytest.approx(1.0, abs=1e-9)
    for target, k in ((0.9, fit.k90), (0.99, fit.k99)):
        assert k is not None
        assert math.exp(a * max(k, 1.0) ** b) >= target - 1e-9
        if k > 1:
            assert math.exp(a * k**b) == pytest.approx(target, rel=1e-9)


def test_power_law_recovers_from_noisy_curve():
    rng = np.random.default_rng(0)
    ks = np.unique(np.round(np.geomspace(1, 4096, 30)))
    cov = np.exp(-1.2 * ks**-0.35) * (1 + rng.normal(0, 0.002, ks.size))
    fit = fit_power_law(ks, np.clip(cov, 0, 1))
    assert fit.a == pytest.approx(-1.2, rel=0.05)
    assert fit.b == pytest.approx(-0.35, rel=0.05)
    assert fit.r2 > 0.99


def test_power_law_degenerate_inputs():
    assert fit_power_law([1, 2, 4], [1.0, 1.0, 1.0]).a is None  # solved everywhere: nothing to fit
    assert fit_power_law([1, 2, 4], [0.0, 0.0, 0.5]).a is None  # one usable point
    assert forecast_k(-1.0, 0.1, 0.9) is None  # coverage falls with k: never reaches
    assert forecast_k(0.5, -0.3, 0.9) is None
    assert forecast_k(-0.01, -0.5, 0.9) == 1.0  # already there at k = 1


# ----------------------------------------------------------------------------- run-level


def small_run(name: str = "r") -> RunData:
    return RunData(
        name=name,
        task="t",
        problem_ids=["a", "b"],
        correct=[np.array([1, 0, 0, 0], bool), np.array([0, 0, 0], bool)],
        unjudged=[np.array([0, 0, 0, 1], bool), np.array([0, 1, 1], bool)],
        answers=[np.array([5, 6, 6, -1]), np.array([-1, -1, 2])],
    )


def test_coverage_effective_answers_unjudged():
    run = small_run()
    cov = coverage_per_problem(run, np.array([1, 2, 3]))
    np.testing.assert_allclose(cov[0], [1 / 4, 1 / 2, 3 / 4])
    np.testing.assert_allclose(cov[1], [0, 0, 0])
    assert effective_answers(run) == pytest.approx((2 + 1) / 2)
    u = unjudged_counts(run)
    assert (u.candidates, u.problems) == (3, 2)
    assert u.share == pytest.approx(3 / 7)


def test_bootstrap_intervals():
    per = np.column_stack([np.full(50, 0.4), np.r_[np.zeros(25), np.ones(25)]])
    ivs = bootstrap_intervals(per, bootstrap_weights(50, 2000, 0), 0.95)
    assert (
        ivs[0].mean == pytest.approx(0.4)
        and ivs[0].lo == pytest.approx(0.4)
        and ivs[0].hi == pytest.approx(0.4)
    )
    assert ivs[1].lo < 0.5 < ivs[1].hi
    assert ivs[1].hi - ivs[1].lo == pytest.approx(2 * 1.96 * 0.5 / math.sqrt(50), rel=0.15)


def test_validate_names_the_problem():
    run = small_run()
    bad = RunData(
        run.name,
        run.task,
        run.problem_ids,
        [run.correct[0], np.zeros(0, bool)],
        [run.unjudged[0], np.zeros(0, bool)],
        [run.answers[0], np.zeros(0, np.int64)],
    )
    with pytest.raises(MetricsError, match="'b' has no candidates"):
        bad.validate()
    sel = SelectorData("vote", [np.zeros(4, np.int64), np.zeros(2, np.int64)], [])
    bad2 = RunData(run.name, run.task, run.problem_ids, run.correct, run.unjudged, run.answers, {"m": sel})
    with pytest.raises(MetricsError, match="selector 'm'.*problem 'b'"):
        bad2.validate()
    with pytest.raises(MetricsError, match="rule 'best'"):
        RunData(
            run.name,
            run.task,
            run.problem_ids,
            run.correct,
            run.unjudged,
            run.answers,
            {"m": SelectorData("best", [], [])},
        ).validate()


@pytest.mark.parametrize("dense_factor", [0.0, 1e9])
def test_chunked_draws_equal_one_pass(monkeypatch, dense_factor):
    import loop.analysis.selection_at_k as selection

    monkeypatch.setattr(selection, "_DENSE_FACTOR", dense_factor)

    rng = np.random.default_rng(4)
    probs = [random_case(rng, 64) for _ in range(3)]
    sel = SelectorData("weighted_vote", [p[0] for p in probs], [p[1] for p in probs])
    corr = [p[2] for p in probs]
    cfg = SelectionConfig(total_draws=1, min_draws=50, max_draws=50)
    whole = selection_per_problem(sel, corr, k_grid(64), cfg, seed=3).per_problem
    monkeypatch.setattr(selection, "_CHUNK", 100)  # 3 permutations of 32 positions per chunk
    chunked = selection_per_problem(sel, corr, k_grid(64), cfg, seed=3).per_problem
    np.testing.assert_allclose(chunked, whole, atol=1e-12)


def test_class_ids():
    np.testing.assert_array_equal(class_ids(["1/2", None, "3", "1/2", None]), [0, -1, 1, 0, -1])
    assert class_ids([]).dtype == np.int64


def test_argmax_kernel_rows_are_distributions_at_100k():
    from loop.analysis.selection_at_k import argmax_kernel

    kern = argmax_kernel(100_000, k_grid(100_000))
    np.testing.assert_allclose(kern.sum(axis=1), 1.0, atol=1e-12)
    assert (kern >= 0).all()


# ----------------------------------------------------------------------------- #EA (issue 16 item 2)


def test_effective_answers_at_k_equals_subset_enumeration():
    from loop.analysis.metrics import effective_answers_at_k

    rng = np.random.default_rng(5)
    for _ in range(20):
        n = int(rng.integers(1, 8))
        classes = rng.integers(-1, 4, n).astype(np.int64)
        run = RunData("r", "t", ["p"], [np.zeros(n, bool)], [np.zeros(n, bool)], [classes])
        ks = np.arange(1, n + 1)
        got = effective_answers_at_k(run, ks)[0]
        want = [np.mean([len({int(classes[i]) for i in s if classes[i] >= 0})
                         for s in itertools.combinations(range(n), int(k))]) for k in ks]
        np.testing.assert_allclose(got, want, atol=1e-12)
        assert got[-1] == pytest.approx(effective_answers(run))  # k = n: the distinct answers of all


def test_effective_answers_use_the_votes_classes():
    """#EA counts the answer classes the vote uses (MATH: math-verify merges 0.5 and \\frac12),
    not the oracle's per-candidate keys; without a vote stored, the oracle's keys."""
    from loop.analysis.metrics import answer_classes

    oracle_keys = [np.array([0, 1, 2, -1])]  # "0.5", "1/2", "3", no answer
    vote = [np.array([0, 0, 1, -1])]  # the vote merged the first two
    base = dict(name="r", task="math500", problem_ids=["p"], correct=[np.zeros(4, bool)],
                unjudged=[np.zeros(4, bool)], answers=oracle_keys)
    assert effective_answers(RunData(**base)) == 3
    assert answer_classes(RunData(**base))[1] == "oracle"
    with_vote = RunData(**base, selectors={"best_of_n": SelectorData("argmax", oracle_keys, [np.zeros(4)]),
                                           "majority": SelectorData("vote", vote, [np.full(4, np.nan)])})
    assert effective_answers(with_vote) == 2
    assert answer_classes(with_vote)[1] == "majority"


@pytest.mark.parametrize("dense_factor", [0.0, 1e9])
def test_weighted_vote_with_negative_weights_matches_brute_force(dense_factor, monkeypatch):
    """Raw reward scores can be negative (weighted_majority:transform=raw, the default): a class
    sum then falls when a negative member arrives (A: +1.0 then -0.6 is 0.4, below B's 0.8), so
    the report's weighted vote must not keep the running maximum of the past."""
    import loop.analysis.selection_at_k as selection

    monkeypatch.setattr(selection, "_DENSE_FACTOR", dense_factor)
    classes = np.array([0, 0, 1, 2, 0, 3])
    scores = np.array([1.0, -0.6, 0.8, 0.1, -0.9, 0.3])
    correct = np.array([0, 0, 1, 0, 0, 0], bool)
    ks = np.arange(1, 7)
    cfg = SelectionConfig(total_draws=1, min_draws=40_000, max_draws=40_000)
    res = selection_per_problem(SelectorData("weighted_vote", [classes], [scores]), [correct], ks, cfg, seed=2)
    want = [brute_accuracy("weighted_vote", classes, scores, correct, int(k)) for k in ks]
    np.testing.assert_allclose(res.per_problem[0], want, atol=0.01)


# ----------------------------------------------------------------------------- paired (issue 16 item 11)


def test_paired_difference_resamples_the_same_problems_for_both_runs():
    from loop.analysis import paired_difference

    rng = np.random.default_rng(4)
    base = rng.random((40, 3))  # very different problems...
    a, b = base, base + 0.1  # ...and b is better by exactly 0.1 on every one of them
    ivs = paired_difference(a, b, resamples=500, seed=1)
    for iv in ivs:  # paired: the problem-to-problem spread cancels, the interval is the point
        assert iv.mean == pytest.approx(0.1) and iv.lo == pytest.approx(0.1) and iv.hi == pytest.approx(0.1)
    # unpaired (independent resamples) the same data would give a wide interval
    wa, wb = bootstrap_weights(40, 500, 1), bootstrap_weights(40, 500, 2)
    spread = np.quantile(wb @ b[:, 0] / 40 - wa @ a[:, 0] / 40, [0.025, 0.975])
    assert spread[1] - spread[0] > 0.1
    same = paired_difference(a, a, resamples=200, seed=0)
    assert all(iv.mean == iv.lo == iv.hi == 0.0 for iv in same)


def test_shared_problems_align_by_id():
    from loop.analysis import shared_problems

    ia, ib = shared_problems(["p3", "p1", "p2", "p9"], ["p1", "p2", "p3", "p7"])
    assert ia.tolist() == [0, 1, 2] and ib.tolist() == [2, 0, 1]


# ----------------------------------------------------------------------------- beyond n (issue 16 item 12)


def test_forecast_of_an_exact_power_law_and_its_warnings():
    from loop.analysis import fit_power_law, forecast_coverage

    a, b, n = -1.2, -0.35, 64
    ks = np.unique(np.round(np.geomspace(1, n, 30)).astype(int))
    pp = np.tile(np.exp(a * ks.astype(float) ** b), (50, 1))  # every problem on the same curve
    fit = fit_power_law(ks, pp.mean(axis=0))
    fc = forecast_coverage(fit, ks, pp, n, resamples=100, seed=0)
    for factor in (10, 100):
        iv = fc.at[factor]
        assert iv.mean == pytest.approx(np.exp(a * (factor * n) ** b), rel=1e-6)
        assert iv.lo == pytest.approx(iv.mean, abs=1e-9) and iv.hi == pytest.approx(iv.mean, abs=1e-9)
    assert fc.ks[0] == n and fc.ks[-1] == pytest.approx(100 * n)
    # k99 of this curve is far beyond 10 n: said so
    assert fit.k99 is not None and fit.k99 > 10 * n
    assert any("k99" in w and "beyond" in w for w in fc.warnings)


def test_forecast_interval_from_problem_bootstrap():
    from loop.analysis import fit_power_law, forecast_coverage, pass_at_k

    rng = np.random.default_rng(0)
    n = 32
    p = rng.beta(0.3, 2.0, 300)
    c = rng.binomial(n, p)
    ks = np.unique(np.round(np.geomspace(1, n, 30)).astype(int))
    pp = pass_at_k(np.full((300, 1), n), c[:, None], ks[None, :])
    fit = fit_power_law(ks, pp.mean(axis=0))
    fc = forecast_coverage(fit, ks, pp, n, resamples=200, seed=3)
    iv = fc.at[10]
    assert iv.lo < iv.mean < iv.hi and iv.hi - iv.lo < 0.3
    assert fc.resamples == 200
    small = forecast_coverage(fit_power_law(ks, pp[:30].mean(axis=0)), ks, pp[:30], n, resamples=200, seed=3)
    assert small.at[10].hi - small.at[10].lo > iv.hi - iv.lo  # fewer problems, wider
