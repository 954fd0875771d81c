"""`prune`: remove the least important attention heads (`heads`: a fraction) and/or whole layers (`layers`: a
count), scored on validation rows (see methods/prune.py), then optionally re-train briefly (`retrain_steps`) on
the run's training split to recover accuracy.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import torch
from safetensors.torch import save_file

from ecomtune.errors import RecipeError
from ecomtune.methods.prune import (
    choose_heads,
    choose_layers,
    head_importance,
    keep_layers,
    layer_importance,
    prune_heads,
)

DESCRIPTION = "structured pruning (attention heads / layers by importance)"
OPTIONS = ("heads", "layers", "retrain_steps", "learning_rate", "importance_rows")


def check(options: dict) -> None:
    heads, layers = options.get("heads") or 0.0, options.get("layers") or 0
    if not 0.0 <= heads < 1.0:
        raise RecipeError(f"`--heads` is {heads} — give the fraction of attention heads to remove, e.g. 0.25")
    if layers < 0:
        raise RecipeError(f"`--layers` is {layers} — give how many layers to remove, e.g. 2")
    if not heads and not layers:
        raise RecipeError("pruning needs `--heads FRACTION` and/or `--layers N` — e.g. `--heads 0.25 --layers 1`")
    if (options.get("retrain_steps") or 0) < 0:
        raise RecipeError(f"`--retrain-steps` is {options['retrain_steps']} — give 0 (no re-training) or more")


def retrain(network, batches, steps: int, learning_rate: float, say) -> list[float]:
    """A short plain fine-tune of the pruned network (all weights, AdamW, clipped); returns the losses."""
    from ecomtune.console import track

    optimizer = torch.optim.AdamW(network.parameters(), lr=learning_rate)
    network.train()
    losses = []
    for _, (input_ids, mask, labels) in track(zip(range(steps), itertools.cycle(batches)), steps, "re-training"):
        loss = network(input_ids, mask, labels)["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    network.eval()
    say(f"re-trained {steps} steps: loss {sum(losses[:10]) / min(10, steps):.3f} -> "
        f"{sum(losses[-10:]) / min(10, steps):.3f}")
    return losses


def run(network, model_dir: Path, context) -> dict:
    options, manifest = context.options, context.manifest
    if (manifest.get("backbone") or {}).get("pruned_heads") or (manifest.get("compression") or {}).get("pruning"):
        raise RecipeError(f"{context.source}: already pruned — prune the original run again with other settings")
    backbone_updates: dict = {}
    details: dict = {}
    batches = context.labelled_batches()
    if options.get("layers"):
        context.say(f"scoring {len(batches)} validation batches with each layer skipped")
        scores = layer_importance(network, batches)
        kept = choose_layers(scores, options["layers"])
        keep_layers(network.backbone, kept)
        details["layers"] = {"importance": [round(s, 5) for s in scores], "kept": kept}
    if options.get("heads"):
        context.say("scoring attention heads")
        importance = head_importance(network, batches)
        kept = choose_heads(importance, options["heads"])
        prune_heads(network.backbone, kept)
        backbone_updates["pruned_heads"] = {str(i): h for i, h in kept.items() if len(h) < importance.shape[1]}
        details["heads"] = {"importance": importance.round(decimals=4).tolist(),
                            "removed": int(importance.numel() - sum(len(h) for h in kept.values()))}
    steps = options.get("retrain_steps") or 0
    if steps:
        losses = retrain(network, context.train_batches(), steps, options.get("learning_rate") or 2e-5, context.say)
        details["retrain"] = {"steps": steps, "first_loss": losses[0], "last_loss": losses[-1]}
    network.backbone.save_pretrained(model_dir, safe_serialization=True)
    save_file(network.head_state(), str(model_dir / "heads.safetensors"))
    return {"backbone": backbone_updates, "pruning": details}
