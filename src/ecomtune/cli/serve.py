"""`ecomtune serve RUN_DIR [RUN_DIR ...]`: an HTTP service (FastAPI + uvicorn) for one or more run directories."""
from __future__ import annotations

from pathlib import Path

import typer

from ecomtune.cli.app import app
from ecomtune.cli.options import DEVICE
from ecomtune.console import console


@app.command()
def serve(
    run_dirs: list[str] = typer.Argument(..., help="Run directories; NAME=RUN_DIR or NAME@VERSION=RUN_DIR to name "
                                         "one (default: the manifest's name, version = its creation time)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, "--port", "-p", help="TCP port (0: any free port)."),
    max_batch: int = typer.Option(32, "--max-batch", help="Most texts merged into one micro-batch."),
    max_wait_ms: float = typer.Option(5.0, "--max-wait-ms", help="Longest a text waits for others to join."),
    bucket_size: int = typer.Option(32, "--bucket-size", help="Texts per forward pass within a micro-batch "
                                    "(sorted by token length, so each pass pads to similar lengths)."),
    no_batching: bool = typer.Option(False, "--no-batching", help="Run every request on its own."),
    cache_size: int = typer.Option(10_000, "--cache-size", help="Predictions kept in the LRU cache (0: off)."),
    max_text_chars: int = typer.Option(4000, "--max-text-chars", help="Longest text accepted."),
    max_items: int = typer.Option(64, "--max-items", help="Most texts (or images) per request."),
    max_image_bytes: int = typer.Option(10 * 2**20, "--max-image-bytes", help="Largest image accepted, in bytes "
                                        "(the whole body is capped by --max-body-bytes)."),
    max_body_bytes: int = typer.Option(4 * 2**20, "--max-body-bytes", help="Largest request body in bytes (413 "
                                       "above, before it is parsed)."),
    api_key: str = typer.Option(None, "--api-key", help="Require this key (X-API-Key or Authorization: Bearer) on "
                                "everything but /healthz, /readyz, /metrics. Visible in `ps`: prefer "
                                "--api-key-file or $ECOMTUNE_API_KEY."),
    api_key_file: Path = typer.Option(None, "--api-key-file", help="Read the API key from this file (first line)."),
    shutdown_timeout: float = typer.Option(30.0, "--shutdown-timeout", help="Seconds from SIGTERM / Ctrl+C to exit "
                                           "(plus about one): in-flight requests finish within it."),
    monitor_window: int = typer.Option(1000, "--monitor-window", help="Recent predictions the drift monitor "
                                       "compares with the run's reference profile."),
    device: str = DEVICE,
    log_level: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
    access_log: bool = typer.Option(False, "--access-log", help="Log every request (uvicorn access log)."),
    ui: bool = typer.Option(False, "--ui", help="Mount the web console at /ui: runs, comparison, try it, drift "
                            "monitor (docs/console.md)."),
    ui_runs: list[Path] = typer.Option(None, "--ui-runs", help="With --ui: also list the runs under this folder "
                                       "(repeatable)."),
):
    """Serve models over HTTP: POST /v1/classify, /v1/taxonomy, /v1/recommend, /v1/search, /v1/image; GET
    /v1/models, /v1/monitor, /readyz, /metrics.

    Example: ecomtune serve runs/sentiment-en runs/taxonomy-en --port 8000
    Two versions side by side: ecomtune serve sentiment@v1=runs/old sentiment@v2=runs/new
    Docs of the running service: http://127.0.0.1:8000/docs
    """
    import os

    # Idle OpenMP workers sleep instead of spinning (unless the user chose): with the event loop, the clients or
    # other jobs on the same cores, a spinning team made one query's embedding 15x slower (docs/benchmarks.md,
    # the service's tail). Read when torch loads, so it is set before the first import of torch.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from transformers.utils import logging as hf_logging

    from ecomtune.deploy.serve import ServeSettings
    from ecomtune.deploy.serve import serve as run_service
    from ecomtune.deploy.serve.settings import ServeError, read_key_file

    hf_logging.disable_progress_bar()  # a service's log is not a terminal
    if api_key and api_key_file:
        raise ServeError("--api-key and --api-key-file both given — keep one (the file: it stays out of `ps`)")
    if api_key:
        console.print("note: --api-key is visible to every user of this machine (`ps`); --api-key-file or "
                      "$ECOMTUNE_API_KEY keep it out of sight")
    settings = ServeSettings.build(
        host=host, port=port, max_batch=max_batch, max_wait_ms=max_wait_ms, bucket_size=bucket_size,
        batching=not no_batching, cache_size=cache_size, max_text_chars=max_text_chars, max_items=max_items,
        max_image_bytes=max_image_bytes, max_body_bytes=max_body_bytes,
        api_key=read_key_file(api_key_file) if api_key_file else api_key,
        shutdown_timeout_s=shutdown_timeout, monitor_window=monitor_window, device=device)

    def announce(url: str, specs: list) -> None:
        console.print(f"[bold cyan]ecomtune[/] serving on [bold]{url}[/] (docs: {url}/docs) — loading "
                      f"{len(specs)} model{'s' if len(specs) > 1 else ''}:")
        for spec in specs:
            console.print(f"  {spec.ref:<40} {spec.task:<10} {spec.run_dir}")
        mode = (f"micro-batching ≤{settings.max_batch} texts / {settings.max_wait_ms:g} ms, buckets of "
                f"{settings.bucket_size}" if settings.batching else "no batching")
        console.print(f"  {mode}; cache {settings.cache_size or 'off'}; "
                      f"API key {'required' if settings.api_key else 'off'}")
        if ui:
            console.print(f"  web console: {url}/ui")

    def ready(state) -> None:
        console.print(f"[bold cyan]ecomtune[/] ready: {', '.join(m.ref for m in state.registry)} — Ctrl+C stops")

    if ui_runs and not ui:
        raise ServeError("--ui-runs lists runs in the web console — add --ui")
    run_service(run_dirs, settings, log_level=log_level, access_log=access_log, announce=announce, on_ready=ready,
                ui=ui, ui_runs=ui_runs or [])
    console.print("[bold cyan]ecomtune[/] stopped")
