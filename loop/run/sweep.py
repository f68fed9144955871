"""``fireassay run --sweep KEY=V1,V2,...``: one sub-run per value of a sampling parameter
(``temperature``, ``top_p``, ``top_k``, ``min_p``, or the sampler's own: FIRE's
``hot_temperature``, ``hot_top_k``), everything else equal: the same problems, the same run seed
(so each sample's seed is the same in every sub-run), the same engine (loaded once).

    OUT/sweep.json              what was swept and the base settings
    OUT/temperature=0.4/        a normal run directory per value (``fireassay report`` reads it alone)
    OUT/temperature=0.7/ ...
    OUT/report/                 every sub-run in one report: one coverage plot, sweep_<KEY>.png

Every sub-run's settings are checked before the first one starts. ``fireassay run --resume OUT``
resumes each sub-run in turn (a finished one has nothing to do; a missing one starts), then
rewrites the joint report.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engines import Engine, EngineError, create_engine
from ..store import DB_NAME, StoreError
from .checks import check_engine, check_sampler
from .config import RunConfig
from .execute import INPUT_ERRORS, RunError, RunResult, engine_options, execute_run

SWEEP_FILE = "sweep.json"
_SAFE = re.compile(r"[^A-Za-z0-9._+-]")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Sweep:
    """What a sweep varies: one sampler parameter over several values."""

    key: str
    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        if not _KEY.fullmatch(self.key):
            raise ValueError(f"--sweep key {self.key!r} is not a parameter name (letters, digits, _)")
        if not self.values:
            raise ValueError("--sweep needs at least one value")
        for v in self.values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"--sweep {self.key}: {v!r} is not a finite number")
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"--sweep {self.key}: a value is given twice")

    @classmethod
    def parse(cls, text: str) -> "Sweep":
        """``"temperature=0.4,0.7,1.0"`` -> ``Sweep("temperature", (0.4, 0.7, 1.0))``."""
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key or not raw.strip():
            raise ValueError(f"--sweep {text!r}: expected KEY=V1,V2,..., e.g. --sweep temperature=0.4,0.7,1.0")
        values = []
        for item in raw.split(","):
            item = item.strip()
            if not item:
                raise ValueError(f"--sweep {text!r}: an empty value; separate values with single commas")
            try:
                values.append(json.loads(item))
            except json.JSONDecodeError:
                raise ValueError(f"--sweep {text!r}: {item!r} is not a number") from None
        return cls(key, tuple(values))

    def label(self, value: Any) -> str:
        """The sub-run's folder name and label part: ``temperature=0.4``."""
        return f"{self.key}={_SAFE.sub('_', json.dumps(value))}"

    def configs(self, base: RunConfig, out: Path) -> list[RunConfig]:
        """One validated configuration per value (a value the sampler refuses is an error here)."""
        name = base.name or out.name
        cfgs = []
        for v in self.values:
            params = {**base.sampler_params, self.key: v}
            check_sampler(base.sampler, params, base.max_tokens)
            cfgs.append(dataclasses.replace(base, sampler_params=params, name=f"{name} {self.label(v)}",
                                            sweep={"key": self.key, "value": v}, report=False))
        return cfgs

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "values": list(self.values)}


@dataclass(frozen=True)
class SweepResult:
    out: Path
    runs: tuple[RunResult, ...]
    report: Path | None  # OUT/report/report.md


def is_sweep(out: str | Path) -> bool:
    return (Path(out) / SWEEP_FILE).is_file() and not (Path(out) / DB_NAME).exists()


def read_sweep(out: str | Path) -> tuple[RunConfig, Sweep]:
    """The base configuration and the sweep stored in ``out``."""
    path = Path(out) / SWEEP_FILE
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        return RunConfig.from_dict(d["base"]), Sweep(str(d["key"]), tuple(d["values"]))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RunError(f"{path}: not a sweep this fireassay can read ({e}); start a new sweep with another --out") from None


def execute_sweep(base: RunConfig, sweep: Sweep, out: str | Path, *, resume: bool = False,
                  engine: Engine | None = None) -> SweepResult:
    """Check every sub-run, then run them one after the other into ``out/<key>=<value>/``
    (``resume``: continue the sweep stored in ``out``), then write ``out/report/``."""
    out = Path(out)
    if base.sweep is not None:
        raise RunError("a sweep's base settings cannot themselves be a sweep member")
    try:
        cfgs = sweep.configs(base, out)  # the sampler refuses a key it does not take, or a value
        if engine is None:
            check_engine(base.engine, engine_options(base))
    except INPUT_ERRORS as e:
        raise RunError(str(e)) from None
    where = ("cluster", "engine_replicas", "show_progress")  # may change on --resume, as for a run
    stored = {"command": "sweep", **sweep.to_dict(), "runs": [sweep.label(v) for v in sweep.values],
              "base": {k: v for k, v in base.to_dict().items() if k not in where}}
    if resume:
        if not is_sweep(out):
            raise RunError(f"{out} holds no sweep to resume; start one with fireassay run --sweep KEY=V1,V2 --out {out}")
    elif out.exists() and any(out.iterdir()):
        raise RunError(f"{out} is not empty; choose another --out (or --resume {out} to continue a sweep)")
    owned = None
    if engine is None and not (base.cluster is not None and base.engine_replicas > 1):
        try:  # one engine for every sub-run: the model is loaded once (replicas on a cluster: per sub-run)
            engine = owned = create_engine(base.engine, **engine_options(base))
        except EngineError as e:
            raise RunError(str(e)) from None
    try:
        if not resume:
            out.mkdir(parents=True, exist_ok=True)
            (out / SWEEP_FILE).write_text(json.dumps(stored, indent=2) + "\n", encoding="utf-8")
        results = []
        for cfg, v in zip(cfgs, sweep.values):
            sub = out / sweep.label(v)
            results.append(execute_run(cfg, sub, resume=(sub / DB_NAME).exists(), engine=engine))
    finally:
        if owned is not None:
            owned.close()
    report = None
    if base.report:
        # the report's numbers need numpy: imported here, not by every command's start-up
        from ..analysis import MetricsError, load_run_data
        from ..report import ReportConfig, build_report, write_report

        try:
            data = [load_run_data(out / sweep.label(v), name=c.name) for c, v in zip(cfgs, sweep.values)]
            report = write_report(build_report(data, ReportConfig(progress=False)), out / "report")[1]
        except (StoreError, MetricsError) as e:
            raise RunError(f"every sub-run is complete and stored, but the sweep's report failed: {e}") from None
    return SweepResult(out, tuple(results), report)
