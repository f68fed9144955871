"""Tasks by name; third parties add theirs through the entry-point group ``fireassay.tasks``."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from sandbox.registry import Registry

from .base import RETRY_FEEDBACK, UNSPECIFIED_FEEDBACK, Task
from .data import DataError, DataWarning

TASKS: Registry[type[Task]] = Registry(
    "task",
    "fireassay.tasks",
    {
        "gsm8k": "loop.tasks.gsm8k:GSM8KTask",
        "math500": "loop.tasks.math500:Math500Task",
        "swe": "loop.tasks.swe:SWETask",
        "mbppplus": "loop.tasks.evalplus:MbppPlusTask",
        "humanevalplus": "loop.tasks.evalplus:HumanEvalPlusTask",
    },
)


def get_task(name: str, data: str | Path | None = None, **options: Any) -> Task:
    return TASKS.get(name)(data=data, **options)


__all__ = ["RETRY_FEEDBACK", "TASKS", "UNSPECIFIED_FEEDBACK", "Task", "DataError", "DataWarning", "get_task"]
