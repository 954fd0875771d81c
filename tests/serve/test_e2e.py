"""`ecomtune serve` as a user runs it: a real process on a real port, concurrent clients, SIGTERM mid-request."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.serve.conftest import wait_ready
from tests.serve.test_app import metric


class Server:
    """`python -m ecomtune serve ...` in a subprocess; stderr is collected by a thread (the URL is on it)."""

    def __init__(self, *args):
        env = {**os.environ, "ECOMTUNE_QUIET": "1", "COLUMNS": "200"}
        self.proc = subprocess.Popen([sys.executable, "-m", "ecomtune", "serve", *map(str, args)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def url(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := re.search(r"serving on (http://\S+)", self.log):
                return found.group(1)
            assert self.proc.poll() is None, f"server exited {self.proc.returncode}:\n{self.log}"
            time.sleep(0.05)
        raise AssertionError(f"no URL printed:\n{self.log}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def server(classify_run):
    # a long wait per batch: concurrent requests surely merge, and requests are still in flight at SIGTERM
    s = Server(classify_run, "--port", 0, "--max-wait-ms", 1000, "--max-batch", 64, "--bucket-size", 8)
    yield s
    s.stop()


def test_serve_merges_concurrent_requests_and_drains_on_sigterm(server):
    url = server.url()
    with httpx.Client(base_url=url, timeout=30) as client:
        wait_ready(client, timeout=60)
        assert "ready: sentiment@" in server.log

        def one(i):
            with httpx.Client(base_url=url, timeout=30) as c:  # a separate connection per client
                return c.post("/v1/classify", json={"texts": [f"love this dress number {i}"]})

        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(one, range(12)))
        assert [a.status_code for a in answers] == [200] * 12
        assert all(a.json()["predictions"][0]["label"] in {"negative", "positive"} for a in answers)
        batches = metric(client, "ecomtune_batch_size_count")
        assert metric(client, "ecomtune_batch_size_sum") == 12  # warm-up runs outside the batcher
        assert batches < 12, "concurrent requests were not merged into micro-batches"

        # slow requests in flight (each waits up to 1 s for its batch), then SIGTERM
        pool = ThreadPoolExecutor(6)
        inflight = [pool.submit(one, 100 + i) for i in range(6)]
        deadline = time.monotonic() + 30
        while metric(client, "ecomtune_queue_depth") < 6:
            assert time.monotonic() < deadline, server.log
            time.sleep(0.01)
    server.proc.send_signal(signal.SIGTERM)
    answers = [f.result(timeout=30) for f in inflight]
    pool.shutdown()
    assert [a.status_code for a in answers] == [200] * 6
    assert server.proc.wait(30) == 0, server.log
    assert "stopped" in server.log


def test_serve_errors_are_one_line(classify_run, tmp_path, monkeypatch, capsys):
    from ecomtune.cli.main import main

    monkeypatch.setattr(sys, "argv", ["ecomtune", "serve", str(tmp_path / "missing")])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "not a directory" in err and "Traceback" not in err

    with socket.socket() as taken:  # a real process: binding happens before uvicorn starts
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = Server(classify_run, "--port", port)
        assert busy.proc.wait(60) == 2
        busy.stop()
    assert f"port {port} on 127.0.0.1 is in use" in busy.log and "Traceback" not in busy.log


STUCK = """
import sys, time
from ecomtune.deploy.serve import serve, service

real = service.load_served


def stuck(*args, **kwargs):  # warmed up as usual, then every batch hangs: a model stuck in inference
    served = real(*args, **kwargs)

    def hang(texts, bucket_size=8):
        print("stuck", flush=True)
        time.sleep(600)

    served.model.predict_arrays = hang
    return served


service.load_served = stuck
serve([sys.argv[1]], {"port": 0, "shutdown_timeout_s": 2},
      announce=lambda url, specs: print(url, flush=True), on_ready=lambda state: print("ready", flush=True))
"""


def test_sigterm_exits_within_the_shutdown_timeout_with_a_model_stuck_in_inference(classify_run, tmp_path):
    script = tmp_path / "stuck.py"
    script.write_text(STUCK)
    env = {**os.environ, "ECOMTUNE_QUIET": "1"}
    proc = subprocess.Popen([sys.executable, str(script), str(classify_run)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://") and proc.stdout.readline().strip() == "ready"
        with ThreadPoolExecutor(4) as pool:
            inflight = [pool.submit(httpx.post, f"{url}/v1/classify", json={"texts": [f"stuck {i}"]}, timeout=30)
                        for i in range(4)]
            assert proc.stdout.readline().strip() == "stuck"
            time.sleep(0.3)  # the other requests queue behind the stuck batch
            start = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
            took = time.monotonic() - start
            assert not any(f.exception() is None and f.result().status_code == 200 for f in inflight)
        assert took <= 2 + 1.5, f"SIGTERM to exit took {took:.1f}s with --shutdown-timeout 2"
    finally:
        proc.kill()
        proc.wait()
