"""The recommendation recipe, top to bottom: setup (read + split, embed item text, build) -> train -> evaluate
(full ranking, and the most-popular baseline) -> save the run directory.

Training runs epochs of the model's own batches (sasrec: users; two_tower: (prefix, next item) pairs); every
`evaluate_every` epochs it scores a seeded sample of validation users with full ranking, keeps the best weights and
stops after `patience` evaluations without improvement. Each evaluation writes `checkpoints/` (weights, optimizer,
history, cost so far: training.loop), so an interrupted run continues with `--resume`; they are removed when the
run completes.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ecomtune.console import say
from ecomtune.errors import RecipeError, RunDirError
from ecomtune.recipes.loader import recipe_of_run, recipe_to_store
from ecomtune.retrieval.ranking import ranking_metrics, target_ranks
from ecomtune.reports.slices import SLICES_FILE, write_slices
from ecomtune.rundir import (
    Manifest,
    RunFolder,
    dir_size_mb,
    open_recipe_run,
    read_manifest,
    write_manifest,
)
from ecomtune.tasks.recommend import item_text
from ecomtune.tasks.recommend.batching import left_pad
from ecomtune.tasks.recommend.data import RecData, Split, load_data
from ecomtune.tasks.recommend.models import build
from ecomtune.tasks.recommend.recipe import RecommendRecipe
from ecomtune.tasks.recommend.slices import recommend_slices
from ecomtune.training import distributed
from ecomtune.training.device import resolve_device
from ecomtune.training.listeners import report_evaluation
from ecomtune.training.loop import (
    CHECKPOINTS,
    load_checkpoint,
    save_checkpoint,
    save_weights,
)
from ecomtune.training.meter import Meter

PROTOCOL = ("leave-one-out (last item test, second-to-last validation), full ranking over every item, history "
            "items excluded, ties counted against the target")


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


def most_popular(data: RecData, recipe: RecommendRecipe) -> dict:
    """The baseline: every user gets the items ranked by their training-interaction count (same protocol)."""
    start = time.perf_counter()
    counts = np.bincount(np.concatenate([np.zeros(0, np.int64), *data.train]), minlength=data.n_items + 1)
    popularity = torch.as_tensor(counts, dtype=torch.float32)[None]
    ranks = target_ranks(lambda rows: popularity.repeat(len(data.test.targets[rows]), 1), data.test.histories,
                         data.test.targets, recipe.evaluation.exclude_history)
    return {"name": "most-popular", "features": "training-interaction count per item",
            "train_seconds": round(time.perf_counter() - start, 2),
            "metrics": {"test": ranking_metrics(ranks, recipe.evaluation.ks)}}


def baseline(recipe: RecommendRecipe) -> dict:
    """The most-popular baseline on the recipe's split (`ecomtune baseline`): the number a recommender must beat."""
    return most_popular(load_data(recipe.data, need_text=False), recipe)


def _sample(split: Split, n: int | None, seed: int) -> Split:
    if not n or len(split) <= n:
        return split
    return split.subset(sorted(np.random.default_rng(seed).choice(len(split), n, replace=False).tolist()))


@dataclass
class _Run:
    """What `setup` builds and `fit`, `evaluate` and `save` share."""

    recipe: RecommendRecipe
    folder: RunFolder
    data: RecData
    device: torch.device
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    encoder: tuple | None  # (tokenizer, backbone, pooling) of text models
    profiles: torch.Tensor | None
    validation: Split
    state: dict  # the loop's: epoch, step, best, bad, history (a checkpoint keeps it)
    meter: Meter
    embed_seconds: float

    @property
    def checkpoints(self) -> Path:
        return self.folder.path / CHECKPOINTS


def train(recipe: RecommendRecipe, resume: bool = False) -> Path:
    """Train a recommendation recipe end to end; returns the run directory."""
    run = setup(recipe, resume)
    fit(run)
    distributed.finish()
    if not distributed.is_main():  # `--nproc N`: rank 0 evaluates and writes the run
        return run.folder.final
    return save(run, evaluate(run))


