"""The image-classification recipe, in the text recipe's shape: `setup` (check the images, open the run folder,
build the model) -> `fit` (the shared EcomTrainer: checkpoints, `--resume`, early stopping, the methods) ->
`evaluate` (test metrics, cost, the frozen-feature baseline) -> `save` (weights, manifest, report, model card).

    run/
      manifest.json        task "image-classify", recipe, data summary, metrics, baseline, cost, history
      model/               weights.safetensors, backbone.json, preprocess.json, labels.json (see weights.py)
      report.html, plots/  confusion matrix, per-class F1, learning curves, confident mistakes, Grad-CAM
      README.md            the model card
      checkpoints/         only while training (kept after a crash: `ecomtune train RECIPE --resume`)
"""
from __future__ import annotations

import dataclasses
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from transformers import EarlyStoppingCallback, set_seed
from transformers.trainer_callback import PrinterCallback, ProgressCallback
from transformers.utils import logging as hf_logging

from ecomtune.console import say
from ecomtune.errors import RecipeError, RunDirError
from ecomtune.methods.adapters import apply_adapter
from ecomtune.methods.freeze import apply_freeze
from ecomtune.methods.layers import set_trainable
from ecomtune.methods.losses import recipe_loss
from ecomtune.methods.unfreeze import GradualUnfreeze
from ecomtune.recipes.loader import recipe_to_store
from ecomtune.reports import write_model_card, write_report
from ecomtune.reports.slices import SLICES_FILE, write_slices
from ecomtune.rundir import (
    Manifest,
    RunFolder,
    dir_size_mb,
    open_recipe_run,
    read_manifest,
    write_manifest,
)
from ecomtune.tasks.image_classify.backbones import build_backbone, preprocess_for
from ecomtune.tasks.image_classify.baseline import run_baseline
from ecomtune.tasks.image_classify.data import (
    ImageSplit,
    PreparedImages,
    prepare_images,
    summarize,
)
from ecomtune.tasks.image_classify.images import Preprocess, eval_tensor, train_tensor
from ecomtune.tasks.image_classify.network import ImageClassifier
from ecomtune.tasks.image_classify.predict import ImageModel, metrics_module
from ecomtune.tasks.image_classify.recipe import ImageRecipe
from ecomtune.tasks.image_classify.slices import check_columns, image_slices
from ecomtune.tasks.image_classify.weights import save_network
from ecomtune.tasks.taxonomy.model import decode
from ecomtune.training.callbacks import CostMeter, RichProgress, last_checkpoint
from ecomtune.training import distributed
from ecomtune.training.device import resolve_device, resolve_precision
from ecomtune.training.trainer import EcomTrainer, training_arguments

CHECKPOINTS = "checkpoints"
LATENCY_IMAGES = 50  # single-image predictions timed for the latency percentiles


class ImageSet(Dataset):
    """Decodes on the fly: training items are augmented (`aug`), evaluation items centre-cropped."""

    def __init__(self, split: ImageSplit, pre: Preprocess, aug=None, seed: int = 42, soft: np.ndarray | None = None):
        self.split, self.pre, self.aug, self.soft = split, pre, aug, soft
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> dict:
        path = self.split.paths[i]
        pixels = train_tensor(path, self.pre, self.aug, self.rng) if self.aug else eval_tensor(path, self.pre)
        item = {"pixel_values": pixels, "labels": self.split.labels[i]}
        if self.soft is not None:
            item["soft"] = self.soft[i]
        return item


def collate(features: list[dict]) -> dict:
    batch = {"pixel_values": torch.stack([f["pixel_values"] for f in features]),
             "labels": torch.as_tensor(np.stack([f["labels"] for f in features]), dtype=torch.long)}
    if "soft" in features[0]:
        batch["soft"] = torch.as_tensor(np.stack([f["soft"] for f in features]), dtype=torch.float32)
    return batch


@dataclasses.dataclass
class Run:
    recipe: ImageRecipe
    prepared: PreparedImages
    folder: RunFolder
    device: torch.device
    precision: str
    model: ImageClassifier
    backbone: dict  # how to rebuild it (weights.py)
    pre: Preprocess
    soft: np.ndarray | None = None  # the teacher's probabilities on the training images (distillation)
    teacher: dict | None = None
    trainer: EcomTrainer | None = None
    meter: CostMeter | None = None


