"""Run the app under uvicorn: bind first (a busy port is a one-line error), stop gracefully on SIGTERM/SIGINT,
within one deadline."""
from __future__ import annotations

import errno
import gc
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import uvicorn

from ecomtune.deploy.serve.service import ServingState
from ecomtune.deploy.serve.settings import ServeError, ServeSettings


def bind(host: str, port: int) -> socket.socket:
    """A bound socket for uvicorn; `port=0` picks a free one."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServeError(f"--host {host}: not an address of this machine ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart right after a stop (TIME_WAIT)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"port {port} on {host} is in use — stop the other server or pass --port") from None
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)  # uvicorn's backlog: a client of the announced URL waits for uvicorn instead of being refused
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


class _Server(uvicorn.Server):
    """uvicorn's server with ONE shutdown deadline, started when the signal arrives: uvicorn alone would wait
    `shutdown_timeout_s` for in-flight requests, and the lifespan as long again for the inference workers."""

    def __init__(self, config: uvicorn.Config, state: ServingState):
        super().__init__(config)
        self.state = state

    def handle_exit(self, sig, frame) -> None:
        self.state.begin_shutdown()
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets=None) -> None:
        # in-flight requests get what is left of the deadline; the workers, what the requests leave of it
        self.config.timeout_graceful_shutdown = self.state.shutdown_left()
        await super().shutdown(sockets)


def serve(run_dirs: Sequence[str | Path], settings: ServeSettings | dict | None = None, *,
          log_level: str = "warning", access_log: bool = False,
          announce: Callable[[str, list], None] | None = None,
          on_ready: Callable | None = None, ui: bool = False, ui_runs: Sequence[str | Path] = ()) -> None:
    """Serve until SIGTERM/SIGINT; in-flight requests finish first, and the process is done within
    `settings.shutdown_timeout_s` of the signal (plus about a second). On return, the objects alive are frozen
    out of garbage collection (`gc.freeze`), so the interpreter exits at once.

    `announce(url, specs)` is called once the port is bound (the CLI prints it); `ui` mounts the web console at
    /ui (with the runs under `ui_runs` listed too). Raises `ServeError` when the
    settings, a run directory or the port are bad, or when loading a model fails.
    """
    from ecomtune.deploy.serve.app import create_app

    settings = settings if isinstance(settings, ServeSettings) else ServeSettings.build(settings)
    failure: list[BaseException] = []
    server: uvicorn.Server | None = None

    def on_failure(exc: BaseException) -> None:
        failure.append(exc)
        if server is not None:
            server.should_exit = True

    app = create_app(run_dirs, settings, on_ready=on_ready, on_failure=on_failure, ui=ui, ui_runs=ui_runs)
    sock = bind(settings.host, settings.port)
    config = uvicorn.Config(app, log_level=log_level, access_log=access_log, lifespan="on",
                            timeout_graceful_shutdown=settings.shutdown_timeout_s)
    server = _Server(config, app.state.serving)
    if announce:
        announce(url_of(sock), app.state.serving.registry.specs)
    # uvicorn re-raises the signal that stopped it once it is done; handlers of ours make that a clean exit 0
    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)} if main else {}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        # the process is about to end: spare its exit the final garbage collections over every torch and
        # transformers object (about a second, a third of a 2 s shutdown budget); gc.unfreeze() undoes it
        gc.freeze()
    if failure:
        exc = failure[0]
        raise ServeError(f"loading the models failed: {type(exc).__name__}: {exc}") from exc
