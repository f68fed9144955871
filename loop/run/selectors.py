"""Selector specs: how ``--selectors`` names a selector together with its options, how they are
checked before any work, and how they are built and run on a run store.

Syntax: selectors are comma-separated; each is ``NAME`` or ``NAME:key=value:key=value``. A ``:``
starts a new option only when ``key=`` follows it, so values may hold colons (URLs, Windows
paths); values may not hold commas. Examples::

    majority
    reward_model:model=/models/Skywork-Reward-Llama-3.1-8B:batch_size=16:dtype=bfloat16
    reward_model:backend=http:url=http://127.0.0.1:8000:model=rm:as=rm_server
    process_reward:model=/models/Qwen2.5-Math-PRM-7B:trust_remote_code=true:aggregate=min
    llm_judge:engine=llamacpp
    llm_judge:engine=openai:engine_model=qwen2.5:engine_base_url=http://127.0.0.1:8000/v1
    weighted_majority:weights=reward_model
    confidence:source=logprob

Options every selector understands (handled here, not passed on):
- ``as=NAME``: the name its verdicts are stored and reported under (default: the selector's
  name; ``weighted_majority@SOURCE`` / ``best_of_n@SOURCE`` when ``weights=`` is given).
- ``weights=STORED_SELECTOR``: copy that stored selector's scores into ``Candidate.score`` first
  (``weighted_majority`` votes with them, ``best_of_n`` ranks by them).
- ``engine=NAME`` and ``engine_*`` (``llm_judge``): the engine to judge with, its options with
  the ``engine_`` prefix removed (``engine_model=PATH``). Without ``engine=``, ``fireassay run``
  judges with the run's own engine and model (self-verification); ``select`` needs one.
The rest go to the selector's constructor (strings; each selector converts and validates them);
a key it does not take is refused before any work, naming the valid keys and the closest match.
``seed`` is not one: ``--seed`` sets it for every selector, and the task's answer format is
offered to the selectors that take ``answer_format``.
Scores are computed once per candidate and stored; a stored name with different options is
refused (choose another ``as=``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Mapping, Sequence

from sandbox.registry import UnknownNameError
from verifiers import VERIFIERS, Verifier, create_verifier
from verifiers.options import UnknownOptionError, check_options, lookup
from verifiers.registry import verifier_options

from ..engines import GREEDY, Engine, GenerationRequest, create_engine
from ..store import RunStore
from ..tasks import Task
from .checks import check_engine
from .judging import judge_missing

_OPTION_SPLIT = re.compile(r":(?=[A-Za-z_][A-Za-z0-9_.]*=)")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
SPECS_CONFIG_KEY = "selector_specs"
SPEC_KEYS = ("as", "weights")  # understood by every selector (handled here)
SCORER = "scorer"  # the constructor option of a selector that judges with a model (llm_judge)
SET_BY_RUN = ("seed",)  # set by --seed, not per selector


class SelectorSpecError(ValueError):
    pass


@dataclass(frozen=True)
class SelectorSpec:
    selector: str  # registry name (reward_model, majority, ...)
    options: Mapping[str, str] = field(default_factory=dict)  # constructor options (strings)
    name: str = ""  # store/report name
    weights: str | None = None  # stored selector whose scores become Candidate.score
    engine: str | None = None
    engine_options: Mapping[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """Canonical spec text (stored in the run config to detect option changes)."""
        parts = [self.selector]
        extra = dict(self.options)
        if self.weights:
            extra["weights"] = self.weights
        if self.engine:
            extra["engine"] = self.engine
        extra.update({f"engine_{k}": v for k, v in self.engine_options.items()})
        parts += [f"{k}={extra[k]}" for k in sorted(extra)]
        return ":".join(parts)


def parse_selector_spec(text: str) -> SelectorSpec:
    head, *rest = _OPTION_SPLIT.split(text.strip())
    if not head or not _NAME.match(head):
        raise SelectorSpecError(f"bad selector {text!r}: expected NAME or NAME:key=value[:key=value...]")
    if ":" in head:
        raise SelectorSpecError(f"bad selector {text!r}: after the name, options are key=value")
    options: dict[str, str] = {}
    for part in rest:
        key, _, value = part.partition("=")
        if key in options:
            raise SelectorSpecError(f"selector {text!r} sets {key} twice")
        if not value.strip():
            raise SelectorSpecError(f"selector {text!r}: {key}= has no value; give one ({key}=VALUE) or leave {key} out")
        options[key] = value
    alias = options.pop("as", None)
    weights = options.pop("weights", None) or None
    engine = options.pop("engine", None) or None
    engine_options = {k[len("engine_"):]: options.pop(k) for k in list(options) if k.startswith("engine_")}
    if engine_options and not engine:
        raise SelectorSpecError(f"selector {text!r} has engine_* options but no engine=NAME")
    name = alias or (f"{head}@{weights}" if weights else head)
    if not _NAME.match(name.replace("@", "_")):
        raise SelectorSpecError(f"selector {text!r}: as={name!r} is not a usable name (letters, digits, _ . -)")
    return SelectorSpec(head, options, name, weights, engine, engine_options)


def parse_selector_specs(text: str | Sequence[str]) -> list[SelectorSpec]:
    items = [s for s in (text.split(",") if isinstance(text, str) else text)]
    specs = [parse_selector_spec(s) for s in items if s.strip()]
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SelectorSpecError(f"selector name(s) {', '.join(dup)} given twice; name one of them with as=NAME")
    return specs


class EngineNextToken:
    """Wraps a fireassay engine as the ``NextTokenScorer`` that ``llm_judge`` asks: greedy, one
    token, the first token's raw top-k log-probabilities."""

    def __init__(self, engine: Any, owned: bool = True) -> None:
        self.engine = engine
        self.owned = owned

    def next_token_logprobs(self, conversations: Sequence[Sequence[Mapping[str, str]]],
                            top_k: int) -> list[list[tuple[str, float]]]:
        reqs = [GenerationRequest(messages=tuple(dict(m) for m in c), n=1, sampling=GREEDY, max_tokens=1,
                                  top_logprobs_first=top_k, seed=0) for c in conversations]
        rows = self.engine.generate(reqs) if reqs else []
        return [[(text, float(lp)) for _, text, lp in (row[0].first_token_top_logprobs or ())] for row in rows]

    def close(self) -> None:
        if self.owned:
            self.engine.close()


