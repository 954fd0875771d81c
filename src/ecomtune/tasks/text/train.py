"""The text-classification recipe (classify, taxonomy, multitask), in torchtune's shape: `setup` (check the data,
open the run folder, build the model) -> `fit` (the Trainer) -> `evaluate` (test metrics, threshold, baseline,
teacher) -> `save` (weights, manifest, report, model card). `train` runs the four in order."""
from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer, EarlyStoppingCallback, set_seed
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from transformers.utils import logging as hf_logging

from ecomtune.backbones import resolve_backbone
from ecomtune.console import say
from ecomtune.data.augment import augment_training
from ecomtune.data.noise import add_noise
from ecomtune.data.prepare import PreparedData, prepare_data, summarize
from ecomtune.errors import RecipeError
from ecomtune.methods.adapters import adapter_callbacks, apply_adapter
from ecomtune.methods.freeze import apply_freeze
from ecomtune.methods.layers import set_trainable
from ecomtune.methods.losses import recipe_loss
from ecomtune.methods.threshold import check_threshold, tune_threshold
from ecomtune.methods.truncate import check_keep_layers, truncate_layers
from ecomtune.methods.unfreeze import GradualUnfreeze
from ecomtune.recipes.loader import recipe_to_store
from ecomtune.recipes.schema import Recipe
from ecomtune.registry import task as get_task
from ecomtune.reports import write_model_card, write_report
from ecomtune.reports.slices import SLICES_FILE, write_slices
from ecomtune.rundir import Manifest, RunFolder, dir_size_mb, open_recipe_run, write_manifest
from ecomtune.tasks.text.baseline import run_baseline, warn_single_class
from ecomtune.tasks.text.distill import DistillSet, check_teacher, prepare_distill, teacher_report
from ecomtune.tasks.text.explain import mistake_sections
from ecomtune.tasks.text.fewshot import few_shot_fit
from ecomtune.tasks.text.network import TextClassifier
from ecomtune.tasks.text.predict import ExpertModel
from ecomtune.tasks.text.profile import write_reference_profile
from ecomtune.tasks.text.slices import check_columns, split_slices
from ecomtune.tasks.text.weights import save_model
from ecomtune.training import distributed
from ecomtune.training.callbacks import CostMeter, EvaluationReporter, RichProgress, last_checkpoint
from ecomtune.training.device import resolve_device, resolve_precision
from ecomtune.training.trainer import EcomTrainer, PadCollator, TokenizedSplit, training_arguments

CHECKPOINTS = "checkpoints"


@dataclasses.dataclass
class Run:
    """What `setup` builds and the later steps use."""

    recipe: Recipe
    prepared: PreparedData
    folder: RunFolder
    device: torch.device
    precision: str
    model: TextClassifier
    tokenizer: object
    resolved: object
    distill: DistillSet | None
    trainer: EcomTrainer | None = None
    meter: CostMeter | None = None


def check(recipe: Recipe) -> dict:
    """Every check that precedes loading weights (`ecomtune data check`); the data summary with the task."""
    prepared = prepare_data(recipe)
    check_threshold(recipe, prepared)
    check_columns(recipe, prepared.test)
    summary = summarize(prepared)
    rows, chars = summary["rows"], summary["text_chars"]
    said = [f"{rows['train']} train / {rows['validation']} validation / {rows['test']} test rows   (sha256 "
            f"{summary['sha256'][:12]})",
            f"text length (characters): p5 {chars['p5']:.0f}, median {chars['p50']:.0f}, p95 {chars['p95']:.0f}, "
            f"p99 {chars['p99']:.0f}, max {chars['max']}"]
    return {"task": recipe.task, **summary, "said": said}


def train(recipe: Recipe, resume: bool = False) -> Path:
    """Train a recipe end to end and return its run directory. Under `ecomtune train --nproc N` every process
    trains its share of each batch; only rank 0 evaluates and writes the run (training.distributed)."""
    run = setup(recipe, resume)
    fit(run, resume)
    distributed.finish()
    if not distributed.is_main():
        return run.folder.final
    return save(run, evaluate(run))


