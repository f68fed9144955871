"""The web app: Starlette routes over :class:`~loop.view.pages.Pages`, served by uvicorn.

Only GET. Pages are rendered on the server; Plotly's JavaScript comes from the installed
``plotly`` package (nothing is fetched from the internet). Every response carries a strict
Content-Security-Policy (scripts only from this server), and the Host header must name this
server (a page elsewhere cannot reach it through DNS rebinding).
"""
from __future__ import annotations

import ipaddress
import socket
import sys
import traceback
from pathlib import Path
from typing import Any, Mapping, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .index import RunIndex
from .links import ServerLinks
from .pages import CSP, NotFound, Pages

STATIC = Path(__file__).parent / "static"


def plotly_js() -> Path:
    """plotly.min.js as the ``plotly`` Python package ships it."""
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall plotly (pip install --force-reinstall plotly)")
    return path


class BadRequest(ValueError):
    pass


def _int(params: Mapping[str, str], key: str, default: int) -> int:
    raw = params.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{key}={raw!r} is not a whole number") from None


HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "X-Frame-Options": "DENY", "Cache-Control": "no-store"}


def create_app(runs: Mapping[str, RunIndex], allowed_hosts: Sequence[str] = ("127.0.0.1", "localhost", "[::1]")) -> Starlette:
    pages = Pages(runs, ServerLinks())
    files = {"view.css": STATIC / "view.css", "view.js": STATIC / "view.js", "plotly.min.js": plotly_js()}

    def page(html: str, code: int = 200) -> HTMLResponse:
        return HTMLResponse(html, status_code=code, headers=HEADERS)

    def guarded(fn: Any) -> Any:
        def endpoint(request: Request) -> Response:
            try:
                return fn(request)
            except NotFound as e:
                return page(pages.not_found(str(e)), 404)
            except BadRequest as e:
                return page(pages.render("error.html", title="Bad request", message=str(e), code=400), 400)
        return endpoint

    def runs_page(request: Request) -> Response:
        return page(pages.runs_page())

    def curves(request: Request) -> Response:
        return page(pages.curves_page(request.query_params.getlist("run")))

    def compare(request: Request) -> Response:
        q = request.query_params
        ids = list(runs)
        a = q.get("a") or (ids[0] if ids else "")
        b = q.get("b") or (ids[1] if len(ids) > 1 else "")
        if not a or not b:
            raise NotFound("compare needs two runs: start fireassay view with two run directories")
        return page(pages.compare_page(a, b, q.get("show", "all"), _int(q, "page", 1)))

    def run_page(request: Request) -> Response:
        return page(pages.run_page(request.path_params["rid"]))

    def problems(request: Request) -> Response:
        q = request.query_params
        return page(pages.problems_page(request.path_params["rid"], q.get("show", "all"), q.get("sort", "position"),
                                        q.get("desc") in ("1", "true", "on"), q.get("q", "")[:200], _int(q, "page", 1)))

    def problem(request: Request) -> Response:
        q = request.query_params
        return page(pages.problem_page(request.path_params["rid"], request.path_params["pos"], q.get("show", "all"),
                                       _int(q, "page", 1)))

    def problem_by_id(request: Request) -> Response:
        idx = pages.index(request.path_params["rid"])
        idx.refresh()
        pid = request.path_params["pid"]
        info = next((i for i in idx.infos if i.pid == pid), None)
        if info is None:
            raise NotFound(f"run {idx.rid!r} has no problem {pid!r}")
        return RedirectResponse(pages.links.problem(idx.rid, info.position), status_code=303)

    def live(request: Request) -> Response:
        try:
            return JSONResponse(pages.live_json(request.path_params["rid"]), headers=HEADERS)
        except NotFound as e:
            return JSONResponse({"error": str(e)}, status_code=404, headers=HEADERS)

    def static(request: Request) -> Response:
        path = files.get(request.path_params["name"])
        if path is None:
            raise NotFound(f"no static file {request.path_params['name']!r}")
        return FileResponse(path, headers={**HEADERS, "Cache-Control": "max-age=3600"})

    async def not_found(request: Request, exc: Exception) -> Response:
        code = getattr(exc, "status_code", 404)
        if code == 405:
            return page(pages.render("error.html", title="Method not allowed", code=405,
                                     message="this server only answers GET: it never changes a run"), 405)
        return page(pages.not_found(f"nothing at {request.url.path}"), 404 if code == 404 else code)

    async def server_error(request: Request, exc: Exception) -> Response:
        traceback.print_exception(exc, file=sys.stderr)
        return page(pages.render("error.html", title="Error", code=500,
                                 message=f"this page failed ({type(exc).__name__}); the details are in the "
                                         "server's output"), 500)

    routes = [
        Route("/", guarded(runs_page)),
        Route("/curves", guarded(curves)),
        Route("/compare", guarded(compare)),
        Route("/run/{rid}", guarded(run_page)),
        Route("/run/{rid}/problems", guarded(problems)),
        Route("/run/{rid}/problem/{pos:int}", guarded(problem)),
        Route("/run/{rid}/problem-id/{pid:path}", guarded(problem_by_id)),
        Route("/api/run/{rid}/live", live),
        Route("/static/{name}", guarded(static)),
    ]
    return Starlette(routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))],
                     exception_handlers={HTTPException: not_found, 404: not_found, 405: not_found, 500: server_error,
                                         Exception: server_error})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts_for(host: str) -> list[str]:
    if host in ("0.0.0.0", "::", "[::]"):
        return ["*"]  # every interface: any name the machine has; the user was warned
    return sorted({"127.0.0.1", "localhost", "[::1]", host if ":" not in host else f"[{host.strip('[]')}]"})


def serve(runs: Mapping[str, RunIndex], host: str = "127.0.0.1", port: int = 7860,
          announce: Any = print) -> None:
    """Serve until interrupted. ``port`` 0 picks a free port (announced)."""
    import uvicorn

    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(2048)  # connections made right after the announcement wait in the backlog
    real_port = sock.getsockname()[1]
    app = create_app(runs, allowed_hosts_for(host))
    shown = host if ":" not in host else f"[{host.strip('[]')}]"
    announce(f"fireassay view: {len(runs)} run{'s' if len(runs) != 1 else ''} at http://{shown}:{real_port}/ "
             "(read-only; Ctrl-C stops)")
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
