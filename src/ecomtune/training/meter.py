"""The cost meter every training loop uses: train wall time, samples/s and peak memory, measured the same way for
every family (the Hugging Face Trainer through `callbacks.CostMeter`, the recommend and search loops directly).

    meter = Meter(device, checkpoint_state.get("meter"))   # what the interrupted part of the run spent
    with meter:                                            # timed, and memory sampled, only inside
        for batch in batches:
            ...
            meter.count(len(batch))
    save({"meter": meter.state_dict(), ...})                # a resumed run adds it back
    cost = meter.summary()   # {"train_seconds", "train_samples_per_second", "peak_memory_mb"}

`stop()` / `start()` leave work out of the training time (a loop's validation).
"""
from __future__ import annotations

import threading
import time
from typing import Self

import psutil
import torch


class PeakMemory:
    """Peak resident memory (CPU, sampled every 50 ms) or peak allocated GPU memory, in MB, while running; a
    restart keeps the peak of the earlier parts."""

    def __init__(self, device: torch.device):
        self.device = torch.device(device)
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._stop.set()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self._stop.is_set():
            return
        self._stop.clear()
        if self.device.type == "cuda":
            self.peak_mb = max(self.peak_mb, torch.cuda.max_memory_allocated(self.device) / 2**20)
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        proc = psutil.Process()

        def sample():
            while not self._stop.wait(0.05):
                self.peak_mb = max(self.peak_mb, proc.memory_info().rss / 2**20)

        self.peak_mb = max(self.peak_mb, proc.memory_info().rss / 2**20)
        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()

    def now(self) -> float:
        """The peak so far (frozen while stopped)."""
        if self.device.type == "cuda" and not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, torch.cuda.max_memory_allocated(self.device) / 2**20)
        return self.peak_mb

    def stop(self) -> float:
        self.now()
        self._stop.set()
        if self._thread:
            self._thread.join()
            self._thread = None
        return self.peak_mb


class Meter:
    """Training time, samples and peak memory of a run, over all the parts of a run that was interrupted.

    `state` is what an earlier part spent (`state_dict()` of its meter, saved in its checkpoint).
    """

    def __init__(self, device: torch.device | str, state: dict | None = None):
        self.memory = PeakMemory(device)
        self.samples = 0
        self._seconds = 0.0
        self._since: float | None = None  # perf_counter of the running part's start
        if state:
            self.load_state_dict(state)

    def start(self) -> Self:
        """Start (or continue) timing and memory sampling."""
        if self._since is None:
            self._since = time.perf_counter()
            self.memory.start()
        return self

    def stop(self) -> None:
        """Stop timing and sampling (a no-op when stopped)."""
        if self._since is not None:
            self._seconds += time.perf_counter() - self._since
            self._since = None
            self.memory.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def count(self, samples: int) -> None:
        """Add the training samples (rows, users, queries, pairs) of one step."""
        self.samples += int(samples)

    @property
    def seconds(self) -> float:
        """Training seconds so far, including the running part and the earlier parts of the run."""
        running = time.perf_counter() - self._since if self._since is not None else 0.0
        return self._seconds + running

    def state_dict(self) -> dict:
        """What a checkpoint keeps, so a resumed run reports the cost of all its parts."""
        return {"train_seconds": self.seconds, "train_samples": self.samples, "peak_memory_mb": self.memory.now()}

    def load_state_dict(self, state: dict) -> None:
        self._seconds = float(state.get("train_seconds", 0.0))
        self.samples = int(state.get("train_samples", state.get("samples", 0)))
        self.memory.peak_mb = max(self.memory.peak_mb, float(state.get("peak_memory_mb", 0.0)))

    def summary(self) -> dict:
        """The manifest's measured cost: {"train_seconds", "train_samples_per_second", "peak_memory_mb"}."""
        seconds = self.seconds
        return {"train_seconds": round(seconds, 2),
                "train_samples_per_second": round(self.samples / seconds, 3) if seconds and self.samples else None,
                "peak_memory_mb": round(self.memory.now(), 1)}