def check_selector_specs(specs: Sequence[SelectorSpec], *, stored: Mapping[str, str] | None = None,
                         have: Collection[str] = (), run_engine: bool = False,
                         task: Task | None = None) -> None:
    """Everything about ``specs`` that is known before any work, each refusal one
    :class:`SelectorSpecError` naming the fix: the selector exists and is a selector, takes the
    options given, has a model to judge with if it needs one (``engine=``, or the run's own when
    ``run_engine``), the engine exists and takes its options; a name in ``stored`` (name -> spec
    text) keeps its options; ``weights=`` names a selector in ``have`` (stored) or listed before;
    a vote has an answer format (``task``'s, or ``answer_format=`` in the spec)."""
    stored = stored or {}
    for i, spec in enumerate(specs):
        try:
            factory = lookup(VERIFIERS, spec.selector)
            takes = verifier_options(spec.selector)
        except UnknownNameError as e:
            raise SelectorSpecError(str(e)) from None
        if getattr(factory, "uses_reference", False):
            raise SelectorSpecError(f"{spec.selector!r} judges against the gold answer (an oracle), not a selector")
        what = f"selector {spec.text!r}"
        for key in SET_BY_RUN:
            if key in spec.options:
                raise SelectorSpecError(f"{what}: {key}= is set for every selector by --{key}; drop it here")
        needs_model = takes is not None and SCORER in takes
        if takes is not None:
            own = set(takes) - {SCORER, *SET_BY_RUN}
            try:
                check_options(what, spec.options, own | set(SPEC_KEYS) | ({"engine"} if needs_model else set()))
            except UnknownOptionError as e:
                raise SelectorSpecError(str(e)) from None
        check_values = getattr(factory, "check_values", None)  # option values, e.g. transform=
        if check_values is not None:
            try:
                check_values(spec.options)
            except ValueError as e:
                raise SelectorSpecError(f"{what}: {e}") from None
        if spec.engine:
            if takes is not None and not needs_model:
                raise SelectorSpecError(f"{what}: {spec.selector} judges without a model; engine= is for "
                                        f"selectors that do (llm_judge)")
            try:
                check_engine(spec.engine, spec.engine_options)
            except (UnknownOptionError, UnknownNameError) as e:
                raise SelectorSpecError(f"{what}: {e}") from None
        if needs_model and not spec.engine and not run_engine:
            raise SelectorSpecError(
                f"{spec.selector} needs a model: use `--selectors {spec.selector}:engine=llamacpp` (or "
                f"engine=openai:engine_model=NAME:engine_base_url=URL); in `fireassay run` it judges with "
                f"the run's own model")
        if (task is not None and getattr(factory, "needs_answer_format", False) and task.answer_format is None
                and spec.options.get("answer_format") is None):
            raise SelectorSpecError(
                f"selector {spec.text!r}: {spec.selector} needs an answer format (numeric, math) to group "
                f"answers by, and task {task.name!r} defines none; drop it, or give one: "
                f"--selectors {spec.selector}:answer_format=math")
        old = stored.get(spec.name)
        if old is not None and old != spec.text:
            raise SelectorSpecError(
                f"selector {spec.name!r} is stored with options {old!r}, now {spec.text!r}; "
                f"give the new one another name with as=NAME")
        if spec.weights and spec.weights not in have and spec.weights not in {s.name for s in specs[:i]}:
            raise SelectorSpecError(
                f"{spec.name}: weights={spec.weights} is not a stored selector; list it before, e.g. "
                f"--selectors {spec.weights},{spec.selector}:weights={spec.weights}")


