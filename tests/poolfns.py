"""Functions the worker-pool tests run in worker processes (named for what they do)."""
import os
import time


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
    return value
