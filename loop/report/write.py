"""Writing a report: ``report.json`` (everything), ``report.md`` (tables) and the PNG plots."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .markdown import render_markdown
from .model import Report
from .plots import write_plots


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy values as Python ones, non-finite floats as None, keys as strings."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def write_report(report: Report, out_dir: str | Path) -> list[Path]:
    """Write report.json, report.md and the PNG plots into ``out_dir``; return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plots = write_plots(report, out)
    names = [p.name for p in plots]
    data = report.to_dict()
    data["plots"] = names
    json_path = out / "report.json"
    json_path.write_text(json.dumps(jsonable(data), indent=2, allow_nan=False) + "\n")
    md_path = out / "report.md"
    md_path.write_text(render_markdown(report, names))
    return [json_path, md_path, *plots]