def setup(recipe: RecommendRecipe, resume: bool) -> _Run:
    """Seed; read and split the data (before the run folder: bad data leaves nothing); embed item text; build the
    model and its optimizer; with `resume`, continue from the last checkpoint."""
    t, m = recipe.training, recipe.model
    torch.manual_seed(t.seed)
    say("reading interactions")
    data = load_data(recipe.data, need_text=recipe.uses_text)
    if recipe.uses_text:  # an unknown encoder fails before the run folder exists
        from ecomtune.backbones import resolve_backbone

        resolve_backbone(m.text_encoder)
    device = resolve_device(t.device)
    distributed.init(device)
    folder = distributed.on_main(lambda: open_recipe_run(recipe, resume))
    for note in data.notes:
        say(f"  note: {note}")
    summary = data.summary()
    say(f"  {summary['users']} users, {summary['items']} items ({summary['cold_items']} held out as cold), "
        f"{summary['train_interactions']} training interactions")
    encoder, text, profiles, embed_seconds = _embed_text(recipe, data, device)
    model = build(recipe, data.n_items, text).to(device)
    model.profile_table = profiles
    if m.type == "two_tower" and m.finetune != "frozen":
        _attach_encoder(model, encoder, data, recipe, device)
    optimizer = _optimizer(model, recipe)
    state = {"epoch": 0, "step": 0, "best": -1.0, "bad": 0, "history": []}
    restored = load_checkpoint(folder.path / CHECKPOINTS, optimizer) if resume else None
    if restored:
        model.load_state_dict(restored[0], strict=False)
        state |= restored[1]  # keys a checkpoint lacks keep their start values
        say(f"resuming at epoch {state['epoch']:g} (best {recipe.evaluation.metric} {state['best']:.4f})")
    meter = Meter(device, state.pop("meter", state))  # older checkpoints kept train_seconds / samples in state
    return _Run(recipe, folder, data, device, model, optimizer, encoder, profiles,
                _sample(data.validation, t.max_eval_users, t.seed), state, meter, embed_seconds)


def _embed_text(recipe, data: RecData, device) -> tuple:
    """(encoder, item text embeddings, user profile embeddings, seconds) — Nones for ID-only models."""
    m = recipe.model
    encoder = text = profiles = None
    start = time.perf_counter()
    if recipe.uses_text:
        encoder = item_text.load_encoder(m.text_encoder)
        if recipe.data.item_vectors:
            say(f"reading {data.n_items} item vectors from {recipe.data.item_vectors}")
            text = item_text.precomputed(recipe.data.item_vectors, data.item_ids, encoder)
        else:
            say(f"embedding {data.n_items} item texts with {m.text_encoder}")
            text = item_text.encode_texts(*encoder, data.item_texts, m.text_max_length, device=device,
                                          progress=True)
    if data.user_texts is not None:
        say(f"embedding {sum(map(bool, data.user_texts))} user profiles with {m.text_encoder}")
        profiles = item_text.encode_profiles(*encoder, data.user_texts, m.text_max_length, device=device)
    return encoder, text, profiles, time.perf_counter() - start


def fit(run: _Run) -> None:
    """Epochs of training batches, validating (and checkpointing) every `evaluate_every` epochs until the last
    step, the time budget or early stopping."""
    t, m, state, model = run.recipe.training, run.recipe.model, run.state, run.model
    trainable = torch.as_tensor(run.data.trainable_mask(), device=run.device)
    steps_per_epoch = model.steps_per_epoch(run.data.train, t.batch_size)
    total_steps = int(np.ceil(t.epochs * steps_per_epoch))
    eval_steps = max(1, int(round(t.evaluate_every * steps_per_epoch)))
    rng = np.random.default_rng(t.seed + state["step"])
    say(f"training {m.type} ({m.item_embedding if m.type == 'sasrec' else m.finetune}) on {run.device.type}: "
        f"{total_steps} steps, validating every {eval_steps} on {len(run.validation)} users")
    stop = state["step"] >= total_steps
    with _bar(total_steps, state["step"]) as advance, run.meter as meter:
        while not stop:
            model.train()
            for batch in model.training_batches(run.data.train, t.batch_size, rng):
                loss = _step(run, {k: v.to(run.device) for k, v in batch.items()}, trainable)
                advance(f"loss {loss:.3f}")
                over_budget = bool(t.max_minutes) and meter.seconds > 60 * t.max_minutes
                if state["step"] % eval_steps == 0 or state["step"] >= total_steps or over_budget:
                    meter.stop()  # validation is not training time
                    state["epoch"] = round(state["step"] / steps_per_epoch, 3)
                    stop = _validate(run, loss, over_budget) or state["step"] >= total_steps
                    if stop:
                        break
                    meter.start()


