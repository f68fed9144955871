"""Functions the worker-pool tests run in worker processes (named for what they do)."""
import logging
import os
import time
import warnings


def work(kind: str, value: int):
    if kind == "raise":
        raise ValueError("bad input")
    if kind == "hang":
        while True:
            time.sleep(0.1)
    if kind == "alloc":
        blob = bytearray(4 * 1024**3)  # 4 GiB, above the cap
        return len(blob)
    if kind == "exit":
        os._exit(3)
    if kind == "log":  # a library that logs its whole (huge) input, like math-verify on a timeout
        for _ in range(value):
            logging.getLogger("noisy.lib").warning("Timeout during parsing: %s", "x" * 100_000)
        warnings.warn("a library warning", stacklevel=1)
    return value