def setup(recipe: Recipe, resume: bool) -> Run:
    """Check the recipe and data (before the run folder exists: bad input leaves nothing behind), open the run
    folder, label with the teacher (distillation) and build the model."""
    t = recipe.training
    if t.gradual_unfreeze and distributed.distributed():
        raise RecipeError("`training.gradual_unfreeze` changes which weights train during the run, which DDP cannot "
                          "follow — train it in one process (without --nproc)")
    if t.gradual_unfreeze and t.epochs < 2:
        raise RecipeError("`training.gradual_unfreeze` needs `training.epochs` >= 2 (it unfreezes per epoch)")
    teacher_manifest = check_teacher(recipe) if t.distill else None
    hf_logging.disable_progress_bar()  # weight-loading bars; our own progress bar covers training
    set_seed(t.seed)
    say("checking data")
    prepared = prepare_data(recipe)
    for note in prepared.notes:
        say(f"  note: {note}")
    if t.early_stopping and not len(prepared.validation):
        raise RecipeError("`training.early_stopping` needs validation rows — set `data.split.validation` > 0 or "
                          "give `data.validation`")
    say(f"  {len(prepared.train)} train / {len(prepared.validation)} validation / {len(prepared.test)} test rows")
    check_threshold(recipe, prepared)
    check_columns(recipe, prepared.test)  # `evaluation.slices` names columns of the data
    resolve_backbone(recipe.model.backbone)  # an unknown backbone fails before the run folder exists
    device = resolve_device(t.device)
    distributed.init(device)
    distributed.per_process_batch(t.batch_size)  # the global batch must split evenly over the processes
    folder = distributed.on_main(lambda: open_recipe_run(recipe, resume))
    if t.distill:
        say(f"labelling with the teacher {t.distill.teacher} (temperature {t.distill.temperature})")
    distill = prepare_distill(recipe, prepared, teacher_manifest, say) if t.distill else None
    precision = resolve_precision(t.precision, device)
    say(f"loading backbone {recipe.model.backbone} ({device.type}, {precision})")
    model, tokenizer, resolved = build_model(recipe, prepared)
    return Run(recipe, prepared, folder, device, precision, model, tokenizer, resolved, distill)


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
    if t.linear_probe:
        set_trainable(backbone, False)
    if t.gradient_checkpointing:
        if not getattr(backbone, "supports_gradient_checkpointing", False):
            raise RecipeError(f"`training.gradient_checkpointing`: {type(backbone).__name__} does not support it "
                              "— set it to false")
        backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model, tokenizer, resolved


def fit(run: Run, resume: bool) -> None:
    """Train with the shared engine (EcomTrainer): checkpoints in the run folder, `--resume` from the last one."""
    recipe, t, prepared, tokenizer = run.recipe, run.recipe.training, run.prepared, run.tokenizer
    if t.few_shot:  # SetFit-style pair training + logistic head instead of fine-tuning (tasks/text/fewshot.py)
        few_shot_fit(run)
        return
    train_split = augment_training(prepared, recipe, tokenizer, run.model)  # + edited copies with `data.augment`
    max_len, template, d = recipe.model.max_length, recipe.model.template, run.distill
    train_set = TokenizedSplit(d.texts, d.labels, tokenizer, max_len, template, soft=d.soft) if d \
        else TokenizedSplit(train_split.texts, train_split.labels, tokenizer, max_len, template)
    has_validation = len(prepared.validation) > 0
    val_set = TokenizedSplit(prepared.validation.texts, prepared.validation.labels, tokenizer, max_len, template) \
        if has_validation else None
    run.meter = CostMeter(run.device)
    callbacks = [run.meter, RichProgress(), *adapter_callbacks(recipe.model.adapter), EvaluationReporter()]
    if t.gradual_unfreeze:
        callbacks.append(GradualUnfreeze(run.model.backbone, t.epochs, unfreeze_embeddings=not t.freeze_embeddings))
    if t.early_stopping:
        callbacks.append(EarlyStoppingCallback(t.early_stopping.patience, t.early_stopping.min_delta))
    checkpoints = run.folder.path / CHECKPOINTS
    args = training_arguments(recipe, str(checkpoints), run.device, run.precision, has_validation, len(train_set),
                              wrap=getattr(run.model.backbone, "_no_split_modules", None))
    run.trainer = EcomTrainer(model=run.model, args=args, train_dataset=train_set, eval_dataset=val_set,
                              data_collator=PadCollator(tokenizer.pad_token_id),
                              compute_metrics=_metrics_fn(recipe.task, prepared.space) if has_validation else None,
                              callbacks=callbacks, recipe=recipe)
    for noisy in (ProgressCallback, PrinterCallback):  # replaced by RichProgress
        run.trainer.remove_callback(noisy)
    say("training")
    run.trainer.train(resume_from_checkpoint=last_checkpoint(checkpoints) if resume else None)


