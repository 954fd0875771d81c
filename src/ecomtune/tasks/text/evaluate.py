"""Task metrics of a text run on a labelled file (same columns as its recipe), or on its recipe's test split."""
from __future__ import annotations

from pathlib import Path

from ecomtune.recipes.loader import recipe_of_run
from ecomtune.registry import task
from ecomtune.rundir import read_manifest
from ecomtune.tasks.text.predict import ExpertModel
from ecomtune.tasks.text.slices import labelled_rows, text_slices


def evaluate(run_dir: str | Path, data: str | Path | None = None, device: str = "auto", batch_size: int = 64,
             noise: float | None = None, noise_seed: int = 42, precision: str | None = None,
             model: ExpertModel | None = None) -> dict:
    """Metrics of the run (`model`, if already loaded) on `data` or its test split. `noise` (e.g. 0.1) perturbs that
    fraction of characters first (typos / similar Chinese characters). `slices`: the metrics per slice."""
    manifest = read_manifest(run_dir)
    # The run's own precision by default, so the numbers reproduce the manifest's.
    model = model or ExpertModel.load(run_dir, device=device,
                                      precision=precision or manifest["cost"].get("precision", "auto"))
    recipe = recipe_of_run(run_dir, manifest, need_data=data is None)
    texts, raw, unknown, columns = labelled_rows(recipe, model.space, data)
    if noise is not None:
        from ecomtune.data.noise import add_noise

        texts = add_noise(texts, noise, noise_seed, recipe.language)
    pred, _ = model.predict_arrays(texts, batch_size, progress=True)
    true = model.space.encode(raw)
    metrics = task(model.task).module("metrics").compute(true, pred, model.space)
    metrics["slices"] = text_slices(recipe, texts, true, pred, model.space, columns)  # reports/slices.py
    if noise is not None:
        metrics["noise"] = {"rate": noise, "seed": noise_seed}
    metrics["rows"] = len(texts)
    metrics["rows_with_unknown_labels"] = unknown
    return metrics