def build_selector(spec: SelectorSpec, task: Task | None = None, seed: int = 0,
                   engine: Engine | None = None,
                   place: Callable[[str], dict[str, Any]] | None = None) -> Verifier:
    """A ready selector for ``spec`` (checked with :func:`check_selector_specs` first). The run's
    ``seed`` and the task's ``votes_format()`` (how votes key answers) go to the selectors that
    take them; a selector that judges with a model gets ``engine=``'s, else ``engine`` (the
    run's own, not closed here). ``place(name)``: options that put its work on a cluster."""
    takes = verifier_options(spec.selector)
    options: dict[str, Any] = dict(place(spec.selector)) if place is not None else {}
    if task is not None and (takes is None or "answer_format" in takes):
        options["answer_format"] = task.votes_format()
    options.update(spec.options)
    if takes is None or "seed" in takes:
        options["seed"] = seed
    if takes is not None and SCORER in takes:
        if spec.engine:
            options[SCORER] = EngineNextToken(create_engine(spec.engine, **spec.engine_options))
        elif engine is not None:
            options[SCORER] = EngineNextToken(engine, owned=False)
    try:
        sel = create_verifier(spec.selector, **options)
    except (TypeError, ValueError) as e:
        if SCORER in options:
            options[SCORER].close()
        raise SelectorSpecError(f"selector {spec.text!r}: {e}") from None
    return sel


def stored_specs(store: RunStore) -> dict[str, str]:
    """Selector name -> the spec text it is stored with."""
    return dict(store.config().get(SPECS_CONFIG_KEY) or {})


def judge_selectors(store: RunStore, specs: Sequence[SelectorSpec], task: Task | None = None, seed: int = 0,
                    show_progress: bool = True, engine: Engine | None = None,
                    place: Callable[[str], dict[str, Any]] | None = None) -> dict[str, int]:
    """Check, build and run each selector on what it has not judged yet, in order; returns judged
    counts. Selectors judge each trajectory's last turn (the answers a multi-turn run ends with).
    ``engine``: the run's own, for selectors that judge with a model and name none; ``place``:
    where their work runs (``--cluster``)."""
    check_selector_specs(specs, stored=stored_specs(store), have=set(store.verifiers()),
                         run_engine=engine is not None, task=task)
    done: dict[str, int] = {}
    for spec in specs:
        sel = build_selector(spec, task, seed, engine, place)
        try:
            done[spec.name] = judge_missing(store, spec.name, sel, "selector", score_source=spec.weights,
                                            show_progress=show_progress, final_turns_only=True)
        finally:
            sel.close()
        stored = stored_specs(store)
        stored[spec.name] = spec.text
        store.set_config({SPECS_CONFIG_KEY: stored})
    return done
