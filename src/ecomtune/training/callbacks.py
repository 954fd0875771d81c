"""Trainer callbacks: the cost meter (wall time, throughput, peak memory) and a rich progress line."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import psutil
import torch
from transformers import TrainerCallback

COST_FILE = "cost.json"  # in each checkpoint folder: the cost of the run up to that checkpoint


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

    def now(self) -> float:
        """The peak so far (frozen once stopped)."""
        if self.device.type == "cuda" and not self._stop.is_set():
            self.peak_mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        return self.peak_mb

    def stop(self) -> float:
        self.now()
        self._stop.set()
        if self._thread:
            self._thread.join()
        return self.peak_mb


class CostMeter(TrainerCallback):
    """Records train wall time, samples/s and peak memory, over all parts of a run that was interrupted: each
    checkpoint folder keeps what was spent up to it (`cost.json`), and a resumed run adds it back."""

    def __init__(self, device: torch.device):
        self.memory = PeakMemory(device)
        self.seconds = 0.0
        self.samples = 0
        self._start = 0.0
        self._before: dict = {}  # spent before a resume: {"train_seconds", "peak_memory_mb"}

    def on_train_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()
        spent = Path(args.output_dir) / f"checkpoint-{state.global_step}" / COST_FILE
        self._before = json.loads(spent.read_text(encoding="utf-8")) if state.global_step and spent.exists() else {}
        self.memory.start()

    def on_save(self, args, state, control, **kwargs):
        spent = {"train_seconds": self._seconds(), "peak_memory_mb": self._peak_mb()}
        (Path(args.output_dir) / f"checkpoint-{state.global_step}" / COST_FILE).write_text(json.dumps(spent),
                                                                                           encoding="utf-8")

    def on_train_end(self, args, state, control, **kwargs):
        self.seconds = self._seconds()
        self.memory.stop()
        self.samples = state.global_step * args.per_device_train_batch_size * args.gradient_accumulation_steps * \
            args.world_size

    def _seconds(self) -> float:
        return self._before.get("train_seconds", 0.0) + time.perf_counter() - self._start

    def _peak_mb(self) -> float:
        return max(self.memory.now(), self._before.get("peak_memory_mb", 0.0))

    def summary(self) -> dict:
        return {"train_seconds": round(self.seconds, 2),
                "train_samples_per_second": round(self.samples / self.seconds, 3) if self.seconds else None,
                "peak_memory_mb": round(self._peak_mb(), 1)}


class RichProgress(TrainerCallback):
    """One progress bar for training (loss, learning rate, epoch) and one line per evaluation.

    Replaces the Trainer's tqdm bars, which interleave with printed log dicts and become unreadable.
    """

    def __init__(self):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        from ecomtune.console import console

        self.progress = Progress(TextColumn("[cyan]training"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), TextColumn("{task.fields[info]}"), console=console,
                                 transient=False, disable=bool(__import__("os").environ.get("ECOMTUNE_QUIET")))
        self.task = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.progress.start()
        self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step, info="")

    def on_step_end(self, args, state, control, **kwargs):
        self.progress.update(self.task, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" in logs:
            self.progress.update(self.task, info=f"loss {float(logs['loss']):.4f}  epoch {state.epoch or 0:.2f}")
        metrics = {k[5:]: v for k, v in logs.items() if k.startswith("eval_") and k[5:] in (
            "loss", "accuracy", "macro_f1", "path_accuracy")}
        if metrics:
            shown = "  ".join(f"{k} {float(v):.4f}" for k, v in metrics.items())
            self.progress.console.print(f"  validation @ epoch {state.epoch or 0:.2f}: {shown}")

    def on_train_end(self, args, state, control, **kwargs):
        self.progress.stop()