def _recipe(recipe) -> ImageRecipe:
    if isinstance(recipe, ImageRecipe):
        return recipe
    from ecomtune.recipes.loader import load_recipe

    return load_recipe(recipe)


def train(recipe, resume: bool = False) -> Path:
    """Train an image recipe end to end and return its run directory."""
    run = setup(_recipe(recipe), resume)
    fit(run, resume)
    distributed.finish()
    if not distributed.is_main():  # `--nproc N`: rank 0 evaluates and writes the run
        return run.folder.final
    return save(run, evaluate(run))


def setup(recipe: ImageRecipe, resume: bool) -> Run:
    t = recipe.training
    if t.gradual_unfreeze and distributed.distributed():
        raise RecipeError("`training.gradual_unfreeze` changes which weights train during the run, which DDP cannot "
                          "follow — train it in one process (without --nproc)")
    if t.gradual_unfreeze and t.epochs < 2:
        raise RecipeError("`training.gradual_unfreeze` needs `training.epochs` >= 2 (it unfreezes per epoch)")
    if t.distill and (t.augment.mixup or t.augment.cutmix):
        raise RecipeError("`training.distill` and `training.augment.mixup/cutmix` do not combine (the teacher's soft "
                          "labels belong to unmixed images) — set mixup and cutmix to 0")
    hf_logging.disable_progress_bar()
    set_seed(t.seed)
    say("checking images")
    prepared = prepare_images(recipe)
    check_columns(recipe)  # `evaluation.slices` names columns of the tables
    for note in prepared.notes:
        say(f"  note: {note}")
    say(f"  {len(prepared.train)} train / {len(prepared.validation)} validation / {len(prepared.test)} test images")
    if t.early_stopping and not len(prepared.validation):
        raise RecipeError("`training.early_stopping` needs validation images — set `data.validation_fraction` > 0")
    teacher = _check_teacher(recipe, prepared) if t.distill else None
    pre = preprocess_for(recipe.model.backbone, recipe.model.image_size)
    device = resolve_device(t.device)
    precision = resolve_precision(t.precision, device)
    distributed.init(device)
    distributed.per_process_batch(t.batch_size)  # the global batch must split evenly over the processes
    say(f"loading backbone {recipe.model.backbone} ({device.type}, {precision}, {pre.size} px)")
    model, described = build_model(recipe, prepared)
    folder = distributed.on_main(lambda: open_recipe_run(recipe, resume))
    soft = None
    if teacher:
        say(f"labelling the training images with the teacher {t.distill.teacher}")
        teacher_model = ImageModel.load(t.distill.teacher, device="cpu")
        _, probs = teacher_model.predict_arrays(prepared.train.paths, t.eval_batch_size)
        soft = np.concatenate([softened(p, t.distill.temperature) for p in probs], axis=1)
    return Run(recipe, prepared, folder, device, precision, model, described, pre, soft, teacher)


