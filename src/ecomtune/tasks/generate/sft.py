"""Supervised fine-tuning of a causal LM on (prompt, target) token pairs: one optimizer step per `batch_size`
pairs, accumulated over micro-batches of similar length; the loss is the mean cross-entropy over target tokens
(prompt and padding tokens carry IGNORE labels, see data.py). Checkpoints (the trainable weights, the optimizer,
the loop state) are written every `checkpoint_minutes` and at each epoch's end; `--resume` continues from the
last one, with the same batch order (each epoch's order comes from `seed + epoch`).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch

from ecomtune.tasks.generate.data import collate, length_batches
from ecomtune.tasks.generate.recipe import GenerateTraining
from ecomtune.training.loop import load_checkpoint, save_checkpoint
from ecomtune.training.meter import Meter
from ecomtune.console import ProgressBar
from ecomtune.training.steps import StepLoop, warmup_then_linear


def trainable(model) -> dict[str, torch.Tensor]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def fine_tune(model, examples: list[tuple[list[int], list[int]]], pad_id: int, t: GenerateTraining, meter: Meter,
              checkpoints: Path | None = None) -> dict:
    """Train `model` in place; returns the loss history, steps, seconds and target tokens per second."""
    device = next(model.parameters()).device
    lengths = [len(ids) for ids, _ in examples]
    steps_per_epoch = math.ceil(len(examples) / t.batch_size)
    steps = t.max_steps or max(1, math.ceil(t.epochs * steps_per_epoch))
    params = trainable(model)
    optimizer = torch.optim.AdamW(params.values(), lr=t.learning_rate, weight_decay=t.weight_decay)
    scheduler = warmup_then_linear(optimizer, steps, t.warmup)
    loop, tokens, seen = StepLoop(t.seed), 0, 0
    if checkpoints is not None and (restored := load_checkpoint(checkpoints, optimizer, scheduler)):
        weights, state = restored
        with torch.no_grad():
            for name, value in weights.items():
                params[name].copy_(value)
        loop.load_state_dict(state)
        meter.load_state_dict(state["meter"])
        tokens, seen = state.get("tokens", 0), state.get("seen", 0)
    model.train()
    saved, epoch_batches, epoch = time.monotonic(), [], -1
    with ProgressBar("fine-tuning", steps) as advance, meter:
        advance(loop.step)
        while loop.step < steps:
            if loop.step // steps_per_epoch != epoch:
                epoch = loop.step // steps_per_epoch
                epoch_batches = length_batches(lengths, t.batch_size, t.seed + epoch)
            rows = epoch_batches[loop.step % steps_per_epoch]
            n_target = sum(sum(1 for y in examples[i][1] if y >= 0) for i in rows)
            loss_sum = 0.0
            for start in range(0, len(rows), t.micro_batch_size):
                batch = collate([examples[i] for i in rows[start:start + t.micro_batch_size]], pad_id)
                batch = {k: v.to(device) for k, v in batch.items()}
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                logits = logits[:, -batch["labels"].shape[1]:]  # prompt tuning puts its virtual tokens first
                # a sum over the batch's target tokens / all of the step's target tokens = the step's token mean
                loss = torch.nn.functional.cross_entropy(
                    logits[:, :-1].reshape(-1, logits.shape[-1]).float(), batch["labels"][:, 1:].reshape(-1),
                    ignore_index=-100, reduction="sum") / max(1, n_target)
                loss.backward()
                loss_sum += loss.item()
            torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loop.step += 1
            tokens += n_target
            seen += sum(lengths[i] for i in rows)
            meter.count(len(rows))
            loop.losses = loop.losses[-9:] + [loss_sum]
            if loop.step % 5 == 0 or loop.step == steps:
                loop.history.append({"step": loop.step, "loss": round(float(np.mean(loop.losses)), 4)})
            advance(1, f"loss {np.mean(loop.losses):.3f}")
            due = loop.step % steps_per_epoch == 0 or loop.step == steps or \
                time.monotonic() - saved > 60 * t.checkpoint_minutes
            if checkpoints is not None and due:
                save_checkpoint(checkpoints, params, optimizer,
                                {**loop.state_dict(), "meter": meter.state_dict(), "tokens": tokens, "seen": seen}, scheduler)
                saved = time.monotonic()
    model.eval()
    seconds = meter.seconds
    return {"history": loop.history, "steps": steps, "train_seconds": round(seconds, 1),
            "train_tokens": seen, "train_target_tokens": tokens,
            "train_tokens_per_second": round(seen / seconds, 1) if seconds else None,
            "trainable_params": int(sum(p.numel() for p in params.values()))}
