"""Trainer callbacks: the cost meter (wall time, throughput, peak memory), a rich progress line and the reporter
that hands each validation score to the evaluation listeners (`training.listeners`)."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import TrainerCallback

from ecomtune.console import ProgressBar, console
from ecomtune.training.listeners import report_evaluation
from ecomtune.training.meter import Meter, PeakMemory

__all__ = ["COST_FILE", "CostMeter", "EvaluationReporter", "PeakMemory", "RichProgress", "last_checkpoint"]  # PeakMemory: moved to training.meter

COST_FILE = "cost.json"  # in each checkpoint folder: the cost of the run up to that checkpoint


class CostMeter(TrainerCallback):
    """`training.meter.Meter` for the Trainer: each checkpoint folder keeps what was spent up to it
    (`cost.json`), and a resumed run adds it back."""

    def __init__(self, device: torch.device):
        self.meter = Meter(device)

    def on_train_begin(self, args, state, control, **kwargs):
        spent = Path(args.output_dir) / f"checkpoint-{state.global_step}" / COST_FILE
        if state.global_step and spent.exists():
            self.meter.load_state_dict(json.loads(spent.read_text(encoding="utf-8")))
        self.meter.start()

    def on_save(self, args, state, control, **kwargs):
        # written last, atomically: a checkpoint folder with cost.json finished saving (see `last_checkpoint`)
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}" / COST_FILE
        path.with_suffix(".tmp").write_text(json.dumps(self.meter.state_dict()), encoding="utf-8")
        path.with_suffix(".tmp").replace(path)

    def on_train_end(self, args, state, control, **kwargs):
        self.meter.stop()
        self.meter.samples = state.global_step * args.per_device_train_batch_size * \
            args.gradient_accumulation_steps * args.world_size

    def summary(self) -> dict:
        return self.meter.summary()


def last_checkpoint(folder: Path) -> str | None:
    """The newest checkpoint that finished saving: an interrupted save leaves a folder without `cost.json`."""
    done = [p for p in Path(folder).glob("checkpoint-*") if (p / COST_FILE).is_file() and p.name[11:].isdigit()]
    return str(max(done, key=lambda p: int(p.name[11:]))) if done else None


class RichProgress(TrainerCallback):
    """One progress bar for training (loss, epoch; in a pipe a plain line every 30 s) and one line per evaluation.

    Replaces the Trainer's tqdm bars, which interleave with printed log dicts and become unreadable.
    """

    def on_train_begin(self, args, state, control, **kwargs):
        self.bar = ProgressBar("training", state.max_steps)
        self.bar.__enter__()
        self.bar.update(state.global_step)

    def on_step_end(self, args, state, control, **kwargs):
        self.bar.update(state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" in logs:
            self.bar.update(info=f"loss {float(logs['loss']):.4f}  epoch {state.epoch or 0:.2f}")
        metrics = {k[5:]: v for k, v in logs.items() if k.startswith("eval_") and k[5:] in (
            "loss", "accuracy", "macro_f1", "path_accuracy")}
        if metrics and self.bar.on:
            shown = "  ".join(f"{k} {float(v):.4f}" for k, v in metrics.items())
            console.print(f"  validation @ epoch {state.epoch or 0:.2f}: {shown}")

    def on_train_end(self, args, state, control, **kwargs):
        self.bar.__exit__(None, None, None)


class EvaluationReporter(TrainerCallback):
    """Every validation of the Trainer -> `report_evaluation(step, metrics)` with the recipe's metric names
    (`eval_macro_f1` -> `macro_f1`).

    A listener that raises (a pruned `tune` trial) stops training at once; the exception is raised again from
    `on_train_end`, after the other callbacks (listed before this one) closed their progress bars and meters.
    """

    def __init__(self):
        self.stopped: BaseException | None = None

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        named = {k.removeprefix("eval_"): v for k, v in (metrics or {}).items()}
        try:
            report_evaluation(state.global_step, named)
        except Exception as exc:  # noqa: BLE001 - re-raised in on_train_end
            self.stopped = exc
            control.should_training_stop = True

    def on_train_end(self, args, state, control, **kwargs):
        if self.stopped is not None:
            stopped, self.stopped = self.stopped, None
            raise stopped
