"""The recommendation recipe, top to bottom: read + split -> embed item text -> train -> full-ranking evaluation
-> save the run directory.

Training runs epochs of the model's own batches (sasrec: users; two_tower: (prefix, next item) pairs); every
`evaluate_every` epochs it scores a seeded sample of validation users with full ranking, keeps the best weights and
stops after `patience` evaluations without improvement. Each evaluation writes `checkpoints/` (weights, optimizer,
history), so an interrupted run continues with `--resume`; they are removed when the run completes.
"""
from __future__ import annotations

import json
import resource
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ecomtune.console import say
from ecomtune.errors import RecipeError, RunDirError
from ecomtune.recipes.loader import recipe_of_run, recipe_to_store
from ecomtune.retrieval.ranking import ranking_metrics, target_ranks
from ecomtune.rundir import dir_size_mb, open_recipe_run, read_manifest, versions, write_manifest
from ecomtune.tasks.recommend import item_text
from ecomtune.tasks.recommend.batching import left_pad
from ecomtune.tasks.recommend.data import RecData, Split, load_data
from ecomtune.tasks.recommend.models import build
from ecomtune.tasks.recommend.recipe import RecommendRecipe
from ecomtune.training.device import resolve_device

CHECKPOINTS = "checkpoints"


@torch.inference_mode()
def evaluate_split(model, split: Split, ks, exclude_history: bool = True, device=None,
                   profiles: torch.Tensor | None = None) -> dict:
    """Full-ranking HR@K / NDCG@K / MRR of `split` (every item scored, history excluded); `profiles`: two_tower
    profile embeddings of every user (rows indexed by `split.users`)."""
    was_training = model.training
    model.eval()
    device = device or next(model.parameters()).device
    items = model.item_matrix()
    width = model.max_history

    def scores(rows: slice) -> torch.Tensor:
        seqs = left_pad(split.histories[rows], width).to(device)
        if profiles is None:
            return (model.user_vectors(seqs) @ items.T).cpu()
        users = profiles[torch.as_tensor(split.users[rows])].to(device)
        return (model.user_vectors(seqs, profiles=users) @ items.T).cpu()

    ranks = target_ranks(scores, split.histories, split.targets, exclude_history)
    model.train(was_training)
    return ranking_metrics(ranks, ks), ranks


def _sample(split: Split, n: int | None, seed: int) -> Split:
    if not n or len(split) <= n:
        return split
    return split.subset(sorted(np.random.default_rng(seed).choice(len(split), n, replace=False).tolist()))