def softened(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities at temperature T from probabilities at T = 1."""
    logits = np.log(np.clip(probs, 1e-12, 1)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def _check_teacher(recipe: ImageRecipe, prepared: PreparedImages) -> dict:
    path = Path(recipe.training.distill.teacher)
    try:
        manifest = read_manifest(path)
    except RunDirError as exc:
        raise RecipeError(f"`training.distill.teacher`: {exc}") from None
    if manifest.get("task") != recipe.task:
        raise RecipeError(f"`training.distill.teacher` ({path}) is a {manifest.get('task')} run — give an "
                          "image-classify run trained on the same labels")
    if manifest.get("extra", {}).get("label_space", manifest.get("label_space")) != prepared.space.to_dict():
        raise RecipeError(f"`training.distill.teacher` ({path}) was trained on other labels than this recipe's — its "
                          "heads would not mean the same thing; train the teacher on the same data")
    d = recipe.training.distill  # the text task's record (`reports.distill` draws it): teacher, rows, retention
    return {"teacher": {"run_dir": str(path), "name": manifest.get("name"),
                        "backbone": (manifest.get("backbone") or {}).get("name"),
                        "total_params": (manifest.get("cost") or {}).get("total_params")},
            "temperature": d.temperature, "alpha": d.alpha, "rows": {"labeled": len(prepared.train), "unlabeled": 0}}


def build_model(recipe: ImageRecipe, prepared: PreparedImages) -> tuple[ImageClassifier, dict]:
    """Backbone (+ LoRA) + heads with the recipe's freezing applied."""
    t, m = recipe.training, recipe.model
    loss_fn = recipe_loss(t, prepared.space, prepared.train.labels)
    backbone, described = build_backbone(m.backbone)
    if m.adapter:
        backbone.model = apply_adapter(backbone.model, m.adapter, m.backbone)
    model = ImageClassifier(backbone, prepared.space.sizes, m.dropout, t.label_smoothing, loss_fn,
                            mix=t.augment if (t.augment.mixup or t.augment.cutmix) else None, seed=t.seed)
    if t.freeze_layers:
        set_trainable(backbone.embeddings, False)  # the stem sits below the bottom block
        apply_freeze(backbone, False, t.freeze_layers)
    if t.linear_probe:
        set_trainable(backbone, False)
    if t.gradient_checkpointing:
        target = getattr(backbone, "model", backbone)  # the transformers model, or LiteBackbone itself
        if not getattr(target, "supports_gradient_checkpointing", False):
            raise RecipeError(f"`training.gradient_checkpointing`: {m.backbone} does not support it — set it to "
                              "false")
        target.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model, described


def fit(run: Run, resume: bool) -> None:
    recipe, t, prepared = run.recipe, run.recipe.training, run.prepared
    train_set = ImageSet(prepared.train, run.pre, t.augment, t.seed, soft=run.soft)
    has_validation = len(prepared.validation) > 0
    val_set = ImageSet(prepared.validation, run.pre) if has_validation else None
    run.meter = CostMeter(run.device)
    callbacks = [run.meter, RichProgress()]
    if t.gradual_unfreeze:
        callbacks.append(GradualUnfreeze(run.model.backbone, t.epochs))
    if t.early_stopping:
        callbacks.append(EarlyStoppingCallback(t.early_stopping.patience, t.early_stopping.min_delta))
    checkpoints = run.folder.path / CHECKPOINTS
    args = training_arguments(recipe, str(checkpoints), run.device, run.precision, has_validation, len(train_set))
    run.trainer = EcomTrainer(model=run.model, args=args, train_dataset=train_set, eval_dataset=val_set,
                              data_collator=collate,
                              compute_metrics=_metrics_fn(prepared.space) if has_validation else None,
                              callbacks=callbacks, recipe=recipe)
    for noisy in (ProgressCallback, PrinterCallback):
        run.trainer.remove_callback(noisy)
    say("training")
    run.trainer.train(resume_from_checkpoint=last_checkpoint(checkpoints) if resume else None)


def _metrics_fn(space):
    metrics = metrics_module(space)

    def compute(eval_pred) -> dict:
        logits = eval_pred.predictions
        logits = tuple(torch.as_tensor(x) for x in (logits if isinstance(logits, tuple) else (logits,)))
        pred, _ = decode(logits, space)
        return metrics.headline(metrics.compute(eval_pred.label_ids, pred.numpy(), space))

    return compute


def measure(model: ImageModel, split: ImageSplit, batch_size: int, cost: dict) -> dict:
    """Metrics on a split; `cost` gets batched throughput (decoding included) and single-image latency."""
    start = time.perf_counter()
    pred, probs = model.predict_arrays(split.paths, batch_size)
    seconds = time.perf_counter() - start
    single: list[float] = []
    for path in split.paths[:LATENCY_IMAGES]:
        t0 = time.perf_counter()
        model.predict_arrays([path], 1)
        single.append(time.perf_counter() - t0)
    cost.update({"inference_batch_size": batch_size,
                 "inference_samples_per_second": round(len(split) / seconds, 2),
                 "inference_latency_ms_p50": round(float(np.percentile(single, 50)) * 1000, 2) if single else None,
                 "inference_latency_ms_p95": round(float(np.percentile(single, 95)) * 1000, 2) if single else None})
    metrics = metrics_module(model.space).compute(split.labels, pred, model.space)
    return {"metrics": metrics, "pred": pred, "probs": probs}


def evaluate(run: Run) -> dict:
    recipe, prepared = run.recipe, run.prepared
    say("evaluating on the test split")
    model = ImageModel.from_network(run.model, run.pre, prepared.space, run.device)
    cost: dict = {}
    test = measure(model, prepared.test, recipe.training.eval_batch_size, cost)
    metrics = {"test": test["metrics"]}
    if len(prepared.validation):
        metrics["validation"] = measure(model, prepared.validation, recipe.training.eval_batch_size, {})["metrics"]
    if run.teacher:  # the report compares student and teacher scored and timed on the same test images
        teacher_cost: dict = {}
        teacher = ImageModel.load(run.teacher["teacher"]["run_dir"], device=run.device.type)
        headline = metrics_module(prepared.space).headline
        teacher_test = headline(measure(teacher, prepared.test, recipe.training.eval_batch_size,
                                        teacher_cost)["metrics"])
        student_test = headline(metrics["test"])
        run.teacher["teacher"].update(test=teacher_test, **{
            k: teacher_cost[k] for k in ("inference_samples_per_second", "inference_latency_ms_p50",
                                         "inference_latency_ms_p95")})
        run.teacher.update(student_test=student_test, retention={
            k: round(student_test[k] / v, 4) for k, v in teacher_test.items() if k in ("accuracy", "macro_f1") and v},
            speedup=round(cost["inference_samples_per_second"] / teacher_cost["inference_samples_per_second"], 2))
    baseline = None
    if recipe.evaluation.baseline:
        say("fitting the baseline: frozen backbone features + logistic regression")
        baseline = run_baseline(prepared, recipe)
    slices = image_slices(recipe, prepared.test.paths, prepared.test.labels, test["pred"], prepared.space,
                          metrics_module(prepared.space))
    return {"model": model, "metrics": metrics, "cost": cost, "baseline": baseline, "test": test, "slices": slices}


def save(run: Run, result: dict) -> Path:
    from ecomtune.tasks.image_classify.report import image_sections

    recipe, prepared, model, trainer, run_dir = run.recipe, run.prepared, run.model, run.trainer, run.folder.path
    trainable = int(sum(p.numel() for g in trainer.optimizer.param_groups for p in g["params"]))
    if recipe.model.adapter:
        model.backbone.model = model.backbone.model.merge_and_unload()
    save_network(run_dir / "model", model, run.backbone, run.pre, prepared.space)
    cost = {**result["cost"], **run.meter.summary(), "trainable_params": trainable,
            "total_params": int(sum(p.numel() for p in model.parameters())),
            "model_size_mb": round(dir_size_mb(run_dir / "model"), 1), "device": run.device.type,
            "precision": run.precision, "epochs": round(float(trainer.state.epoch or 0), 2),
            "steps": int(trainer.state.global_step), "image_size": run.pre.size}
    extra = {"label_space": prepared.space.to_dict(), "preprocess": run.pre.to_dict(),
             "adapter": {**recipe.model.adapter.model_dump(mode="json"), "merged": True} if recipe.model.adapter
             else None, "distill": run.teacher,
             **({"taxonomy": {"levels": prepared.space.levels, "labels": prepared.space.labels,
                              "n_paths": len(prepared.space.paths)}} if prepared.space.depth > 1
                else {"labels": prepared.space.labels[0]})}
    manifest = Manifest(
        name=recipe.name, task=recipe.task, language=recipe.language, description=recipe.description,
        backbone={"name": recipe.model.backbone, "hf_id": recipe.model.backbone, "kind": run.backbone["kind"]},
        recipe=recipe_to_store(recipe, run.folder.final),
        data={"files": {k: Path(v).name for k, v in prepared.files.items()}, **summarize(prepared),
              "image_column": recipe.data.image_column, "label_columns": prepared.space.levels},
        metrics=result["metrics"], baseline=result["baseline"], cost=cost,
        history=[h for h in trainer.state.log_history if "train_runtime" not in h],
        extra={k: v for k, v in extra.items() if v is not None}).to_dict()
    sections = image_sections(run_dir, result["model"], prepared, result["test"], recipe.evaluation)
    if result["slices"]:  # by the recipe's `evaluation.slices` columns
        write_slices(run_dir / SLICES_FILE, result["slices"])
    write_manifest(run_dir, manifest)
    write_report(run_dir, manifest, extra=sections)
    write_model_card(run_dir, manifest, usage=USAGE, pipeline_tag="image-classification")
    if not recipe.training.keep_checkpoints:
        shutil.rmtree(run_dir / CHECKPOINTS, ignore_errors=True)
    return run.folder.finish()


USAGE = """```bash
ecomtune predict RUN_DIR --input photos/ --output predictions.csv   # a folder or a table of image paths
ecomtune serve RUN_DIR                                              # POST /v1/image: multipart files or base64
```

```python
from ecomtune import load

model = load("RUN_DIR")
model.predict(["photo.jpg"])  # paths, bytes or PIL images
```"""
