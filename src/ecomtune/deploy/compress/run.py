"""Compress one run directory: check → load fp32 (adapter merged) → method → new run dir → measure both → report.

The new directory is written under a temporary name and renamed at the end, so a crash never leaves a
half-written run directory that looks finished.
"""
from __future__ import annotations

import random
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from ecomtune.console import console
from ecomtune.errors import RecipeError, RunDirError
from ecomtune.recipes import Recipe
from ecomtune.recipes.loader import recipe_of_run, recipe_to_store
from ecomtune.registry import task as get_task
from ecomtune.registry import tasks
from ecomtune.rundir import (
    MANIFEST,
    MARKER,
    check_replaceable,
    dir_size_mb,
    read_manifest,
    replacement,
    write_config,
    write_manifest,
)
from ecomtune.tasks.text.predict import ExpertModel
from ecomtune.tasks.text.runtimes import runtime_name
from ecomtune.tasks.text.weights import LABELS

SKIP = ("model", "checkpoints", "compress.json", "compress.md", MANIFEST, MARKER)
LATENCY_ROWS = 100  # single-text requests timed for the latency percentiles


def say(message: str) -> None:
    console.print(f"[dim]compress[/] {message}")


def _check_source(run_dir: Path, manifest: dict, method: str) -> None:
    runtime = runtime_name(manifest)
    if runtime != "torch":
        raise RunDirError(f"{run_dir}: already compressed ({runtime}) — compress the original run directory instead"
                          f" (`{(manifest.get('compression') or {}).get('source', 'the source run')}`)")
    adapter = manifest.get("adapter") or {}
    if adapter and not adapter.get("merged"):
        from ecomtune.methods.adapters import check_mergeable

        check_mergeable(adapter["method"])


def _load_fp32(run_dir: Path, manifest: dict) -> ExpertModel:
    expert = ExpertModel.load(run_dir, device="cpu", precision="fp32")
    adapter = manifest.get("adapter") or {}
    if adapter and not adapter.get("merged"):
        from ecomtune.methods.adapters import merge_adapter

        expert.model.backbone = merge_adapter(expert.model.backbone, adapter["method"])
    return expert


def _test_set(expert: ExpertModel, recipe: Recipe, data: Path | None, rows: int | None):
    """Texts and encoded labels to measure on: a labelled file, or the run's own test split."""
    from ecomtune.data.prepare import known_labelled

    texts, raw, _ = known_labelled(recipe, expert.space, data)
    return texts[:rows], expert.space.encode(raw[:rows])


def measure(expert: ExpertModel, texts: list[str], truth: np.ndarray, batch_size: int = 32) -> dict:
    """Quality, batched throughput (length-sorted batches) and one-text-at-a-time latency on the same texts."""
    expert.predict_arrays(texts[:batch_size], batch_size)  # warm-up: lazy init, kernel selection
    start = time.perf_counter()
    pred, _ = expert.predict_arrays(texts, batch_size)
    seconds = time.perf_counter() - start
    single: list[float] = []
    for text in texts[:LATENCY_ROWS]:
        expert.predict_arrays([text], 1, single)
    metrics = get_task(expert.task).module("metrics").compute(truth, pred, expert.space)
    return {"metrics": {k: metrics[k] for k in ("accuracy", "macro_f1") if k in metrics} or metrics,
            "texts_per_second": round(len(texts) / seconds, 2), "batch_size": batch_size,
            "latency_ms_p50": round(float(np.percentile(single, 50)) * 1000, 2),
            "latency_ms_p95": round(float(np.percentile(single, 95)) * 1000, 2),
            "rows": len(texts), "predictions": pred}


