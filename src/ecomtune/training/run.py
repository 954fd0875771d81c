"""The training recipe, top to bottom: check data -> build model -> train -> evaluate -> save the run directory."""
from __future__ import annotations

import dataclasses
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer, EarlyStoppingCallback, set_seed
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from transformers.utils import logging as hf_logging

from ecomtune.backbones import resolve_backbone
from ecomtune.baseline import run_baseline, warn_single_class
from ecomtune.console import say
from ecomtune.data.augment import augment_training
from ecomtune.data.noise import add_noise
from ecomtune.data.prepare import PreparedData, prepare_data, summarize
from ecomtune.deploy.monitor import write_reference_profile
from ecomtune.errors import RecipeError
from ecomtune.inference import ExpertModel
from ecomtune.methods.adapters import adapter_callbacks, apply_adapter
from ecomtune.methods.distill import check_teacher, prepare_distill, teacher_report
from ecomtune.methods.freeze import apply_freeze
from ecomtune.methods.losses import recipe_loss
from ecomtune.methods.threshold import check_threshold, tune_threshold
from ecomtune.methods.truncate import check_keep_layers, truncate_layers
from ecomtune.methods.unfreeze import GradualUnfreeze
from ecomtune.recipes.loader import recipe_to_store
from ecomtune.recipes.schema import Recipe
from ecomtune.reports import write_model_card, write_report
from ecomtune.rundir import dir_size_mb, open_recipe_run, save_model, versions, write_manifest
from ecomtune.tasks.network import TextClassifier
from ecomtune.tasks.registry import TASKS
from ecomtune.training.callbacks import CostMeter, RichProgress
from ecomtune.training.device import resolve_device, resolve_precision
from ecomtune.training.trainer import (
    EcomTrainer,
    PadCollator,
    TokenizedSplit,
    training_arguments,
)

CHECKPOINTS = "checkpoints"


