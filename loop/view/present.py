"""Pure helpers that turn stored values into what a page shows (no HTML here: the templates
escape everything; these only pick, cut and classify)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping

from verifiers.swe.diffs import extract_diff

TEXT_LIMIT = 200_000  # characters of one candidate text shown (the rest is cut, and says so)
DETAIL_LIMIT = 4_000  # characters of one verdict detail value shown


def clip(text: Any, limit: int = DETAIL_LIMIT) -> str:
    s = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False, default=repr)
    return s if len(s) <= limit else s[:limit] + f"… [{len(s) - limit:,} more characters]"


def gold_text(reference: Any) -> str:
    """A short line for the gold answer: the answer itself for math, a summary otherwise."""
    if reference is None:
        return "–"
    if isinstance(reference, str) and "####" in reference:  # GSM8K: the reasoning, then "#### answer"
        return clip(reference.rsplit("####", 1)[1].strip(), 200)
    if isinstance(reference, (str, int, float)):
        return clip(str(reference), 200)
    if isinstance(reference, Mapping):
        if "answer" in reference:
            return clip(str(reference["answer"]), 200)
        if "entry_point" in reference:
            base, plus = reference.get("base_input") or (), reference.get("plus_input") or ()
            return f"tests: {len(base)} base + {len(plus)} plus inputs of {reference['entry_point']}()"
        if "patch" in reference:
            f2p = reference.get("FAIL_TO_PASS") or reference.get("fail_to_pass") or ()
            return f"gold patch; {len(f2p) if isinstance(f2p, (list, tuple)) else '?'} tests must go from failing to passing"
    return clip(reference, 200)


@dataclass(frozen=True)
class TextParts:
    """A candidate's text split around the FIRE hot token (``hot`` empty: nothing to mark)."""

    before: str
    hot: str
    after: str
    note: str  # where the hot token is, when it cannot be marked in the text
    cut: int  # characters not shown


def split_hot(text: str, meta: Mapping[str, Any], sampler: Any, turn: int) -> TextParts:
    shown, cut = (text, 0) if len(text) <= TEXT_LIMIT else (text[:TEXT_LIMIT], len(text) - TEXT_LIMIT)
    name = sampler.get("name") if isinstance(sampler, Mapping) else None
    hot = meta.get("hot_token") if isinstance(meta, Mapping) else None
    if turn != 0 or not isinstance(name, str) or not name.startswith("fire") or not isinstance(hot, str) or not hot:
        return TextParts(shown, "", "", "", cut)
    at = meta.get("hot_char")
    pos = meta.get("hot_position")
    if not isinstance(at, int) or isinstance(at, bool):
        at = 0 if pos == 0 else None
    if at is not None and 0 <= at and shown[at:at + len(hot)] == hot:
        return TextParts(shown[:at], hot, shown[at + len(hot):], "", cut)
    where = f"token {pos}" if isinstance(pos, int) else "no hot token (the text ended first)"
    return TextParts(shown, "", "", f"hot token {hot!r} at {where}", cut)


def diff_lines(text: str) -> list[tuple[str, str]]:
    """(css class, line) for a unified diff: add, del, hunk, head, or ctx."""
    out = []
    for line in clip(text, TEXT_LIMIT).splitlines():
        if line.startswith(("+++", "---", "diff --git", "index ")):
            kind = "head"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        out.append((kind, line))
    return out


def failing_input(reference: Any, failure: Mapping[str, Any]) -> str | None:
    """The input of an EvalPlus failure from the problem's reference (for verdicts that did not
    store it)."""
    if not isinstance(reference, Mapping):
        return None
    suite, index = failure.get("suite"), failure.get("index")
    inputs = reference.get("base_input" if suite == "base" else "plus_input")
    if not isinstance(inputs, list) or not isinstance(index, int) or not 0 <= index < len(inputs):
        return None
    return clip(inputs[index], 400)


@dataclass(frozen=True)
class VerdictView:
    verifier: str
    role: str  # oracle, feedback, selector
    passed: bool | None
    score: float | None
    answer: str | None
    feedback: str
    failure: dict[str, str] | None  # code: the first failing input
    swe: dict[str, Any] | None  # SWE: status and the tests that failed / passed
    rest: list[tuple[str, str]]  # other details, clipped


_FAILURE_KEYS = ("suite", "index", "kind", "input", "expected", "got", "message", "traceback", "seconds", "limit_s")
_SWE_KEYS = ("status", "reason", "apply_method", "f2p_failed", "p2p_failed", "f2p_passed", "p2p_passed",
             "integrity", "tests_collected", "returncode", "duration_s", "image", "error")


def verdict_view(verifier: str, role: str, row: tuple[Any, ...], reference: Any) -> VerdictView:
    """``row``: (score, passed, answer, feedback, details json) as stored."""
    score, passed, answer, feedback, details_text = row
    try:
        details = json.loads(details_text) if details_text else {}
    except (ValueError, RecursionError):
        details = {"unreadable details": details_text}
    if not isinstance(details, dict):
        details = {"details": details}
    failure = None
    ff = details.get("first_failure")
    if isinstance(ff, Mapping):
        failure = {k: clip(ff[k], 2000 if k == "traceback" else 400) for k in _FAILURE_KEYS if k in ff}
        if "input" not in failure:
            got = failing_input(reference, ff)
            if got is not None:
                failure["input"] = got
    swe = None
    if "apply_method" in details or "f2p_failed" in details:
        swe = {k: details[k] for k in _SWE_KEYS if k in details}
        for k in ("f2p_failed", "p2p_failed", "integrity"):
            if k in swe:
                swe[k] = [clip(t, 400) for t in swe[k]][:200] if isinstance(swe[k], list) else [clip(swe[k], 400)]
    skip = {"first_failure"} | (set(_SWE_KEYS) if swe is not None else set())
    rest = [(str(k), clip(v)) for k, v in details.items() if k not in skip][:40]
    sc = float(score) if isinstance(score, (int, float)) and math.isfinite(score) else None
    return VerdictView(verifier, role, None if passed is None else bool(passed), sc,
                       None if answer is None else clip(answer, 400), clip(feedback or "", 20_000), failure, swe, rest)


def patch_of(text: str) -> str:
    """The unified diff a SWE candidate proposes (as the SWE verifiers extract it)."""
    return extract_diff(text)


def pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f}%"


def messages_of(prompt: Any) -> list[tuple[str, str]]:
    """(role, content) of a stored prompt (chat messages)."""
    if isinstance(prompt, list):
        out = []
        for m in prompt:
            if isinstance(m, Mapping):
                out.append((str(m.get("role", "?")), clip(m.get("content", ""), TEXT_LIMIT)))
            else:
                out.append(("?", clip(m, TEXT_LIMIT)))
        return out
    return [("user", clip(prompt, TEXT_LIMIT))] if prompt else []


def sampler_label(config: Mapping[str, Any], spec: Mapping[str, Any] | None = None) -> str:
    """The sampler and its knobs: from a candidate's stored spec (defaults included), else the config."""
    if spec:
        knobs = {k: v for k, v in spec.items() if k not in ("name", "stop", "max_tokens")}
        return str(spec.get("name", "?")) + (" (" + ", ".join(f"{k}={v}" for k, v in knobs.items()) + ")" if knobs else "")
    name = str(config.get("sampler") or "–")
    params = config.get("sampler_params")
    if isinstance(params, Mapping) and params:
        return name + " (" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")"
    return name