def train(recipe: RecommendRecipe, resume: bool = False) -> Path:
    """Train a recommendation recipe end to end; returns the run directory."""
    t, m = recipe.training, recipe.model
    torch.manual_seed(t.seed)
    say("reading interactions")
    data = load_data(recipe.data, need_text=recipe.uses_text)  # before the run folder: bad data leaves nothing
    if recipe.uses_text:  # an unknown encoder fails before the run folder exists
        from ecomtune.backbones import resolve_backbone

        resolve_backbone(m.text_encoder)
    folder = open_recipe_run(recipe, resume)
    run_dir = folder.path
    for note in data.notes:
        say(f"  note: {note}")
    summary = data.summary()
    say(f"  {summary['users']} users, {summary['items']} items ({summary['cold_items']} held out as cold), "
        f"{summary['train_interactions']} training interactions")
    device = resolve_device(t.device)
    encoder = text = None
    start = time.perf_counter()
    if recipe.uses_text:
        say(f"embedding {data.n_items} item texts with {m.text_encoder}")
        encoder = item_text.load_encoder(m.text_encoder)
        text = item_text.encode_texts(*encoder, data.item_texts, m.text_max_length, device=device, progress=True)
    profiles = None
    if data.user_texts is not None:
        say(f"embedding {sum(map(bool, data.user_texts))} user profiles with {m.text_encoder}")
        profiles = item_text.encode_profiles(*encoder, data.user_texts, m.text_max_length, device=device)
    embed_seconds = time.perf_counter() - start
    model = build(recipe, data.n_items, text).to(device)
    model.profile_table = profiles
    if m.type == "two_tower" and m.finetune != "frozen":
        _attach_encoder(model, encoder, data, recipe, device)
    trainable = torch.as_tensor(data.trainable_mask(), device=device)
    optimizer = _optimizer(model, recipe)
    val = _sample(data.validation, t.max_eval_users, t.seed)
    # train_seconds / samples / step add up over the parts of an interrupted run (the checkpoint keeps them)
    state = {"epoch": 0, "step": 0, "best": -1.0, "bad": 0, "history": [], "train_seconds": 0.0, "samples": 0}
    ckpt = run_dir / CHECKPOINTS
    if resume and (ckpt / "state.json").exists():
        state |= _load_checkpoint(ckpt, model, optimizer)  # keys a checkpoint lacks keep their start values
        say(f"resuming at epoch {state['epoch']:g} (best {recipe.evaluation.metric} {state['best']:.4f})")
    steps_per_epoch = model.steps_per_epoch(data.train, t.batch_size)
    total_steps = int(np.ceil(t.epochs * steps_per_epoch))
    eval_steps = max(1, int(round(t.evaluate_every * steps_per_epoch)))
    rng = np.random.default_rng(t.seed + state["step"])
    say(f"training {m.type} ({m.item_embedding if m.type == 'sasrec' else m.finetune}) on {device.type}: "
        f"{total_steps} steps, validating every {eval_steps} on {len(val)} users")
    tic = time.perf_counter()
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from ecomtune.console import console

    stop = state["step"] >= total_steps
    with Progress(TextColumn("training"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                  TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=console, transient=True,
                  disable=_quiet()) as bar:
        task = bar.add_task("train", total=total_steps, completed=state["step"], info="")
        while not stop:
            model.train()
            for batch in model.training_batches(data.train, t.batch_size, rng):
                batch = {k: v.to(device) for k, v in batch.items()}
                loss = model.loss(batch, trainable)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                optimizer.step()
                state["step"] += 1
                state["samples"] += len(batch["targets"])
                if model.config["type"] == "two_tower" and model.encoder is not None \
                        and state["step"] % t.refresh_every == 0:
                    _refresh(model, device)
                bar.update(task, advance=1, info=f"loss {loss.item():.3f}")
                over_budget = t.max_minutes and state["train_seconds"] + time.perf_counter() - tic > 60 * t.max_minutes
                if state["step"] % eval_steps == 0 or state["step"] >= total_steps or over_budget:
                    state["train_seconds"] += time.perf_counter() - tic
                    metrics, _ = evaluate_split(model, val, recipe.evaluation.ks, recipe.evaluation.exclude_history,
                                                 profiles=profiles)
                    tic = time.perf_counter()
                    state["epoch"] = round(state["step"] / steps_per_epoch, 3)
                    value = metrics[recipe.evaluation.metric]
                    state["history"].append({"epoch": state["epoch"], "step": state["step"], "loss": loss.item(),
                                             **{f"val_{k}": v for k, v in metrics.items() if k != "cases"}})
                    improved = value > state["best"]
                    if improved:
                        state["best"], state["bad"] = value, 0
                        save_file(_weights(model), str(run_dir / "best.safetensors"))
                    else:
                        state["bad"] += 1
                    bar.update(task, info=f"val {recipe.evaluation.metric} {value:.4f} (best {state['best']:.4f})")
                    say(f"  epoch {state['epoch']:.2f}: loss {loss.item():.4f}, validation "
                        f"{recipe.evaluation.metric} {value:.4f}{' *' if improved else ''}")
                    _save_checkpoint(ckpt, model, optimizer, state)
                    if over_budget:
                        say(f"  time budget reached ({t.max_minutes:g} min of training)")
                        stop = True
                    elif t.patience and state["bad"] >= t.patience:
                        say(f"  early stop: no better validation {recipe.evaluation.metric} for {t.patience} "
                            "evaluations")
                        stop = True
                if stop or state["step"] >= total_steps:
                    stop = True
                    break
    model.load_state_dict(load_file(str(run_dir / "best.safetensors")), strict=False)
    trainable_params = sum(p.numel() for p in model.parameters() if p.requires_grad)  # incl. a fine-tuned encoder
    if model.config["type"] == "two_tower" and model.encoder is not None:
        _refresh(model, device)  # the saved cache comes from the final encoder
        encoder = _finished_encoder(model, recipe)
    say("evaluating on the test split (full ranking over every item)")
    tic = time.perf_counter()
    test, ranks = evaluate_split(model, data.test, recipe.evaluation.ks, recipe.evaluation.exclude_history,
                                 profiles=profiles)
    eval_seconds = time.perf_counter() - tic
    metrics = {"test": test, "validation_best": state["best"]}
    if len(data.cold):
        cold_rows = np.flatnonzero(np.isin(data.test.targets, data.cold))
        metrics["test_cold"] = ranking_metrics(ranks[cold_rows], recipe.evaluation.ks)
        metrics["test_warm"] = ranking_metrics(np.delete(ranks, cold_rows), recipe.evaluation.ks)
    cost = {"trainable_params": trainable_params,
            "total_params": sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers()),
            "train_seconds": round(state["train_seconds"], 1), "text_embedding_seconds": round(embed_seconds, 1),
            "train_samples_per_second": round(state["samples"] / max(state["train_seconds"], 1e-9), 1)
            if state["samples"] else None,
            "steps": state["step"], "epochs": state["epoch"],
            "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "full_ranking_eval_seconds": round(eval_seconds, 2),
            "eval_users_per_second": round(len(data.test) / eval_seconds, 1), "device": device.type}
    save_run(run_dir, model, data, encoder)
    cost["model_size_mb"] = round(dir_size_mb(run_dir / "model"), 1)
    manifest = {
        "ecomtune_version": versions()["ecomtune"],
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "name": recipe.name, "task": "recommend", "language": recipe.language,
        "description": recipe.description, "model": model.config,
        "backbone": {"name": m.text_encoder} if recipe.uses_text else None,
        "recipe": recipe_to_store(recipe, folder.final),
        "data": {"files": {"interactions": Path(recipe.data.interactions).name,
                           **({"items": Path(recipe.data.items).name} if recipe.data.items else {})}, **summary},
        "protocol": "leave-one-out (last item test, second-to-last validation), full ranking over every item, "
                    "history items excluded, ties counted against the target",
        "metrics": metrics, "cost": cost, "history": state["history"], "versions": versions(),
    }
    (run_dir / "best.safetensors").unlink(missing_ok=True)
    write_manifest(run_dir, {k: v for k, v in manifest.items() if v is not None})
    _write_card_and_plot(run_dir, manifest)
    shutil.rmtree(ckpt, ignore_errors=True)
    return folder.finish()


