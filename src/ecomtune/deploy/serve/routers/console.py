"""The web console at /ui (`ecomtune serve RUN... --ui`, `ecomtune ui RUNS_DIR`): page shells, their static files,
and the JSON they read.

Who may see what: the pages and static files are open (`OPEN`: they hold no data, and a browser cannot send a
header to load a page); every /ui/api/* call needs the API key when the service has one — the pages ask for it,
keep it in sessionStorage and send it as X-API-Key, exactly as an API client would. Run files are served only
from the allow-list of `ui.runs.allowed_files`.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse

from ecomtune.deploy.serve.deps import pick_model
from ecomtune.deploy.serve.guards import clip
from ecomtune.deploy.serve.ui import runs as run_files
from ecomtune.registry import task
from ecomtune.version import __version__

UI = Path(__file__).resolve().parent.parent / "ui"
STATIC = {p.name: p for p in sorted((UI / "static").iterdir()) if p.is_file()}
TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml", ".png": "image/png"}
PAGES = {"runs": ("", "Runs"), "run": ("/run", "Run"), "compare": ("/compare", "Compare"),
         "try": ("/try", "Try it"), "monitor": ("/monitor", "Drift monitor"), "guide": ("/guide", "Room guide")}
OPEN = frozenset({"/ui", "/ui/", *(f"/ui{p}" for p, _ in PAGES.values() if p), *(f"/ui/static/{n}" for n in STATIC)})
HISTORY = 720  # monitor samples kept per model (an hour at the page's 5 s refresh)
# no script, style or image from anywhere but here: an offline browser never waits on a CDN or a font server
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "frame-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'")

router = APIRouter(prefix="/ui", include_in_schema=False)


@dataclass
class ConsoleState:
    """What the console knows besides the serving state: the runs it lists and the monitor's samples."""

    index: run_files.RunIndex
    served_refs: dict[str, str] = field(default_factory=dict)  # run id -> name@version of a served run
    serve_url: str | None = None  # browse mode: where `ecomtune serve --ui` runs, for the "try it" link
    history: dict[str, deque] = field(default_factory=dict)


def mount(app: FastAPI, roots: list[Path] | None = None, serve_url: str | None = None) -> None:
    """Add the console to `app`: the served runs (when `app.state.serving` exists) and every run under `roots`."""
    served, refs = {}, {}
    state = getattr(app.state, "serving", None)
    if state is not None:
        specs = state.registry.specs
        names = [s.name for s in specs]
        for spec in specs:
            ident = spec.name if names.count(spec.name) == 1 else spec.ref
            served[ident], refs[ident] = Path(spec.run_dir), spec.ref
    app.state.console = ConsoleState(run_files.RunIndex([Path(r) for r in roots or []], served), refs, serve_url)
    app.include_router(router)


def _console(request: Request) -> ConsoleState:
    return request.app.state.console


def _serving(request: Request, need_ready: bool = True):
    state = getattr(request.app.state, "serving", None)
    if state is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this console serves no models (`ecomtune ui`) — start "
                                                       "`ecomtune serve RUN... --ui` to try them")
    if need_ready and not state.ready:
        detail = f"models failed to load: {state.failure}" if state.failure else "models are still loading"
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail, headers={"Retry-After": "1"})
    return state


@lru_cache(maxsize=1)
def _templates():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(UI / "templates"), autoescape=select_autoescape())


def _render(request: Request, page: str, title: str) -> HTMLResponse:
    env = _templates()
    state = getattr(request.app.state, "serving", None)
    tasks = {s.task for s in state.registry.specs} if state is not None else set()
    html = env.get_template(f"{page}.html").render(
        page=page, title=title, pages=PAGES, version=__version__, serving=state is not None, guide="guide" in tasks,
        serve_url=_console(request).serve_url,
        key_required=bool(state.settings.api_key) if state is not None else bool(request.app.state.api_key))
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store"})


def _page(page: str, title: str):
    async def show(request: Request) -> HTMLResponse:
        return _render(request, page, title)
    return show


for _name, (_path, _title) in PAGES.items():
    router.add_api_route(_path, _page(_name, _title), methods=["GET"], response_class=HTMLResponse)
