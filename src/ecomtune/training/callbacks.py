"""Trainer callbacks: the cost meter (wall time, throughput, peak memory) and a rich progress line."""
from __future__ import annotations

import threading
import time

import psutil
import torch
from transformers import TrainerCallback


class PeakMemory:
    """Peak resident memory (CPU, sampled every 50 ms) or peak allocated GPU memory, in MB, while running."""

    def __init__(self, device: torch.device):
        self.device = device
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        proc = psutil.Process()

        def sample():
            while not self._stop.wait(0.05):
                self.peak_mb = max(self.peak_mb, proc.memory_info().rss / 2**20)

        self.peak_mb = proc.memory_info().rss / 2**20
        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()

    def stop(self) -> float:
        if self.device.type == "cuda":
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            self._stop.set()
            if self._thread:
                self._thread.join()
        return self.peak_mb


class CostMeter(TrainerCallback):
    """Records train wall time, samples/s and peak memory (resumed runs count only the resumed part)."""

    def __init__(self, device: torch.device):
        self.memory = PeakMemory(device)
        self.seconds = 0.0
        self.samples = 0
        self._start = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()
        self._first_step = state.global_step
        self.memory.start()

    def on_train_end(self, args, state, control, **kwargs):
        self.seconds = time.perf_counter() - self._start
        self.memory.stop()
        steps = state.global_step - self._first_step
        self.samples = steps * args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size

    def summary(self) -> dict:
        return {"train_seconds": round(self.seconds, 2),
                "train_samples_per_second": round(self.samples / self.seconds, 3) if self.seconds else None,
                "peak_memory_mb": round(self.memory.peak_mb, 1)}