def _step(run: _Run, batch: dict, trainable: torch.Tensor) -> float:
    run.optimizer.zero_grad(set_to_none=True)
    if distributed.distributed():
        loss = _distributed_loss(run, batch, trainable)
    else:
        loss = run.model.loss(batch, trainable)
        loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), 5.0)
    run.optimizer.step()
    run.state["step"] += 1
    run.meter.count(len(batch["targets"]))  # the global batch (`--nproc N`: each process trains its share)
    if run.model.config["type"] == "two_tower" and run.model.encoder is not None \
            and run.state["step"] % run.recipe.training.refresh_every == 0:
        _refresh(run.model, run.device)
    return loss.item()


def _distributed_loss(run: _Run, batch: dict, trainable: torch.Tensor) -> torch.Tensor:
    """`--nproc N`: this process's rows of the global batch (every process drew the same batch from the same seeded
    order); each backpropagates its loss weighted by its share of the batch's target positions, and the summed
    gradients are the global batch's, as one process computes them (sasrec exactly: its loss is per position; a
    two_tower's in-batch negatives are this process's rows only). Returns the global batch's loss."""
    rows = torch.as_tensor(distributed.shard(range(len(batch["targets"]))), dtype=torch.long)
    local = {k: v[rows.to(v.device)] for k, v in batch.items()}
    targets = (local["targets"] > 0).sum()
    share = float(targets) / max(1, int((batch["targets"] > 0).sum()))
    loss = run.model.loss(local, trainable) if len(rows) and targets else None
    if loss is not None:
        loss.backward()
    distributed.all_reduce_grads(run.model.parameters(), share)
    total = torch.tensor([loss.item() * share if loss is not None else 0.0])
    distributed.all_reduce(total)
    return total[0]


def _validate(run: _Run, loss: float, over_budget: bool) -> bool:
    """Score the validation sample, keep the best weights, checkpoint; True when training should stop."""
    t, metric, state = run.recipe.training, run.recipe.evaluation.metric, run.state
    metrics, _ = evaluate_split(run.model, run.validation, run.recipe.evaluation.ks,
                                run.recipe.evaluation.exclude_history, profiles=run.profiles)
    value = metrics[metric]
    state["history"].append({"epoch": state["epoch"], "step": state["step"], "loss": loss,
                             **{f"val_{k}": v for k, v in metrics.items() if k != "cases"}})
    improved = value > state["best"]
    if improved:
        state["best"], state["bad"] = value, 0
        if distributed.is_main():
            save_weights(run.folder.path / "best.safetensors", _weights(run.model))
    else:
        state["bad"] += 1
    say(f"  epoch {state['epoch']:.2f}: loss {loss:.4f}, validation {metric} {value:.4f}{' *' if improved else ''}")
    report_evaluation(state["step"], metrics)  # `tune`'s pruner listens; it may stop the run here
    if distributed.is_main():
        save_checkpoint(run.checkpoints, _weights(run.model), run.optimizer,
                        {**state, "meter": run.meter.state_dict()})
    distributed.barrier()  # a resumed run finds the same checkpoint on every rank
    if over_budget:
        say(f"  time budget reached ({t.max_minutes:g} min of training)")
        return True
    if t.patience and state["bad"] >= t.patience:
        say(f"  early stop: no better validation {metric} for {t.patience} evaluations")
        return True
    return False