def _quiet() -> bool:
    import os

    return bool(os.environ.get("ECOMTUNE_QUIET"))


def _optimizer(model, recipe):
    t = recipe.training
    encoder = model.encoder[1] if getattr(model, "encoder", None) else None
    enc_params = [p for p in encoder.parameters() if p.requires_grad] if encoder is not None else []
    enc_ids = {id(p) for p in enc_params}
    groups = [{"params": [p for p in model.parameters() if id(p) not in enc_ids], "lr": t.learning_rate}]
    if enc_params:
        groups.append({"params": enc_params, "lr": t.encoder_learning_rate})
    return torch.optim.AdamW(groups, weight_decay=t.weight_decay)


def _attach_encoder(model, encoder, data: RecData, recipe, device) -> None:
    """two_tower lora/full: the item tower's encoder trains; LoRA through peft (merged before saving)."""
    tokenizer, backbone, pooling = encoder
    if recipe.model.finetune == "lora":
        from ecomtune.backbones import resolve_backbone
        from ecomtune.methods.adapters import apply_adapter
        from ecomtune.recipes.schema import AdapterConfig

        backbone = apply_adapter(backbone, AdapterConfig(method="lora", r=recipe.model.lora_r,
                                                         alpha=2 * recipe.model.lora_r),
                                 resolve_backbone(recipe.model.text_encoder).path)
    backbone.to(device).train()
    model.encoder = (tokenizer, backbone, pooling, data.item_texts, recipe.model.text_max_length)
    model.add_module("encoder_model", backbone)  # its parameters join the model's (optimizer, device)


