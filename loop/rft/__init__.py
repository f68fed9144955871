"""Rejection-sampling fine-tuning data (RFT, arXiv 2308.01825) from verified runs.

``build_rft(run_dirs, SelectOptions(...))`` reads and pools the runs, keeps the correct paths
whose arithmetic holds, dedupes them by key (math: equation list; code: normalized AST) and
keeps the most distinct; ``write_export(result, "train.jsonl")`` writes the chat-format JSONL
and its ``train.stats.json`` sidecar. ``fireassay rft`` is the command line for both.
"""
from .collect import ClassifiedPath, Pool, RFTError, load_pool
from .equations import Equation, evaluate, extract_equations, wrong_steps
from .export import RFTResult, build_rft, training_rows, write_export
from .keys import code_key, equations_key, math_key, normalized_ast
from .select import SelectOptions, dedupe_farthest, farthest_subset, select_all
from .stats import distinct_paths_by_k

__all__ = [
    "ClassifiedPath", "Equation", "Pool", "RFTError", "RFTResult", "SelectOptions",
    "build_rft", "code_key", "dedupe_farthest", "distinct_paths_by_k", "equations_key", "evaluate",
    "extract_equations", "farthest_subset", "load_pool", "math_key", "normalized_ast", "select_all",
    "training_rows", "write_export", "wrong_steps",
]
