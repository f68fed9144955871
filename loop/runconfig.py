"""Everything a ``fireassay run`` is: one validated value, stored with the run."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

FEEDBACK_MODES = ("auto", "none", "retry")
FIRE_TURNS = ("first", "all")

# settings that may differ on --resume (they change how, not what, is computed)
# (gen_batch is not one: it decides which samples share a generation call, and a batched engine's
# numbers depend on that)
RESUMABLE = {"show_progress", "verify_batch", "max_in_flight", "report"}


@dataclass(frozen=True)
class RunConfig:
    task: str
    data: str | None = None
    limit: int | None = None
    engine: str = "llamacpp"
    model: str | None = None
    engine_options: dict[str, Any] = field(default_factory=dict)
    sampler: str = "regular"
    sampler_params: dict[str, Any] = field(default_factory=dict)  # temperature, top_p, hot knobs...
    n: int = 8
    max_tokens: int = 512
    seed: int = 0
    max_turns: int = 1
    fire_turns: str = "first"  # FIRE on turn 0 only, or on every turn
    feedback: str = "auto"  # auto: the task's feedback verifier; none; retry: "not correct, try again" (gold)
    selectors: tuple[str, ...] | None = None  # None: the task's defaults
    task_options: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    gen_batch: int = 8  # problems per generation call (their follow-ups share one call too)
    verify_batch: int = 64  # candidates per verification call
    max_in_flight: int = 256  # trajectories generated but not finished (bounds memory)
    report: bool = True
    show_progress: bool = True

    def __post_init__(self) -> None:
        def positive(name: str) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")

        for name in ("n", "max_tokens", "max_turns", "gen_batch", "verify_batch", "max_in_flight"):
            positive(name)
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
