"""fireassay's own offline SWE task set (built reproducibly from the files in ``repos/``)."""
from .build import build_taskset, is_own_repo, repo_dir, taskset_records

__all__ = ["build_taskset", "is_own_repo", "repo_dir", "taskset_records"]