def _context(expert: ExpertModel, recipe: Recipe, manifest: dict, source: Path, options: dict, texts: list[str]):
    """What methods may use: real sample batches, labelled validation batches, training batches."""
    from ecomtune.data.prepare import prepare_data

    prepared: dict = {}

    def data():
        if "data" not in prepared:
            prepared["data"] = prepare_data(recipe)
        return prepared["data"]

    def labelled(split, batch_size: int, limit: int | None, shuffle: bool):
        order = list(range(len(split.texts)))
        if shuffle:
            random.Random(recipe.training.seed).shuffle(order)
        order = order[:limit] if limit else order
        texts_ = [split.texts[i] for i in order]
        labels = torch.as_tensor(split.labels[order], dtype=torch.long)
        return [(ids, mask, labels[idx]) for idx, ids, mask in expert._batches(texts_, batch_size)]

    sample = [(ids, mask) for _, ids, mask in expert._batches(texts[:64], 16)]
    rows = options.get("importance_rows") or 512
    return SimpleNamespace(
        options=options, manifest=manifest, source=source, say=say, sample_batches=sample,
        labelled_batches=lambda: labelled(data().validation, 32, rows, False),
        train_batches=lambda: labelled(data().train, 16, None, True))


def _copy_run(source: Path, target: Path) -> None:
    for item in source.iterdir():
        if item.name in SKIP or item.name.endswith(".tmp"):
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, target / item.name)
    (target / "model").mkdir()
    if (source / "model" / LABELS).is_file():
        shutil.copy2(source / "model" / LABELS, target / "model" / LABELS)


def compress(run_dir: str | Path, method: str, out: str | Path | None = None, overwrite: bool = False,
             data: str | Path | None = None, rows: int | None = None, **options) -> Path:
    """Write a compressed copy of `run_dir` (method: int8 | onnx | onnx-int8 | prune) and measure it against the
    original on the same test texts; returns the new run directory (its compress.json/.md hold the comparison)."""
    from ecomtune.deploy.compress.registry import COMPRESSORS
    from ecomtune.deploy.compress.report import write_report

    source = Path(run_dir)
    manifest = read_manifest(source)
    own = _task_compressor(manifest)
    if own is not None:  # e.g. image runs: their own methods, this module's report
        return own(source, method, out, overwrite=overwrite, data=data, rows=rows, write_report=write_report,
                   **options)
    compressor = COMPRESSORS.get(method)
    _check_source(source, manifest, method)
    options = {k: v for k, v in options.items() if v is not None}
    wrong = [k for k in options if k not in compressor.OPTIONS]
    if wrong:
        takes = ", ".join(f"--{k.replace('_', '-')}" for k in compressor.OPTIONS) or "no options"
        raise RecipeError(f"`--{wrong[0].replace('_', '-')}` does not apply to `{method}` (it takes: {takes})")
    compressor.check(options)
    target = Path(out) if out else source.with_name(f"{source.name}-{method}")
    check_replaceable(target, overwrite, "pass --overwrite to replace it, or --out another folder")
    recipe = recipe_of_run(source, manifest)

    say(f"loading {source} (fp32)")
    expert = _load_fp32(source, manifest)
    texts, truth = _test_set(expert, recipe, Path(data) if data else None, rows)
    say(f"measuring the original on {len(texts)} test texts")
    before = {"torch fp32": measure(expert, texts, truth)}
    default_precision = manifest.get("cost", {}).get("precision")
    if default_precision and default_precision != "fp32":
        expert.precision = default_precision
        before[f"torch {default_precision}"] = measure(expert, texts, truth)
        expert.precision = "fp32"

    folder = replacement(target, overwrite, "pass --overwrite to replace it, or --out another folder")
    tmp = folder.path
    _copy_run(source, tmp)
    expert.tokenizer.save_pretrained(tmp / "model")
    context = _context(expert, recipe, manifest, source, options, texts)
    with torch.no_grad() if method != "prune" else torch.enable_grad():
        updates = compressor.run(expert.model, tmp / "model", context)

    new_manifest = _updated_manifest(manifest, updates, method, source, options)
    new_manifest["recipe"] = recipe_to_store(recipe, target)
    write_config(tmp, new_manifest["recipe"])
    write_manifest(tmp, new_manifest)
    say("measuring the compressed copy")
    compressed = ExpertModel.load(tmp, device="cpu", precision="fp32")
    after = measure(compressed, texts, truth)
    result = _result(before, after, new_manifest, method, compressor.DESCRIPTION, source, tmp, data, rows)
    new_manifest["compression"]["result"] = {k: v for k, v in result.items() if k != "rows_table"}
    new_manifest["cost"].update({"model_size_mb": result["after"]["size_mb"],
                                 "inference_samples_per_second": after["texts_per_second"],
                                 "inference_latency_ms_p50": after["latency_ms_p50"],
                                 "inference_latency_ms_p95": after["latency_ms_p95"],
                                 "inference_batch_size": after["batch_size"], "precision": "fp32"})
    if data is None and rows is None:
        new_manifest["metrics"]["test"] = get_task(compressed.task).module("metrics").compute(
            truth, after["predictions"], compressed.space)
    write_manifest(tmp, new_manifest)
    write_report(tmp, result)
    folder.finish()
    say(f"wrote {target}")
    return target