def evaluate(run: Run) -> dict:
    """Test (and validation, noisy, teacher) metrics, the tuned threshold, the baseline and the cost so far."""
    recipe, prepared = run.recipe, run.prepared
    say("evaluating on the test split")
    expert = ExpertModel.from_network(run.model, run.tokenizer, prepared.space, recipe.task,
                                      recipe.model.max_length, run.device, run.precision,
                                      template=recipe.model.template)
    threshold = tune_threshold(expert, prepared, recipe)  # `evaluation.threshold`, applied to every metric below
    cost: dict = {}
    predicted: dict = {}
    metrics = {"test": _evaluate(expert, prepared.test, recipe, cost, predicted)}
    slices = split_slices(recipe, prepared.test, predicted["pred"], prepared.space)  # metrics per slice
    warn_single_class(metrics["test"])  # a model that answers one label for every row learned nothing
    if recipe.evaluation.noise:
        metrics["test_noisy"] = _evaluate_noisy(expert, prepared.test, recipe)
    if run.distill:
        say("evaluating the teacher on the same test rows")
        teacher_report(run.distill, recipe, metrics["test"], cost,
                       lambda teacher, teacher_cost: _evaluate(teacher, prepared.test, recipe, teacher_cost))
    if len(prepared.validation):
        metrics["validation"] = _evaluate(expert, prepared.validation, recipe, {})
    baseline = None
    if recipe.evaluation.baseline:
        say("training the TF-IDF baseline")
        baseline = run_baseline(prepared, recipe.task, recipe.language, recipe.training.seed)
    return {"expert": expert, "threshold": threshold, "metrics": metrics, "cost": cost, "baseline": baseline,
            "slices": slices}