def evaluate(run: _Run) -> dict:
    """The best weights on the test split (full ranking; cold / warm targets apart) and the most-popular
    baseline; returns the manifest's metrics, baseline and the measured numbers."""
    recipe, model, data = run.recipe, run.model, run.data
    model.load_state_dict(load_file(str(run.folder.path / "best.safetensors")), strict=False)
    trainable_params = sum(p.numel() for p in model.parameters() if p.requires_grad)  # incl. a fine-tuned encoder
    if model.config["type"] == "two_tower" and model.encoder is not None:
        _refresh(model, run.device)  # the saved cache comes from the final encoder
        run.encoder = _finished_encoder(model, recipe)
    say("evaluating on the test split (full ranking over every item)")
    tic = time.perf_counter()
    test, ranks = evaluate_split(model, data.test, recipe.evaluation.ks, recipe.evaluation.exclude_history,
                                 profiles=run.profiles)
    eval_seconds = time.perf_counter() - tic
    metrics = {"test": test, "validation_best": run.state["best"]}
    slices = recommend_slices(recipe, data, data.test, ranks)  # by history length and target popularity
    if len(data.cold):
        cold_rows = np.flatnonzero(np.isin(data.test.targets, data.cold))
        metrics["test_cold"] = ranking_metrics(ranks[cold_rows], recipe.evaluation.ks)
        metrics["test_warm"] = ranking_metrics(np.delete(ranks, cold_rows), recipe.evaluation.ks)
    popular = most_popular(data, recipe)
    shown = [k for k in ("hr@10", "ndcg@10", "mrr") if k in test] or [recipe.evaluation.metric]
    say("  test " + ", ".join(f"{k} {test[k]:.4f} (most-popular {popular['metrics']['test'][k]:.4f})"
                              for k in shown))
    return {"metrics": metrics, "baseline": popular, "eval_seconds": eval_seconds,
            "trainable_params": trainable_params, "slices": slices}


def save(run: _Run, result: dict) -> Path:
    """model/ (weights, config, items, encoder), the manifest with its cost, the card and report; the checkpoints
    go, and a run that replaces another is swapped in."""
    recipe, model, data, run_dir = run.recipe, run.model, run.data, run.folder.path
    save_run(run_dir, model, data, run.encoder)
    cost = {**run.meter.summary(), **distributed.cost(run.meter.summary()),
            "trainable_params": result["trainable_params"],
            "total_params": sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers()),
            "model_size_mb": round(dir_size_mb(run_dir / "model"), 1), "device": run.device.type,
            "steps": run.state["step"],
            "inference_samples_per_second": round(len(data.test) / result["eval_seconds"], 1),
            "epochs": run.state["epoch"], "text_embedding_seconds": round(run.embed_seconds, 1),
            "full_ranking_eval_seconds": round(result["eval_seconds"], 2),
            "eval_users_per_second": round(len(data.test) / result["eval_seconds"], 1)}
    files = {"interactions": Path(recipe.data.interactions).name,
             **({"items": Path(recipe.data.items).name} if recipe.data.items else {})}
    manifest = Manifest(
        name=recipe.name, task="recommend", language=recipe.language, description=recipe.description,
        backbone={"name": recipe.model.text_encoder} if recipe.uses_text else None,
        recipe=recipe_to_store(recipe, run.folder.final), data={"files": files, **data.summary()},
        metrics=result["metrics"], cost=cost, baseline=result["baseline"], history=run.state["history"],
        extra={"model": model.config, "protocol": PROTOCOL})
    (run_dir / "best.safetensors").unlink(missing_ok=True)
    write_slices(run_dir / SLICES_FILE, result["slices"])
    write_manifest(run_dir, manifest)
    _write_card_and_plot(run_dir, manifest.to_dict())
    shutil.rmtree(run.checkpoints, ignore_errors=True)
    return run.folder.finish()


def _bar(total: int, done: int):
    """A progress bar of training steps; returns a context whose value advances it by one step with a note."""
    from contextlib import contextmanager

    from ecomtune.console import ProgressBar

    @contextmanager
    def bar():
        with ProgressBar("training", total, transient=True) as advance:
            advance(done)
            yield lambda info: advance(1, info)

    return bar()


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

    recipe = recipe_of_run(run_dir, read_manifest(run_dir), need_data=data is None)
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
    metrics["slices"] = recommend_slices(recipe, loaded, loaded.test, ranks)
    metrics["rows"] = metrics.pop("cases")
    return metrics


__all__ = ["RecipeError", "baseline", "evaluate_run", "evaluate_split", "train"]