def build_model(recipe: Recipe, prepared: PreparedData):
    """Backbone + heads with the recipe's freezing applied; returns (model, tokenizer, resolved backbone)."""
    resolved = resolve_backbone(recipe.model.backbone)
    loss_fn = recipe_loss(recipe.training, prepared.space, prepared.train.labels)  # label errors before loading
    tokenizer = AutoTokenizer.from_pretrained(resolved.path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if recipe.model.keep_layers:
        check_keep_layers(resolved.path, recipe.model.keep_layers)
    backbone = AutoModel.from_pretrained(resolved.path, dtype=torch.float32)
    if hasattr(backbone.config, "use_cache"):
        backbone.config.use_cache = False
    if recipe.model.keep_layers:
        truncate_layers(backbone, recipe.model.keep_layers)
    if recipe.model.adapter:
        backbone = apply_adapter(backbone, recipe.model.adapter, resolved.path)
    t = recipe.training
    model = TextClassifier(backbone, prepared.space.sizes, recipe.model.pooling or resolved.pooling,
                           recipe.model.dropout, t.label_smoothing, loss_fn=loss_fn)
    apply_freeze(backbone, t.freeze_embeddings, t.freeze_layers)
    if t.gradient_checkpointing:
        if not getattr(backbone, "supports_gradient_checkpointing", False):
            raise RecipeError(f"`training.gradient_checkpointing`: {type(backbone).__name__} does not support it "
                              "— set it to false")
        backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model, tokenizer, resolved


def _metrics_fn(task: str, space):
    decode, metrics = TASKS.get(task).model.decode, TASKS.get(task).metrics

    def compute(eval_pred) -> dict:
        logits = eval_pred.predictions
        logits = tuple(torch.as_tensor(x) for x in (logits if isinstance(logits, tuple) else (logits,)))
        pred, _ = decode(logits, space)
        return metrics.headline(metrics.compute(eval_pred.label_ids, pred.numpy(), space))

    return compute


def train(recipe: Recipe, resume: bool = False) -> Path:
    """Train a recipe end to end and return its run directory."""
    t = recipe.training
    if t.gradual_unfreeze and t.epochs < 2:
        raise RecipeError("`training.gradual_unfreeze` needs `training.epochs` >= 2 (it unfreezes per epoch)")
    teacher_manifest = check_teacher(recipe) if t.distill else None
    hf_logging.disable_progress_bar()  # weight-loading bars; our own progress bar covers training
    set_seed(t.seed)
    say("checking data")
    prepared = prepare_data(recipe)  # before the run folder: bad data leaves nothing behind
    for note in prepared.notes:
        say(f"  note: {note}")
    has_validation = len(prepared.validation) > 0
    if t.early_stopping and not has_validation:
        raise RecipeError("`training.early_stopping` needs validation rows — set `data.split.validation` > 0 or "
                          "give `data.validation`")
    say(f"  {len(prepared.train)} train / {len(prepared.validation)} validation / {len(prepared.test)} test rows")
    check_threshold(recipe, prepared)
    resolve_backbone(recipe.model.backbone)  # an unknown backbone fails before the run folder exists
    folder = open_recipe_run(recipe, resume)
    run_dir = folder.path
    if t.distill:
        say(f"labelling with the teacher {t.distill.teacher} (temperature {t.distill.temperature})")
    distill = prepare_distill(recipe, prepared, teacher_manifest, say) if t.distill else None
    device = resolve_device(t.device)
    precision = resolve_precision(t.precision, device)
    say(f"loading backbone {recipe.model.backbone} ({device.type}, {precision})")
    model, tokenizer, resolved = build_model(recipe, prepared)
    train_split = augment_training(prepared, recipe, tokenizer, model)  # + edited copies with `data.augment`
    max_len = recipe.model.max_length
    template = recipe.model.template
    train_set = TokenizedSplit(distill.texts, distill.labels, tokenizer, max_len, template, soft=distill.soft) \
        if distill else TokenizedSplit(train_split.texts, train_split.labels, tokenizer, max_len, template)
    val_set = TokenizedSplit(prepared.validation.texts, prepared.validation.labels, tokenizer, max_len, template) \
        if has_validation else None

    meter = CostMeter(device)
    callbacks = [meter, RichProgress(), *adapter_callbacks(recipe.model.adapter)]
    if t.gradual_unfreeze:
        callbacks.append(GradualUnfreeze(model.backbone, t.epochs, unfreeze_embeddings=not t.freeze_embeddings))
    if t.early_stopping:
        callbacks.append(EarlyStoppingCallback(t.early_stopping.patience, t.early_stopping.min_delta))
    args = training_arguments(recipe, str(run_dir / CHECKPOINTS), device, precision, has_validation,
                              len(train_set))
    trainer = EcomTrainer(model=model, args=args, train_dataset=train_set, eval_dataset=val_set,
                          data_collator=PadCollator(tokenizer.pad_token_id),
                          compute_metrics=_metrics_fn(recipe.task, prepared.space) if has_validation else None,
                          callbacks=callbacks, recipe=recipe)
    for noisy in (ProgressCallback, PrinterCallback):  # replaced by RichProgress
        trainer.remove_callback(noisy)
    say("training")
    checkpoint = resume and any((run_dir / CHECKPOINTS).glob("checkpoint-*"))
    trainer.train(resume_from_checkpoint=True if checkpoint else None)
    trainable = sum(p.numel() for g in trainer.optimizer.param_groups for p in g["params"])

    say("evaluating on the test split")
    expert = ExpertModel.from_network(model, tokenizer, prepared.space, recipe.task, max_len, device, precision,
                         template=template)
    threshold = tune_threshold(expert, prepared, recipe)  # `evaluation.threshold`, applied to every metric below
    cost: dict = {}
    metrics = {"test": _evaluate(expert, prepared.test, recipe, cost)}
    warn_single_class(metrics["test"])  # a model that answers one label for every row learned nothing
    if recipe.evaluation.noise:
        metrics["test_noisy"] = _evaluate_noisy(expert, prepared.test, recipe)
    if distill:
        say("evaluating the teacher on the same test rows")
        teacher_report(distill, recipe, metrics["test"], cost,
                       lambda teacher, teacher_cost: _evaluate(teacher, prepared.test, recipe, teacher_cost))
    if has_validation:
        metrics["validation"] = _evaluate(expert, prepared.validation, recipe, {})
    baseline = None
    if recipe.evaluation.baseline:
        say("training the TF-IDF baseline")
        baseline = run_baseline(prepared, recipe.task, recipe.language, t.seed)

    save_model(run_dir, model, tokenizer, prepared.space)
    cost.update(meter.summary())
    cost.update({"trainable_params": int(trainable), "total_params": int(sum(p.numel() for p in model.parameters())),
                 "model_size_mb": round(dir_size_mb(run_dir / "model"), 1), "device": device.type,
                 "precision": precision, "epochs": round(float(trainer.state.epoch or 0), 2),
                 "steps": int(trainer.state.global_step)})
    manifest = {
        "ecomtune_version": versions()["ecomtune"],
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "name": recipe.name,
        "task": recipe.task,
        "language": recipe.language,
        "description": recipe.description,
        "backbone": {"name": resolved.name, "hf_id": resolved.spec.hf_id if resolved.spec else resolved.name,
                     "kind": resolved.kind, "pooling": model.pooling, "keep_layers": recipe.model.keep_layers},
        "adapter": {**recipe.model.adapter.model_dump(mode="json"), "merged": False} if recipe.model.adapter else None,
        "head": {"pooling": model.pooling, "max_length": max_len, "sizes": prepared.space.sizes,
                 "template": template},
        "label_space": prepared.space.to_dict(),
        "labels": prepared.space.labels[0] if recipe.task == "classify" else None,
        "taxonomy": {"levels": prepared.space.levels, "labels": prepared.space.labels,
                     "n_paths": len(prepared.space.paths)} if recipe.task == "taxonomy" else None,
        "multitask": {"heads": prepared.space.levels, "labels": prepared.space.labels}
        if recipe.task == "multitask" else None,
        "distill": distill.info if distill else None,
        "recipe": recipe_to_store(recipe, folder.final),
        "data": {"files": {k: Path(v).name for k, v in prepared.files.items()}, **summarize(prepared),
                 "text_column": recipe.data.text_column, "label_columns": prepared.space.levels},
        "metrics": metrics,
        "baseline": baseline,
        "cost": cost,
        "history": [h for h in trainer.state.log_history if "train_runtime" not in h],
        "versions": versions(),
    }
    if threshold:
        manifest["head"]["threshold"] = threshold
    manifest["monitor"] = write_reference_profile(run_dir, expert, prepared, t.eval_batch_size)  # drift reference
    write_manifest(run_dir, {k: v for k, v in manifest.items() if v is not None})
    write_report(run_dir, manifest)
    write_model_card(run_dir, manifest)
    if not t.keep_checkpoints:
        shutil.rmtree(run_dir / CHECKPOINTS, ignore_errors=True)
    return folder.finish()


def _evaluate(expert: ExpertModel, split, recipe: Recipe, cost: dict) -> dict:
    """Task metrics on a split; fills `cost` with inference latency percentiles and throughput."""
    timings: list[float] = []
    start = time.perf_counter()
    pred, _ = expert.predict_arrays(split.texts, recipe.training.eval_batch_size, timings)
    seconds = time.perf_counter() - start
    cost.update({"inference_batch_size": recipe.training.eval_batch_size,
                 "inference_latency_ms_p50": round(float(np.percentile(timings, 50)) * 1000, 2),
                 "inference_latency_ms_p95": round(float(np.percentile(timings, 95)) * 1000, 2),
                 "inference_samples_per_second": round(len(split.texts) / seconds, 2)})
    return TASKS.get(recipe.task).metrics.compute(split.labels, pred, expert.space)


def _evaluate_noisy(expert: ExpertModel, split, recipe: Recipe) -> dict:
    """Metrics on a noisy copy of a split (`evaluation.noise`: typos in English, similar characters in Chinese)."""
    noise = recipe.evaluation.noise
    say(f"evaluating on the test split with {noise.rate:.0%} character noise")
    texts = add_noise(split.texts, noise.rate, noise.seed, recipe.language)
    result = _evaluate(expert, dataclasses.replace(split, texts=texts), recipe, {})
    changed = sum(a != b for a, b in zip(split.texts, texts)) / max(1, len(texts))
    result["noise"] = {"rate": noise.rate, "seed": noise.seed, "texts_changed": round(changed, 4)}
    return result