def save(run: Run, result: dict) -> Path:
    """Weights, the drift reference profile, manifest, report and model card; then the run folder is final."""
    recipe, prepared, model, trainer, run_dir = run.recipe, run.prepared, run.model, run.trainer, run.folder.path
    space, m = prepared.space, recipe.model
    save_model(run_dir, model, run.tokenizer, space)
    write_slices(run_dir / SLICES_FILE, result["slices"])  # before the manifest, which lists it
    cost = {**result["cost"], **run.meter.summary(), **distributed.cost(run.meter.summary()),
            "trainable_params": int(sum(p.numel() for g in trainer.optimizer.param_groups for p in g["params"])),
            "total_params": int(sum(p.numel() for p in model.parameters())),
            "model_size_mb": round(dir_size_mb(run_dir / "model"), 1), "device": run.device.type,
            "precision": run.precision, "epochs": round(float(trainer.state.epoch or 0), 2),
            "steps": int(trainer.state.global_step)}
    head = {"pooling": model.pooling, "max_length": m.max_length, "sizes": space.sizes, "template": m.template}
    if result["threshold"]:
        head["threshold"] = result["threshold"]
    extra = {"adapter": {**m.adapter.model_dump(mode="json"), "merged": False} if m.adapter else None,
             "head": head, "label_space": space.to_dict(), **get_task(recipe.task).module("model").manifest(space),
             "distill": run.distill.info if run.distill else None,
             "monitor": write_reference_profile(run_dir, result["expert"], prepared, recipe.training.eval_batch_size)}
    r = run.resolved
    manifest = Manifest(
        name=recipe.name, task=recipe.task, language=recipe.language, description=recipe.description,
        backbone={"name": r.name, "hf_id": r.spec.hf_id if r.spec else r.name, "kind": r.kind,
                  "pooling": model.pooling, "keep_layers": m.keep_layers},
        recipe=recipe_to_store(recipe, run.folder.final),
        data={"files": {k: Path(v).name for k, v in prepared.files.items()}, **summarize(prepared),
              "text_column": recipe.data.text_column, "label_columns": space.levels},
        metrics=result["metrics"], baseline=result["baseline"], cost=cost,
        history=[h for h in trainer.state.log_history if "train_runtime" not in h],
        extra={k: v for k, v in extra.items() if v is not None}).to_dict()
    write_manifest(run_dir, manifest)
    mistakes_html, mistakes_md = mistake_sections(result["expert"], prepared, recipe.evaluation.mistakes)
    write_report(run_dir, manifest, extra=[mistakes_html])
    write_model_card(run_dir, manifest, extra=[mistakes_md])
    if not recipe.training.keep_checkpoints:
        shutil.rmtree(run_dir / CHECKPOINTS, ignore_errors=True)
    return run.folder.finish()


def _metrics_fn(task: str, space):
    decode, metrics = get_task(task).module("model").decode, get_task(task).module("metrics")

    def compute(eval_pred) -> dict:
        logits = eval_pred.predictions
        logits = tuple(torch.as_tensor(x) for x in (logits if isinstance(logits, tuple) else (logits,)))
        pred, _ = decode(logits, space)
        return metrics.headline(metrics.compute(eval_pred.label_ids, pred.numpy(), space))

    return compute


def _evaluate(expert: ExpertModel, split, recipe: Recipe, cost: dict, predicted: dict | None = None) -> dict:
    """Task metrics on a split; fills `cost` with inference latency percentiles and throughput (and `predicted`,
    when given, with the predictions: `{"pred": [n, depth]}`)."""
    timings: list[float] = []
    start = time.perf_counter()
    pred, _ = expert.predict_arrays(split.texts, recipe.training.eval_batch_size, timings)
    seconds = time.perf_counter() - start
    if predicted is not None:
        predicted["pred"] = pred
    cost.update({"inference_batch_size": recipe.training.eval_batch_size,
                 "inference_latency_ms_p50": round(float(np.percentile(timings, 50)) * 1000, 2),
                 "inference_latency_ms_p95": round(float(np.percentile(timings, 95)) * 1000, 2),
                 "inference_samples_per_second": round(len(split.texts) / seconds, 2)})
    return get_task(recipe.task).module("metrics").compute(split.labels, pred, expert.space)


def _evaluate_noisy(expert: ExpertModel, split, recipe: Recipe) -> dict:
    """Metrics on a noisy copy of a split (`evaluation.noise`: typos in English, similar characters in Chinese)."""
    noise = recipe.evaluation.noise
    say(f"evaluating on the test split with {noise.rate:.0%} character noise")
    texts = add_noise(split.texts, noise.rate, noise.seed, recipe.language)
    result = _evaluate(expert, dataclasses.replace(split, texts=texts), recipe, {})
    changed = sum(a != b for a, b in zip(split.texts, texts)) / max(1, len(texts))
    result["noise"] = {"rate": noise.rate, "seed": noise.seed, "texts_changed": round(changed, 4)}
    return result