router.add_api_route("/", _page("runs", "Runs"), methods=["GET"], response_class=HTMLResponse)


@router.get("/static/{name}")
async def static(name: str) -> FileResponse:
    path = STATIC.get(name)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no console file {clip(name, 60)}")
    return FileResponse(path, media_type=TYPES.get(path.suffix, "application/octet-stream"),
                        headers={"Cache-Control": "no-cache"})


@router.get("/api/info")
async def info(request: Request) -> dict:
    """Which mode, and the served models (name, ref, task, endpoint, labels, monitor) once they are loaded."""
    console = _console(request)
    state = getattr(request.app.state, "serving", None)
    out = {"version": __version__, "mode": "serve" if state is not None else "browse",
           "serve_url": console.serve_url, "models": [], "status": "browse"}
    if state is None:
        return out
    out["status"] = "ready" if state.ready else ("failed" if state.failure else "loading")
    if state.ready:
        for served in state.registry:
            space = getattr(served.model, "space", None)
            out["models"].append({
                "name": served.name, "version": served.version, "ref": served.ref, "task": served.task,
                "endpoint": task(served.task).endpoint,
                "latest": state.registry.select(None, served.name) is served, "monitor": served.monitor is not None,
                "labels": {lv: list(n) for lv, n in zip(space.levels, space.labels)} if space else None,
                "run_id": next((i for i, r in console.served_refs.items() if r == served.ref), None)})
    return out


@router.get("/api/runs")
async def runs(request: Request) -> dict:
    """Every run (served first, then the scanned folders) and every `compare` folder."""
    console = _console(request)
    found, compares = console.index.scan()
    return {"runs": [run_files.summary(i, p, console.served_refs.get(i)) for i, p in found.items()],
            "compares": [{"id": i, "dir": str(p)} for i, p in compares.items()]}


def _run_dir(request: Request, run_id: str) -> Path:
    path = _console(request).index.run_dir(run_id)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no run {clip(run_id, 80)} — GET /ui/api/runs lists them")
    return path


@router.get("/api/runs/{run_id}")
async def run(run_id: str, request: Request) -> dict:
    """One run: metrics per split, cost, plots, model card (HTML), slices, recipe."""
    return run_files.detail(run_id, _run_dir(request, run_id), _console(request).served_refs.get(run_id))


@router.get("/api/runs/{run_id}/files/{name:path}")
async def run_file(run_id: str, name: str, request: Request) -> FileResponse:
    """A file of the run's allow-list (model card, report, plots, slices, recipe); any other name is a 404."""
    path = run_files.allowed_files(_run_dir(request, run_id)).get(name)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{clip(name, 80)}: not a file the console shows")
    kind = run_files.IMAGES.get(path.suffix.lower()) or {".json": "application/json", ".html": "text/html",
                                                         ".md": "text/markdown", ".yaml": "text/plain"}.get(
        path.suffix, "application/octet-stream")
    return FileResponse(path, media_type=kind, headers={"X-Content-Type-Options": "nosniff",
                                                        "Content-Security-Policy": "default-src 'self'; "
                                                        "img-src 'self' data:; style-src 'unsafe-inline'"})


@router.get("/api/compares/{compare_id}")
async def compare(compare_id: str, request: Request) -> dict:
    """A `compare` folder's table (compare.json), each method linked to its run when it is listed."""
    found, compares = _console(request).index.scan()
    path = compares.get(compare_id)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no compare folder {clip(compare_id, 80)}")
    return run_files.compare_rows(compare_id, path, found)


@router.get("/api/monitor")
async def monitor(request: Request, model: str | None = None) -> dict:
    """The model's drift report now, and the samples the console took before (PSI per signal over time)."""
    state = _serving(request)
    served = pick_model(state, request, None, model)
    if served.monitor is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, served.monitor_error or f"{served.ref} has no drift monitor "
                            "(its run has no profile.json)")
    report = served.monitor.report()
    history = _console(request).history.setdefault(served.ref, deque(maxlen=HISTORY))
    history.append({"t": round(time.time(), 1), "rows": report["rows"], "rows_seen": report["rows_seen"],
                    "action": report["action"], "psi": {k: v["psi"] for k, v in report["signals"].items()}})
    return {"model": served.ref, "report": report, "history": list(history)}
