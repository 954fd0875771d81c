"""The step loop the hand-written training loops (search's encoders, generation's fine-tuning) share: a progress
bar, the loop state a checkpoint keeps, one optimizer step, and warm-up then linear decay."""
from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np
import torch

from ecomtune.console import ProgressBar
from ecomtune.training.loop import load_checkpoint, save_checkpoint
from ecomtune.training.meter import Meter


class StepLoop:
    """What a training loop carries from step to step, and a checkpoint keeps so a resumed run continues exactly
    where it stopped: the step, the batch RNG, the shuffled order not yet used, the recent losses and the loss
    history."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.step = 0
        self.order: list[int] = []
        self.losses: list[float] = []
        self.history: list[dict] = []

    def batch(self, n: int, size: int) -> list[int]:
        """The next `size` of `n` examples, from shuffled passes over all of them."""
        if len(self.order) < size:
            self.order += self.rng.sample(range(n), n)
        batch, self.order = self.order[:size], self.order[size:]
        return batch

    def state_dict(self) -> dict:
        version, internal, gauss = self.rng.getstate()
        return {"step": self.step, "order": self.order, "losses": self.losses[-10:], "history": self.history,
                "rng": [version, list(internal), gauss]}

    def load_state_dict(self, state: dict) -> None:
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))
        self.step, self.order = state["step"], list(state["order"])
        self.losses, self.history = list(state["losses"]), list(state["history"])


def fit_steps(label: str, model, optimizer, scheduler, loop: StepLoop, steps: int, steps_per_epoch: int,
              loss_of, meter: Meter, checkpoints: Path | None = None, every_minutes: float | None = None) -> None:
    """`loss_of()` -> (loss, samples) and one optimizer step, from `loop.step` to `steps`. With `checkpoints`, it
    first continues from the checkpoint there, then writes one at each epoch's end, every `every_minutes` and at
    the last step (so a run resumed after this loop finished skips it)."""
    if checkpoints is not None and (restored := load_checkpoint(checkpoints, optimizer, scheduler)):
        weights, state = restored
        model.load_state_dict(weights)
        loop.load_state_dict(state)
        meter.load_state_dict(state["meter"])
    model.train()
    saved = time.monotonic()
    with ProgressBar(label, steps) as advance, meter:
        advance(loop.step)
        while loop.step < steps:
            loss, samples = loss_of()
            train_step(loss, model, optimizer, scheduler, loop, steps, advance)
            meter.count(samples)
            due = loop.step % steps_per_epoch == 0 or loop.step == steps or \
                bool(every_minutes) and time.monotonic() - saved > 60 * every_minutes
            if checkpoints is not None and due:
                save_checkpoint(checkpoints, model.state_dict(), optimizer,
                                {**loop.state_dict(), "meter": meter.state_dict()}, scheduler)
                saved = time.monotonic()
    model.eval()


def warmup_then_linear(optimizer, steps: int, warmup: float):
    """Linear warm-up over the first `warmup` share of the steps, then linear decay to 0."""
    n = int(steps * warmup)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / max(1, n) if s < n else max(0.0, (steps - s) / max(1, steps - n)))


def train_step(loss, model, optimizer, scheduler, loop: StepLoop, steps: int, advance) -> None:
    """One optimizer step (clipped at 1.0) plus the loss log shared by the bi-encoder and the re-ranker."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    loop.step += 1
    loop.losses = loop.losses[-9:] + [loss.item()]
    if loop.step % 10 == 0 or loop.step == steps:
        loop.history.append({"step": loop.step, "loss": round(float(np.mean(loop.losses)), 4)})
    advance(1, f"loss {np.mean(loop.losses):.3f}")
