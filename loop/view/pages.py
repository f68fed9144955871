"""The pages, rendered on the server from the run indexes (Jinja2 with autoescaping: every value
from a store, model text above all, is escaped; the only raw insert is :func:`script_json`,
which makes JSON safe inside a ``<script type="application/json">`` block).

Used by the web app (``loop.view.app``) and the static export (``loop.view.export``) alike; they
differ only in their :class:`~loop.view.links.Links`.
"""
from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from ..analysis import pass_at_k
from ..tasks import RETRY_FEEDBACK, UNSPECIFIED_FEEDBACK
from .index import ProblemData, RunIndex
from .links import Links
from .present import diff_lines, gold_text, messages_of, patch_of, pct, sampler_label, split_hot, verdict_view
from .source import parse_json

PER_PAGE = 50  # problems per page
TRAJ_PER_PAGE = 20  # candidates (trajectories) per page of a problem
CLASSES_SHOWN = 60
TEMPLATES = Path(__file__).parent / "templates"
# the page's own policy (a <meta> element, so it holds in a static export too) ...
CSP_META = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'self'")
# ... and the server's header, which can also forbid framing
CSP = CSP_META + "; frame-ancestors 'none'"


class NotFound(LookupError):
    """An unknown run, problem or page: the message says which."""


def script_json(obj: Any) -> Markup:
    """JSON that cannot end the script element it sits in or open a comment: <, >, & and the
    line separators are written as \\u escapes (JSON.parse reads them back)."""
    text = json.dumps(obj, ensure_ascii=False, allow_nan=False, default=str)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return Markup(text)


def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float, np.floating)) and math.isfinite(x) else None


def _plotly_text(s: str) -> str:
    """Plotly reads names and hover text as pseudo-HTML: escape it (Plotly decodes entities)."""
    return html.escape(s, quote=True)


@dataclass(frozen=True)
class Filter:
    key: str
    label: str
    count: int