def _task_compressor(manifest: dict):
    """The run's task's own compressor (`Task.compress`), or None for the text compressor below."""
    name = manifest.get("task")
    spec = tasks().get(name) if name in tasks() else None
    return spec.part("compress") if spec is not None and spec.compress else None


def _updated_manifest(manifest: dict, updates: dict, method: str, source: Path, options: dict) -> dict:
    new = {**manifest, "backbone": {**manifest["backbone"], **updates.get("backbone", {})},
           "cost": dict(manifest.get("cost", {})), "metrics": dict(manifest.get("metrics", {}))}
    if updates.get("runtime"):
        new["runtime"] = updates["runtime"]
    if manifest.get("adapter"):
        new["adapter"] = {**manifest["adapter"], "merged": True}
    new["compression"] = {"method": method, "source": source.name, "source_name": manifest.get("name"),
                          "options": {k: v for k, v in options.items() if v is not None}}
    if updates.get("pruning"):
        new["compression"]["pruning"] = updates["pruning"]
    new["name"] = f"{manifest.get('name', source.name)}-{method}"
    new["compression"]["source_created"] = manifest.get("created")
    new["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())  # a new artifact: `serve` versions by it
    new["source_metrics"] = manifest.get("metrics", {})
    return new


def _result(before: dict, after: dict, manifest: dict, method: str, description: str, source: Path, target: Path,
            data, rows) -> dict:
    base = before["torch fp32"]
    size_before, size_after = dir_size_mb(source / "model"), dir_size_mb(target / "model")
    agreement = float((after["predictions"] == base["predictions"]).all(axis=1).mean())

    def row(m: dict, size: float) -> dict:
        return {"metrics": m["metrics"], "texts_per_second": m["texts_per_second"],
                "latency_ms_p50": m["latency_ms_p50"], "latency_ms_p95": m["latency_ms_p95"], "size_mb": round(size, 2)}

    main = "accuracy" if "accuracy" in base["metrics"] else next(iter(base["metrics"]))
    return {
        "method": method, "description": description, "source": str(source), "rows": base["rows"],
        "data": str(data) if data else "test split", "rows_limit": rows, "batch_size": base["batch_size"],
        "threads": torch.get_num_threads(), "runtime": manifest.get("runtime", {"name": "torch"}),
        "before": {name: row(m, size_before) for name, m in before.items()},
        "after": row(after, size_after),
        "agreement_with_fp32": round(agreement, 4),
        "quality_metric": main,
        "quality_change_points": round((after["metrics"][main] - base["metrics"][main]) * 100, 2),
        "speedup_vs_fp32": round(after["texts_per_second"] / base["texts_per_second"], 2),
        "size_ratio": round(size_after / size_before, 4) if size_before else None,
    }
