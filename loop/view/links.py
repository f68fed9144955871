"""Where each page lives: URLs of the server, or file names of a static export (one flat folder,
so every link is relative and the folder opens from disk)."""
from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Sequence
from urllib.parse import quote, urlencode


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


class Links(ABC):
    static: bool  # an export: no server, so no sort/search and fewer filters

    @abstractmethod
    def home(self) -> str: ...

    @abstractmethod
    def curves(self, rids: Sequence[str]) -> str | None: ...

    @abstractmethod
    def compare(self, a: str, b: str, show: str = "all", page: int = 1) -> str | None: ...

    @abstractmethod
    def run(self, rid: str) -> str: ...

    @abstractmethod
    def problems(self, rid: str, show: str = "all", sort: str = "position", desc: bool = False, q: str = "",
                 page: int = 1) -> str | None: ...

    @abstractmethod
    def problem(self, rid: str, position: int, show: str = "all", page: int = 1) -> str | None: ...

    @abstractmethod
    def static_file(self, name: str) -> str: ...

    def live(self, rid: str) -> str | None:
        return None


def _q(path: str, **params: object) -> str:
    items = [(k, v) for k, v in params.items() if v not in (None, "", False)]
    return path + ("?" + urlencode(items, doseq=True) if items else "")


class ServerLinks(Links):
    static = False

    def home(self) -> str:
        return "/"

    def curves(self, rids: Sequence[str]) -> str:
        return _q("/curves", run=list(rids))

    def compare(self, a: str, b: str, show: str = "all", page: int = 1) -> str:
        return _q("/compare", a=a, b=b, show=None if show == "all" else show, page=None if page == 1 else page)

    def run(self, rid: str) -> str:
        return f"/run/{quote(rid)}"

    def problems(self, rid: str, show: str = "all", sort: str = "position", desc: bool = False, q: str = "",
                 page: int = 1) -> str:
        return _q(f"/run/{quote(rid)}/problems", show=None if show == "all" else show,
                  sort=None if sort == "position" else sort, desc=1 if desc else None, q=q or None,
                  page=None if page == 1 else page)

    def problem(self, rid: str, position: int, show: str = "all", page: int = 1) -> str:
        return _q(f"/run/{quote(rid)}/problem/{position}", show=None if show == "all" else show,
                  page=None if page == 1 else page)

    def static_file(self, name: str) -> str:
        return f"/static/{name}"

    def live(self, rid: str) -> str:
        return f"/api/run/{quote(rid)}/live"


class ExportLinks(Links):
    """File names in the export folder. Pages that are not exported (sorted or searched
    listings, candidate filters) have no link (None)."""

    static = True

    def home(self) -> str:
        return "index.html"

    def curves(self, rids: Sequence[str]) -> str | None:
        return "curves.html"

    def compare(self, a: str, b: str, show: str = "all", page: int = 1) -> str | None:
        return f"compare-{a}--{b}-{slug(show)}-{page}.html"

    def run(self, rid: str) -> str:
        return f"run-{rid}.html"

    def problems(self, rid: str, show: str = "all", sort: str = "position", desc: bool = False, q: str = "",
                 page: int = 1) -> str | None:
        if sort != "position" or desc or q:
            return None
        return f"run-{rid}-problems-{slug(show)}-{page}.html"

    def problem(self, rid: str, position: int, show: str = "all", page: int = 1) -> str | None:
        if show != "all":
            return None
        return f"run-{rid}-p{position}-{page}.html"

    def static_file(self, name: str) -> str:
        return f"static/{name}"