class Pages:
    def __init__(self, runs: Mapping[str, RunIndex], links: Links) -> None:
        self.runs = dict(runs)
        self.links = links
        self.env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=True, undefined=StrictUndefined,
                               trim_blocks=True, lstrip_blocks=True)
        self.env.globals.update(links=links, pct=pct, static=links.static, csp=CSP_META, run_ids=list(self.runs))
        self.env.filters["pct"] = pct

    # -- helpers --------------------------------------------------------------------------------
    def index(self, rid: str) -> RunIndex:
        idx = self.runs.get(rid)
        if idx is None:
            raise NotFound(f"no run {rid!r} here; the runs are: {', '.join(self.runs) or 'none'}")
        return idx

    def render(self, template: str, **ctx: Any) -> str:
        return self.env.get_template(template).render(**ctx)

    def not_found(self, message: str) -> str:
        return self.render("error.html", title="Not found", message=message, code=404)

    @staticmethod
    def majority_name(idx: RunIndex) -> str | None:
        votes = [n for n, r in idx.selectors.items() if r == "vote"]
        return "majority" if "majority" in votes else (votes[0] if votes else None)

    # -- run summaries --------------------------------------------------------------------------
    def summary(self, idx: RunIndex) -> dict[str, Any]:
        """The runs table's row (and the live JSON): cheap, from the index."""
        cfg = idx.config
        st = idx.status
        probs = idx.ordered()
        sizes = np.array([p.n for p in probs], dtype=np.int64)
        nmin = int(sizes.min()) if sizes.size else 0
        cov = None
        if sizes.size:
            c = np.array([p.n_correct for p in probs], dtype=np.int64)
            cov = float(pass_at_k(sizes, c, np.full(sizes.size, nmin)).mean())
        sel = {name: (float(np.mean([p.picks.get(name, 0.0) for p in probs])) if probs else None)
               for name in idx.selectors}
        model = str(cfg.get("model_path") or cfg.get("model") or "–")
        return {
            "rid": idx.rid, "name": idx.name, "task": str(cfg.get("task", "?")), "engine": str(cfg.get("engine") or "–"),
            "model": model.rsplit("/", 1)[-1], "model_full": model, "sampler": sampler_label(cfg, idx.sampler_spec),
            "n": cfg.get("n") if isinstance(cfg.get("n"), int) else nmin, "n_min": nmin,
            "equal_n": bool(sizes.size) and int(sizes.max()) == nmin,
            "problems": len(idx.infos), "problems_judged": len(probs),
            "max_turns": cfg.get("max_turns", 1), "turns_seen": max((p.max_turn for p in probs), default=0) + 1,
            "command": str(cfg.get("command") or "–"), "status": st.to_dict() if st else {},
            "coverage": cov, "selectors": sel, "oracle": idx.oracle,
            "feedback": str(cfg.get("feedback_used") or "–"), "indexing": idx.indexing,
        }

    def live_json(self, rid: str) -> dict[str, Any]:
        idx = self.index(rid)
        idx.refresh()
        s = self.summary(idx)
        return {"rid": rid, "status": s["status"], "coverage": s["coverage"], "selectors": s["selectors"],
                "problems_judged": s["problems_judged"], "version": list(idx.version)}

    # -- pages ----------------------------------------------------------------------------------
    def runs_page(self) -> str:
        for idx in self.runs.values():
            idx.refresh()
        rows = [self.summary(idx) for idx in self.runs.values()]
        selectors = sorted({s for r in rows for s in r["selectors"]})
        pairs = [(a, b) for i, a in enumerate(self.runs) for b in list(self.runs)[i + 1:]]
        return self.render("runs.html", title="Runs", rows=rows, selectors=selectors, pairs=pairs)

    def run_page(self, rid: str) -> str:
        idx = self.index(rid)
        idx.refresh()
        s = self.summary(idx)
        cfg = [(k, v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str))
               for k, v in sorted(idx.config.items())]
        verifiers = sorted(idx.verifiers.items())
        return self.render("run.html", title=s["name"], s=s, config=cfg, verifiers=verifiers)

    # problems --------------------------------------------------------------------------------
    FILTERS_HELP = {
        "all": "every problem", "covered": "some candidate is correct", "never": "no candidate is correct",
        "unjudged": "the oracle could not judge some candidate", "pending": "candidates not judged yet",
    }

    def filters(self, idx: RunIndex) -> list[Filter]:
        probs = [idx.problems.get(p.pid) for p in idx.infos]
        have = [p for p in probs if p is not None]
        out = [Filter("all", "all", len(idx.infos)),
               Filter("covered", "covered", sum(p.n_correct > 0 for p in have)),
               Filter("never", "never covered", sum(p.n > 0 and p.n_correct == 0 for p in have)),
               Filter("unjudged", "unjudged", sum(p.n_unjudged > 0 for p in have)),
               Filter("pending", "pending", sum(p.begun.size > p.n for p in have))]
        for name in idx.selectors:
            out.append(Filter(f"missed:{name}", f"covered but missed by {name}",
                              sum(p.n_correct > 0 and p.picks.get(name, 0.0) < 1 - 1e-9 for p in have)))
        return out

    @staticmethod
    def _keep(p: ProblemData | None, show: str) -> bool:
        if show == "all":
            return True
        if p is None:
            return False
        if show == "covered":
            return p.n_correct > 0
        if show == "never":
            return p.n > 0 and p.n_correct == 0
        if show == "unjudged":
            return p.n_unjudged > 0
        if show == "pending":
            return p.begun.size > p.n
        if show.startswith("missed:"):
            return p.n_correct > 0 and p.picks.get(show[7:], 1.0) < 1 - 1e-9
        return False

    SORTS = ("position", "id", "correct", "n", "share", "answers", "unjudged")

    def problem_list(self, idx: RunIndex, show: str = "all", sort: str = "position", desc: bool = False,
                     q: str = "") -> list[tuple[Any, ProblemData | None]]:
        """(info, data) of the problems a filter, search and sort select."""
        if show not in {f.key for f in self.filters(idx)}:
            raise NotFound(f"no filter {show!r}; use one of: {', '.join(f.key for f in self.filters(idx))}")
        if sort not in self.SORTS:
            raise NotFound(f"no sort {sort!r}; use one of: {', '.join(self.SORTS)}")
        needle = q.strip().lower()
        maj = self.majority_name(idx)
        rows = []
        for info in idx.infos:
            p = idx.problems.get(info.pid)
            if not self._keep(p, show):
                continue
            if needle and needle not in info.pid.lower() and needle not in info.prompt_text:
                continue
            rows.append((info, p))

        def key(row: tuple[Any, ProblemData | None]) -> Any:
            info, p = row
            if sort == "id":
                return (info.pid,)
            if sort == "position" or p is None:
                return (info.position,) if sort == "position" else (-math.inf, info.position)
            if sort == "correct":
                return (p.n_correct / p.n if p.n else -1.0, info.position)
            if sort == "n":
                return (p.n, info.position)
            if sort == "share":
                _, votes, _ = p.top_class(maj) if maj else (None, 0, False)
                return (votes / p.n if p.n else -1.0, info.position)
            if sort == "answers":
                return (len(p.labels), info.position)
            return (p.n_unjudged, info.position)

        rows.sort(key=key, reverse=desc)
        return rows

    def problems_page(self, rid: str, show: str = "all", sort: str = "position", desc: bool = False, q: str = "",
                      page: int = 1) -> str:
        idx = self.index(rid)
        idx.refresh()
        rows = self.problem_list(idx, show, sort, desc, q)
        pages = max(1, math.ceil(len(rows) / PER_PAGE))
        if not 1 <= page <= pages:
            raise NotFound(f"page {page} of {pages}")
        maj = self.majority_name(idx)
        shown = []
        for info, p in rows[(page - 1) * PER_PAGE: page * PER_PAGE]:
            r: dict[str, Any] = {"position": info.position, "pid": info.pid, "gold": gold_text(info.reference),
                                 "data": p is not None and p.n > 0}
            if p is not None:
                label, votes, tied = p.top_class(maj) if maj else (None, 0, False)
                r.update(n=p.n, correct=p.n_correct, unjudged=p.n_unjudged, pending=int(p.begun.size - p.n),
                         answers=len(p.labels), maj_label=label, maj_share=(votes / p.n if p.n else None),
                         maj_tied=tied, picks={s: p.picks.get(s) for s in idx.selectors})
            shown.append(r)
        return self.render("problems.html", title=f"{idx.name}: problems", s=self.summary(idx), rows=shown,
                           filters=self.filters(idx), show=show, sort=sort, desc=desc, q=q, page=page, pages=pages,
                           total=len(rows), majority=maj, selectors=list(idx.selectors), sorts=self.SORTS,
                           help=self.FILTERS_HELP)

    # one problem -----------------------------------------------------------------------------
    def problem_page(self, rid: str, position: int, show: str = "all", page: int = 1) -> str:
        idx = self.index(rid)
        idx.refresh()
        info = idx.by_position.get(position)
        if info is None:
            raise NotFound(f"run {rid!r} has no problem at position {position}")
        row = idx.source.problem_row(position)
        if row is None:
            raise NotFound(f"run {rid!r} has no problem at position {position}")
        pid, _, prompt, reference, meta = row
        reference = parse_json(reference)
        p = idx.problems.get(pid)
        status: dict[int, str] = {}
        answer_of: dict[int, str | None] = {}
        if p is not None:
            for s in p.begun.tolist():
                status[s] = "pending"
            for i, s in enumerate(p.samples.tolist()):
                status[s] = "passed" if p.correct[i] else ("unjudged" if p.unjudged[i] else "failed")
                answer_of[s] = p.labels[p.answers[i]] if p.answers[i] >= 0 else None
        classes = p.class_table() if p is not None else []
        if all(c["label"] is None for c in classes):  # code and patches have no answer to group by
            classes = []
        class_of = {}
        if p is not None:
            for i, s in enumerate(p.samples.tolist()):
                class_of[s] = int(p.answers[i])
        valid = {"all", "passed", "failed", "unjudged", "pending"} | {f"class:{c['index']}" for c in classes}
        if show not in valid:
            raise NotFound(f"no candidate filter {show!r} on this problem")
        samples = sorted(status)
        if show.startswith("class:"):
            want = int(show[6:])
            samples = [s for s in samples if status[s] != "pending" and class_of.get(s) == want]
        elif show != "all":
            samples = [s for s in samples if status[s] == show]
        pages = max(1, math.ceil(len(samples) / TRAJ_PER_PAGE))
        if not 1 <= page <= pages:
            raise NotFound(f"page {page} of {pages}")
        chosen = samples[(page - 1) * TRAJ_PER_PAGE: page * TRAJ_PER_PAGE]
        trajs = self._trajectories(idx, pid, chosen, reference, status, answer_of)
        maj = self.majority_name(idx)
        picks = []
        if p is not None:
            for name, rule in idx.selectors.items():
                label, votes, tied = p.top_class(name) if rule != "argmax" else (None, 0, False)
                picks.append({"name": name, "rule": rule, "acc": p.picks.get(name), "label": label,
                              "share": votes / p.n if p.n and rule != "argmax" else None, "tied": tied})
        return self.render(
            "problem.html", title=f"{idx.name}: {pid}", s=self.summary(idx), pid=pid, position=position,
            messages=messages_of(parse_json(prompt, [])), gold=gold_text(reference),
            reference=json.dumps(reference, ensure_ascii=False, indent=1, default=str)[:20_000],
            meta=parse_json(meta, {}), p=p, classes=classes[:CLASSES_SHOWN], more_classes=max(0, len(classes) - CLASSES_SHOWN),
            picks=picks, majority=maj, trajs=trajs, show=show, page=page, pages=pages, total=len(samples),
            counts={k: sum(v == k for v in status.values()) for k in ("passed", "failed", "unjudged", "pending")},
            is_swe=idx.oracle == "swe", prev=self._neighbour(idx, position, -1), next=self._neighbour(idx, position, 1),
        )

    @staticmethod
    def _neighbour(idx: RunIndex, position: int, step: int) -> int | None:
        order = [i.position for i in idx.infos]
        try:
            k = order.index(position) + step
        except ValueError:
            return None
        return order[k] if 0 <= k < len(order) else None

    def _trajectories(self, idx: RunIndex, pid: str, samples: Sequence[int], reference: Any,
                      status: Mapping[int, str], answer_of: Mapping[int, str | None]) -> list[dict[str, Any]]:
        cands = idx.source.candidate_rows(pid, samples)
        verdicts: dict[tuple[int, int], list[tuple[str, tuple[Any, ...]]]] = {}
        for s, t, name, *rest in idx.source.verdict_rows(pid, samples):
            verdicts.setdefault((s, t), []).append((name, tuple(rest)))
        roles = {n: v["role"] for n, v in idx.verifiers.items()}
        rank = {"oracle": 0, "feedback": 1, "selector": 2}
        fb_name = idx.feedback_verifier
        retry = idx.config.get("feedback") == "retry"
        out: dict[int, dict[str, Any]] = {s: {"sample": s, "status": status.get(s, "pending"),
                                              "answer": answer_of.get(s), "turns": []} for s in samples}
        for s, t, text, sampler, engine, seed, score, meta in cands:
            meta_d = parse_json(meta, {})
            meta_d = meta_d if isinstance(meta_d, dict) else {}
            vs = sorted(verdicts.get((s, t), []), key=lambda v: (rank.get(roles.get(v[0], ""), 3), v[0]))
            views = [verdict_view(name, roles.get(name, "?"), row, reference) for name, row in vs]
            if retry:
                feedback = RETRY_FEEDBACK
            elif fb_name is not None:
                fb = next((v for v in views if v.verifier == fb_name), None)
                feedback = fb.feedback if fb is not None and fb.feedback else UNSPECIFIED_FEEDBACK
            else:
                feedback = "(this run did not record which feedback the model saw)"
            out[s]["turns"].append({
                "turn": t, "parts": split_hot(text, meta_d, parse_json(sampler, {}), t), "verdicts": views,
                "tokens": meta_d.get("tokens"), "finish": meta_d.get("finish_reason"),
                "first_token": meta_d.get("first_token"), "engine": engine, "seed": seed,
                "score": _finite(score), "feedback": feedback,
                "diff": diff_lines(patch_of(text)) if idx.oracle == "swe" else None,
            })
        for tr in out.values():  # the feedback shown is the one before the next turn
            for i, turn in enumerate(tr["turns"]):
                if i + 1 >= len(tr["turns"]):
                    turn["feedback"] = None
        return [out[s] for s in samples]

    # compare ----------------------------------------------------------------------------------
    COMPARE = ("all", "both", "only-a", "only-b", "neither", "differ")

    def compare_page(self, a: str, b: str, show: str = "all", page: int = 1) -> str:
        ia, ib = self.index(a), self.index(b)
        if show not in self.COMPARE:
            raise NotFound(f"no compare filter {show!r}; use one of: {', '.join(self.COMPARE)}")
        ia.refresh()
        ib.refresh()
        bpos = {i.pid: i for i in ib.infos}
        ma, mb = self.majority_name(ia), self.majority_name(ib)
        rows = []
        for info in ia.infos:
            if info.pid not in bpos:
                continue
            pa, pb = ia.problems.get(info.pid), ib.problems.get(info.pid)
            ca = pa is not None and pa.n_correct > 0
            cb = pb is not None and pb.n_correct > 0
            which = "both" if ca and cb else "only-a" if ca else "only-b" if cb else "neither"
            rows.append({"pid": info.pid, "a_pos": info.position, "b_pos": bpos[info.pid].position, "which": which,
                         "a": self._side(pa, ma), "b": self._side(pb, mb)})
        counts = {k: sum(r["which"] == k for r in rows) for k in self.COMPARE[1:5]}
        counts["all"] = len(rows)
        counts["differ"] = counts["only-a"] + counts["only-b"]
        keep = [r for r in rows if show == "all" or r["which"] == show
                or (show == "differ" and r["which"] in ("only-a", "only-b"))]
        pages = max(1, math.ceil(len(keep) / PER_PAGE))
        if not 1 <= page <= pages:
            raise NotFound(f"page {page} of {pages}")
        return self.render("compare.html", title=f"{ia.name} vs {ib.name}", a=self.summary(ia), b=self.summary(ib),
                           rows=keep[(page - 1) * PER_PAGE: page * PER_PAGE], counts=counts, show=show, page=page,
                           pages=pages, common=len(rows), filters=self.COMPARE, ma=ma, mb=mb)

    @staticmethod
    def _side(p: ProblemData | None, maj: str | None) -> dict[str, Any]:
        if p is None or not p.n:
            return {"n": 0, "correct": 0, "maj": None}
        return {"n": p.n, "correct": p.n_correct, "maj": p.picks.get(maj) if maj else None}

    # curves -----------------------------------------------------------------------------------
    def curves_page(self, rids: Sequence[str]) -> str:
        rids = list(rids) or list(self.runs)
        reports = []
        for rid in rids:
            idx = self.index(rid)
            idx.refresh()
            reports.append((rid, idx.report(name=idx.name)))
        plots, tables, traces = self.curve_plots([(rid, rep) for rid, rep in reports if rep is not None])
        missing = [rid for rid, rep in reports if rep is None]
        return self.render("curves.html", title="Curves", plots=script_json(plots), tables=tables,
                           traces=traces, chosen=rids, missing=missing)

    @staticmethod
    def curve_plots(reports: Sequence[tuple[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
        """Plotly figures (coverage + selection@k + power-law fit; gap to coverage) and tables."""
        palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
        dashes = ["solid", "dot", "dash", "longdash", "dashdot"]
        main: list[dict[str, Any]] = []
        gap: list[dict[str, Any]] = []
        tables = []
        all_ks: set[int] = set()
        for ri, (rid, r) in enumerate(reports):
            color = palette[ri % len(palette)]
            ks = [int(k) for k in r.ks]
            all_ks.update(ks)

            def trace(name: str, ivs: Sequence[Any], dash: str, what: str,
                      ks: list[int] = ks, color: str = color) -> dict[str, Any]:
                ys = [_finite(iv.mean) for iv in ivs]
                lo = [_finite(iv.lo) for iv in ivs]
                hi = [_finite(iv.hi) for iv in ivs]
                return {"type": "scatter", "mode": "lines+markers", "name": _plotly_text(name), "x": ks, "y": ys,
                        "line": {"color": color, "dash": dash},
                        "error_y": {"type": "data", "symmetric": False,
                                    "array": [(h - y) if h is not None and y is not None else 0 for h, y in zip(hi, ys)],
                                    "arrayminus": [(y - lo_) if lo_ is not None and y is not None else 0
                                                   for lo_, y in zip(lo, ys)], "thickness": 1},
                        "customdata": [[a, b] for a, b in zip(lo, hi)],
                        "hovertemplate": _plotly_text(f"{name}: {what}") + " at k=%{x}: %{y:.1%} "
                                         "[%{customdata[0]:.1%}, %{customdata[1]:.1%}]<extra></extra>"}

            main.append(trace(f"{r.name}: coverage", r.coverage, "solid", "coverage"))
            for si, (sname, sr) in enumerate(r.selection.items()):
                main.append(trace(f"{r.name}: {sname}", sr.accuracy, dashes[(si + 1) % len(dashes)],
                                  "selection accuracy"))
                gap.append(trace(f"{r.name}: {sname}", sr.gap, dashes[(si + 1) % len(dashes)], "gap to coverage"))
            pl = r.power_law
            if _finite(pl.a) is not None and _finite(pl.b) is not None:
                xs = sorted({int(x) for x in np.unique(np.round(np.geomspace(1, max(ks), 60)))})
                main.append({"type": "scatter", "mode": "lines", "name": _plotly_text(f"{r.name}: power-law fit"),
                             "x": xs, "y": [float(math.exp(pl.a * x ** pl.b)) for x in xs],
                             "line": {"color": color, "dash": "dot", "width": 1},
                             "hovertemplate": _plotly_text(f"{r.name}: fit exp(a·k^b)") +
                             " at k=%{x}: %{y:.1%}<extra></extra>"})
            tables.append({"rid": rid, "name": r.name, "n": r.n, "problems": r.problems, "ea": r.effective_answers,
                           "a": _finite(pl.a), "b": _finite(pl.b), "r2": _finite(pl.r2), "k90": _finite(pl.k90),
                           "k99": _finite(pl.k99), "coverage": _finite(r.coverage[-1].mean),
                           "selectors": [(s, _finite(sr.accuracy[-1].mean), _finite(sr.gap[-1].mean) if sr.gap else None)
                                         for s, sr in r.selection.items()],
                           "distinct_first": r.meta.get("distinct_first_tokens")})
        ticks = sorted(all_ks)
        xaxis = {"type": "log", "title": {"text": "k (samples, log scale)"}, "tickvals": ticks,
                 "ticktext": [str(k) for k in ticks]}
        layout = {"xaxis": xaxis, "hovermode": "closest", "margin": {"t": 40}, "legend": {"orientation": "v"},
                  "height": 480}
        plots = [{"div": "plot-curves", "data": main,
                  "layout": {**layout, "title": {"text": "coverage and selection accuracy against k"},
                             "yaxis": {"title": {"text": "share of problems"}, "tickformat": ".0%", "rangemode": "tozero"}}}]
        if gap:
            plots.append({"div": "plot-gap", "data": gap,
                          "layout": {**layout, "title": {"text": "gap to coverage (a correct candidate was there, the pick was wrong)"},
                                     "yaxis": {"title": {"text": "coverage − selection"}, "tickformat": ".0%"}}})
        return plots, tables, len(main)
