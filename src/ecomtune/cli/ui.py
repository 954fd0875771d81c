"""`ecomtune ui RUNS_DIR`: the web console alone — browse runs, compare them, read their model cards — without
loading a model (`ecomtune serve RUN... --ui` adds "try it" and the drift monitor)."""
from __future__ import annotations

import os
from pathlib import Path

import typer

from ecomtune.cli.app import app
from ecomtune.console import console


@app.command()
def ui(
    runs_dirs: list[Path] = typer.Argument(..., help="Folders holding run directories (searched 4 levels deep; "
                                           "`compare` folders are listed too), or run directories themselves."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, "--port", "-p", help="TCP port (0: any free port)."),
    api_key_file: Path = typer.Option(None, "--api-key-file", help="Require the key in this file (first line) on "
                                      "the console's data; default $ECOMTUNE_API_KEY; none = open."),
    serve_url: str = typer.Option(None, "--serve-url", help="Where `ecomtune serve --ui` runs: the \"try it\" "
                                  "page links there."),
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
):
    """Browse run directories in a web browser: runs, metrics, plots, model cards, slices, comparisons.

    Example: ecomtune ui runs/ --port 8080   (then open http://127.0.0.1:8080/ui)
    """
    import uvicorn

    from ecomtune.deploy.serve.server import bind, url_of
    from ecomtune.deploy.serve.settings import API_KEY_ENV, read_key_file
    from ecomtune.deploy.serve.ui.app import browse_app

    key = read_key_file(api_key_file) if api_key_file else os.environ.get(API_KEY_ENV) or None
    web = browse_app(runs_dirs, api_key=key, serve_url=serve_url)
    runs, compares = web.state.console.index.scan()
    sock = bind(host, port)
    url = url_of(sock)
    console.print(f"[bold cyan]ecomtune[/] console on [bold]{url}/ui[/] — {len(runs)} run"
                  f"{'s' if len(runs) != 1 else ''}, {len(compares)} compare folder"
                  f"{'s' if len(compares) != 1 else ''} under {', '.join(str(p) for p in runs_dirs)}; "
                  f"API key {'required' if key else 'off'} — Ctrl+C stops")
    try:
        uvicorn.Server(uvicorn.Config(web, log_level=log_level, access_log=False)).run(sockets=[sock])
    finally:
        sock.close()
    console.print("[bold cyan]ecomtune[/] console stopped")
