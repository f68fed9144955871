"""Everything a ``fireassay run`` is: one validated value, stored with the run."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ..engines import DEFAULT_ENGINE

FEEDBACK_MODES = ("auto", "none", "retry")
FIRE_TURNS = ("first", "all")

# settings that may differ on --resume (they change how, not what, is computed)
# (gen_batch is not one: it decides which samples share a generation call, and a batched engine's
# numbers depend on that)
# (where it runs is one of them: a run started on a cluster may resume on another, or on none)
RESUMABLE = {"show_progress", "verify_batch", "max_in_flight", "report", "cluster", "engine_replicas"}


def cluster_address(spec: str) -> str | None:
    """``--cluster`` as Ray takes the address: ``ray`` -> None (``$RAY_ADDRESS``, else a local
    Ray started on the spot); ``ray=ADDRESS`` -> ADDRESS (``auto``, ``ray://host:10001``,
    ``host:6379``). Anything else is a ValueError naming the forms."""
    name, sep, address = str(spec).partition("=")
    if name.strip() != "ray" or (sep and not address.strip()):
        raise ValueError(f"--cluster {spec!r}: give ray or ray=ADDRESS (ray=auto, ray=HOST:6379, "
                         "ray=ray://HOST:10001); Ray is the only cluster fireassay runs on")
    return address.strip() or None


# what regular sampling uses unless told otherwise (FIRE: after the hot token)
DEFAULT_SAMPLING: dict[str, Any] = {"temperature": 0.7, "top_p": 0.95, "top_k": 0, "min_p": 0.0}


@dataclass(frozen=True)
class RunConfig:
    """One ``fireassay run``: validated on construction, stored with the run (``stored()``), and
    rebuilt from the store on ``--resume`` (``from_dict``). The CLI's defaults are these."""

    task: str
    """Task name (``gsm8k``, ``math500``, ``mbppplus``, ``humanevalplus``, ``swe`` or a plugin's)."""
    data: str | None = None
    """Dataset file; None: ``$FIREASSAY_DATA/<task>/`` or the Hugging Face hub."""
    limit: int | None = None
    """The first ``limit`` problems only (None: all)."""
    engine: str = DEFAULT_ENGINE
    """Engine name (``llamacpp``, ``vllm``, ``openai`` or a plugin's)."""
    model: str | None = None
    """The engine's model (GGUF path, hub id, served name); None: the engine's default."""
    engine_options: dict[str, Any] = field(default_factory=dict)
    """More keyword options of the engine's constructor (unknown keys are refused)."""
    sampler: str = "regular"
    """``regular``, ``fire``, ``fire@sentence:N``, ``fire@step``, ``cot-decoding`` or a plugin's."""
    sampler_params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SAMPLING))
    """The sampler's parameters: temperature, top_p, top_k, min_p and its own (hot_temperature...)."""
    n: int = 8
    """Samples (trajectories) per problem."""
    max_tokens: int = 512
    """Generated tokens per turn."""
    seed: int = 0
    """Run seed; each sample's seed depends only on it, the problem, the sample and the turn."""
    max_turns: int = 1
    """Turns per trajectory: a sample failing the feedback verifier gets another turn."""
    fire_turns: str = "first"
    """FIRE on the first turn only (``first``) or on every turn (``all``)."""
    feedback: str = "auto"
    """``auto``: the task's gold-free feedback verifier; ``none``; ``retry``: "not correct, try
    again", decided by the gold answer (an oracle signal, flagged in the report)."""
    selectors: tuple[str, ...] | None = None
    """Selector specs (``NAME[:key=value...]``, see ``loop.run.selectors``); None: the task's."""
    task_options: dict[str, Any] = field(default_factory=dict)
    """Options of the task's oracle (e.g. ``tests="base"`` for code tasks)."""
    name: str | None = None
    """Label of the run in reports (None: the run directory's name)."""
    gen_batch: int = 8
    """Problems per generation call (their follow-up turns share one call too). 8 from
    ``bench/gen_batch.py``: the embedded engine made 0.66 / 0.85 / 1.00 of its best tokens/s at
    2 / 4 / 8 GSM8K prompts x 16 samples per call (larger calls keep its 32 slots full)."""
    verify_batch: int = 64
    """Candidates per verification call."""
    max_in_flight: int = 256
    """Trajectories generated but not finished (bounds memory)."""
    report: bool = True
    """Write ``RUN_DIR/report/`` at the end."""
    show_progress: bool = True
    """Progress bars on stderr."""
    cluster: str | None = None
    """``ray`` or ``ray=ADDRESS``: verify (and with ``engine_replicas``, generate) on a Ray
    cluster; None: on this machine. Not stored: a run may resume elsewhere."""
    engine_replicas: int = 1
    """Engine replicas as Ray actors (needs ``cluster``); 1 without a cluster: the local engine."""
    sweep: dict[str, Any] | None = None
    """The sweep this run is one value of (``{"key": "temperature", "value": 0.4}``, see
    ``loop.run.sweep``); None for a run of its own."""

    def __post_init__(self) -> None:
        def positive(name: str) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")

        for name in ("n", "max_tokens", "max_turns", "gen_batch", "verify_batch", "max_in_flight",
                     "engine_replicas"):
            positive(name)
        if self.cluster is not None:
            cluster_address(self.cluster)
        elif self.engine_replicas > 1:
            raise ValueError(f"--engine-replicas {self.engine_replicas} needs --cluster ray[=ADDRESS] "
                             "(replicas are Ray actors)")
        if self.limit is not None:
            positive("limit")
        if self.feedback not in FEEDBACK_MODES:
            raise ValueError(f"--feedback must be one of {', '.join(FEEDBACK_MODES)}, got {self.feedback!r}")
        if self.fire_turns not in FIRE_TURNS:
            raise ValueError(f"--fire-turns must be one of {', '.join(FIRE_TURNS)}, got {self.fire_turns!r}")
        if self.selectors is not None:
            object.__setattr__(self, "selectors", tuple(self.selectors))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["selectors"] = list(self.selectors) if self.selectors is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def stored(self) -> dict[str, Any]:
        """What the store keeps (and compares on --resume)."""
        return {"command": "run", **{k: v for k, v in self.to_dict().items() if k not in RESUMABLE}}