def _refresh(model, device) -> None:
    tokenizer, backbone, pooling, texts, max_length = model.encoder
    backbone.eval()
    model.text = item_text.encode_texts(tokenizer, backbone, pooling, texts, max_length, device=device).to(device)
    backbone.train()


def _finished_encoder(model, recipe):
    tokenizer, backbone, pooling, _, _ = model.encoder
    if recipe.model.finetune == "lora":
        backbone = backbone.merge_and_unload()
    model.encoder = None
    del model.encoder_model
    return tokenizer, backbone.eval(), pooling


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
            if not k.startswith("encoder_model.")} | (
        {f"encoder_model.{k}": v.detach().cpu().contiguous()
         for k, v in model.encoder_model.state_dict().items()} if hasattr(model, "encoder_model") else {})


def _save_checkpoint(ckpt: Path, model, optimizer, state: dict) -> None:
    ckpt.mkdir(parents=True, exist_ok=True)
    save_file(_weights(model), str(ckpt / "model.safetensors.tmp"))
    torch.save(optimizer.state_dict(), ckpt / "optimizer.pt.tmp")  # internal to the run, removed when it ends
    (ckpt / "model.safetensors.tmp").replace(ckpt / "model.safetensors")
    (ckpt / "optimizer.pt.tmp").replace(ckpt / "optimizer.pt")
    (ckpt / "state.json").write_text(json.dumps(state), encoding="utf-8")


def _load_checkpoint(ckpt: Path, model, optimizer) -> dict:
    model.load_state_dict(load_file(str(ckpt / "model.safetensors")), strict=False)
    optimizer.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
    return json.loads((ckpt / "state.json").read_text(encoding="utf-8"))


def save_run(run_dir: Path, model, data: RecData, encoder) -> None:
    """model/: config.json, weights.safetensors (incl. the item text embeddings), items.jsonl, encoder/ (text)."""
    target = run_dir / "model"
    target.mkdir(parents=True, exist_ok=True)
    save_file({k: v for k, v in _weights(model).items() if not k.startswith("encoder_model.")},
              str(target / "weights.safetensors"))
    (target / "config.json").write_text(json.dumps(model.config, indent=2), encoding="utf-8")
    texts = data.item_texts or [""] * len(data.item_ids)
    with open(target / "items.jsonl", "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps({"id": data.item_ids[i], "text": texts[i]}, ensure_ascii=False) + "\n" for i in range(1, len(data.item_ids)))
    if encoder is not None:
        item_text.save_encoder(*encoder, target / "encoder")


def _write_card_and_plot(run_dir: Path, manifest: dict) -> None:
    from ecomtune.reports.recommend import write_recommend_report

    write_recommend_report(run_dir, manifest)


def evaluate_run(run_dir: str | Path, data: str | Path | None = None, device: str = "auto") -> dict:
    """Re-run the full-ranking test evaluation of a run (its own recipe's data, or `data` as the interactions)."""
    from ecomtune.tasks.recommend.predict import Recommender

    recipe = recipe_of_run(run_dir, read_manifest(run_dir))
    if data is not None:
        recipe.data.interactions = str(data)
    rec = Recommender.load(run_dir, device=device)
    loaded = load_data(recipe.data, need_text=False)
    profiles = rec.profile_embeddings(loaded.user_texts) if loaded.user_texts is not None else None
    if loaded.item_ids[1:] != rec.item_ids[1:len(loaded.item_ids)]:
        raise RunDirError(f"{run_dir}: the interactions index items differently from the trained catalogue — "
                          "evaluate on interactions over the same items (with the same `data.items`)")
    metrics, ranks = evaluate_split(rec.model, loaded.test, recipe.evaluation.ks, recipe.evaluation.exclude_history,
                                    profiles=profiles)
    if len(loaded.cold):
        cold_rows = np.flatnonzero(np.isin(loaded.test.targets, loaded.cold))
        metrics["cold"] = ranking_metrics(ranks[cold_rows], recipe.evaluation.ks)
    metrics["rows"] = metrics.pop("cases")
    return metrics


__all__ = ["RecipeError", "evaluate_run", "evaluate_split", "train"]
