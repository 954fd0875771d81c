"""The Python API: the same verbs as the CLI.

    >>> import ecomtune
    >>> run = ecomtune.train("demo")                       # a preset name or a recipe.yaml path
    >>> ecomtune.load(run).predict(["Love this dress!"])
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ecomtune.console import say
from ecomtune.data.prepare import known_labelled, prepare_data
from ecomtune.data.readers import read_table
from ecomtune.errors import DataError
from ecomtune.inference import ExpertModel
from ecomtune.inference import load as load_classifier
from ecomtune.recipes import Recipe, load_recipe
from ecomtune.recipes.loader import recipe_of_run
from ecomtune.rundir import read_manifest
from ecomtune.tasks.registry import TASKS


def _recipe(recipe: Recipe | str | Path | dict, overrides: list[str] | None = None) -> Recipe:
    from pydantic import BaseModel

    return recipe if isinstance(recipe, BaseModel) else load_recipe(recipe, overrides)


def train(recipe: Recipe | str | Path | dict, overrides: list[str] | None = None, resume: bool = False) -> Path:
    """Train a recipe (object, YAML path, preset name or dict) of any task; returns the run directory."""
    from ecomtune.families import family_part

    r = _recipe(recipe, overrides)
    return family_part(r.task, "train")(r, resume=resume)


def load(run_dir: str | Path, device: str = "auto", precision: str = "auto"):
    """Load any run directory: a classifier (`ExpertModel`), a `Recommender` or a `SearchEngine`."""
    from ecomtune.families import family_part, text_task

    task = read_manifest(run_dir)["task"]
    if text_task(task):
        return load_classifier(run_dir, device=device, precision=precision)
    return family_part(task, "load")(run_dir, device=device)


def check_data(recipe: Recipe | str | Path | dict, overrides: list[str] | None = None) -> dict:
    """Validate and summarise a recipe's data (any task) without training; a DataError/RecipeError on problems.

    The summary has `task`; rows, label balance and text lengths (text tasks), users, items and interactions
    (recommend) or products and queries (search); and `notes` on what the data preparation dropped or cut."""
    from ecomtune.families import family_part

    r = _recipe(recipe, overrides)
    return family_part(r.task, "check")(r)


def baseline(recipe: Recipe | str | Path | dict, overrides: list[str] | None = None) -> dict:
    """TF-IDF + logistic regression on the recipe's split; returns its test metrics."""
    from ecomtune.baseline import run_baseline

    r = _recipe(recipe, overrides)
    return run_baseline(prepare_data(r), r.task, r.language, r.training.seed)


def predict(run_dir: str | Path, texts: list[str], batch_size: int = 64, device: str = "auto") -> list[dict]:
    """Predictions with probabilities for a list of texts."""
    return load_classifier(run_dir, device=device).predict(texts, batch_size=batch_size)


def evaluate(run_dir: str | Path, data: str | Path | None = None, batch_size: int = 64,
             device: str = "auto", noise: float | None = None, noise_seed: int = 42,
             precision: str | None = None) -> dict:
    """Task metrics of a run (any task) on new data, or on its recipe's own test split.

    Classifiers score a labelled file with the recipe's columns; recommenders and search engines re-run their
    full-ranking evaluation (see their task modules).
    """
    from ecomtune.families import family_part, text_task

    task = read_manifest(run_dir)["task"]
    if not text_task(task):
        return family_part(task, "evaluate")(run_dir, data, device=device)
    return evaluate_classifier(run_dir, data, batch_size, device, noise, noise_seed, precision)


def evaluate_classifier(run_dir: str | Path, data: str | Path | None = None, batch_size: int = 64,
                        device: str = "auto", noise: float | None = None, noise_seed: int = 42,
                        precision: str | None = None) -> dict:
    """Task metrics of a classifier run on a labelled file (same columns as its recipe), or on its test split.

    `noise` (e.g. 0.1) perturbs that fraction of characters first (typos / similar Chinese characters).
    """
    manifest = read_manifest(run_dir)
    recipe = recipe_of_run(run_dir, manifest)
    # The run's own precision by default, so the numbers reproduce the manifest's.
    model = load_classifier(run_dir, device=device,
                            precision=precision or manifest["cost"].get("precision", "auto"))
    texts, raw, unknown = known_labelled(recipe, model.space, data)
    if noise is not None:
        from ecomtune.data.noise import add_noise

        texts = add_noise(texts, noise, noise_seed, recipe.language)
    pred, _ = model.predict_arrays(texts, batch_size)
    truth = model.space.encode(raw)
    metrics = TASKS.get(model.task).metrics.compute(truth, pred, model.space)
    if noise is not None:
        metrics["noise"] = {"rate": noise, "seed": noise_seed}
    metrics["rows"] = len(texts)
    metrics["rows_with_unknown_labels"] = unknown
    return metrics


def predict_file(run_dir: str | Path, input_path: str | Path, output_path: str | Path,
                 text_column: str | None = None, batch_size: int = 64, device: str = "auto",
                 progress: bool = False) -> pd.DataFrame:
    """Predict every row of a table and write it with `pred_label`, `pred_score` and one `prob_*` per label."""
    if Path(output_path).resolve() == Path(input_path).resolve():
        raise DataError(f"{output_path}: --output is the input file, which would be overwritten — write the "
                        "predictions to another file")
    model = load_classifier(run_dir, device=device)
    frame = read_table(input_path)
    columns = [text_column] if text_column else _text_columns(model)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{input_path}: missing text column '{missing[0]}' — columns present: "
                        f"{', '.join(frame.columns)}; pass --text-column")
    texts = frame[columns[0]].astype(str)
    for col in columns[1:]:
        texts = texts.str.cat(frame[col].astype(str), sep=" ")
    texts = texts.str.strip()
    empty = (texts == "").to_numpy()
    if empty.all():
        raise DataError(f"{input_path}: every text in column(s) {', '.join(columns)} is empty — nothing to predict; "
                        "check --text-column")
    if empty.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(empty)[:5])
        say(f"[yellow]note:[/] {int(empty.sum())} rows of {input_path} have an empty text (rows {rows}"
            f"{' …' if empty.sum() > 5 else ''}): their prediction columns are left empty")
    pred, probs = model.predict_arrays(texts[~empty].tolist(), batch_size, progress=progress)
    out = frame.copy()
    space = model.space

    def put(column: str, values) -> None:  # aligned on the index: rows with an empty text stay empty
        out[column] = pd.Series(list(values), index=out.index[~empty])

    if model.task == "multitask":  # independent heads: a label and a score column per head
        for level, head in enumerate(space.levels):
            put(f"pred_{head}", [space.labels[level][j] for j in pred[:, level].tolist()])
            put(f"score_{head}", probs[level][range(len(pred)), pred[:, level]])
        _write_table(out, Path(output_path))
        return out
    put("pred_label", [" > ".join(space.labels[i][j] for i, j in enumerate(row)) for row in pred.tolist()])
    score = 1.0
    for level, p in enumerate(probs):
        score = score * p[range(len(pred)), pred[:, level]]
    put("pred_score", score)
    if space.depth == 1:
        for j, name in enumerate(space.labels[0]):
            put(f"prob_{name}", probs[0][:, j])
    _write_table(out, Path(output_path))
    return out


def _text_columns(model: ExpertModel) -> list[str]:
    col = model.manifest.get("recipe", {}).get("data", {}).get("text_column", "text")
    return [col] if isinstance(col, str) else list(col)


def _write_table(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    elif name.endswith(".jsonl"):
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    elif name.endswith(".tsv"):
        frame.to_csv(path, sep="\t", index=False)
    else:
        frame.to_csv(path, index=False)


def export(run_dir: str | Path, out_dir: str | Path, merge: bool = False, overwrite: bool = False) -> Path:
    """A standalone copy of a run directory; `merge=True` folds a LoRA/AdaLoRA/IA3 adapter into the weights."""
    from ecomtune.standalone import export_run

    return export_run(run_dir, out_dir, merge=merge, overwrite=overwrite)


def compare(recipe: Recipe | str | Path | dict, methods: list[str], overrides: list[str] | None = None,
            out: str | Path | None = None, tolerance: float = 1.0, cost: str = "train_seconds",
            definitions: list[str] | None = None, overwrite: bool = False, isolate: bool = True) -> dict:
    """Train several adaptation methods (`["full", "freeze-12", "lora"]`) on the recipe's split into
    `out/<method>/` and write compare.json/.md/.html and pareto.png there; rerunning reuses finished runs.
    Returns the compare result, with `recommended`: the cheapest method within `tolerance` points of the best."""
    from ecomtune.comparison import compare as _compare

    return _compare(recipe, methods, overrides, out, tolerance, cost, definitions, overwrite, isolate)


def compress(run_dir: str | Path, method: str, out: str | Path | None = None, overwrite: bool = False,
             data: str | Path | None = None, rows: int | None = None, **options) -> Path:
    """A compressed copy of a run directory — `method`: "int8" (dynamic int8, PyTorch), "onnx", "onnx-int8"
    (ONNX Runtime) or "prune" (`heads=0.25`, `layers=1`, `retrain_steps=200`); int8 methods take `keep_fp32=["down_proj"]`
    (Linear layers left in fp32). Each copy is measured against the original on
    the same test texts (compress.json/.md in the copy). `load`, `predict` and `serve` open the copy as usual."""
    from ecomtune.deploy.compress import compress as _compress

    return _compress(run_dir, method, out, overwrite=overwrite, data=data, rows=rows, **options)


def pretrain(config=None, resume: bool = False, overwrite: bool = False, **options) -> Path:
    """Continued pre-training (masked-LM for encoders, causal-LM for decoders) on unlabeled text.

    `config` is a `PretrainConfig`, a dict or a YAML path; `options` (backbone, data, text_column, out, max_steps,
    ...) override it. Returns the output directory; use it as `model.backbone` in a recipe.
    """
    from ecomtune.pretraining import load_config
    from ecomtune.pretraining import pretrain as _pretrain

    return _pretrain(load_config(config, **options), resume=resume, overwrite=overwrite)


def monitor(run_dir: str | Path, input: str | Path, text_column: str | None = None, batch_size: int = 64,
            device: str = "auto", window: int | None = None, min_rows: int = 200, threshold: float = 0.25,
            warn: float = 0.1, progress: bool = False) -> dict:
    """Drift of a file against the run's reference profile (PSI per signal, and `action`: "ok" or
    "fine-tune again"); a run without profile.json gets one built from its recipe's validation split first."""
    from ecomtune.deploy.monitor.offline import monitor_file

    return monitor_file(run_dir, input, text_column, batch_size, device, window, min_rows, threshold, warn,
                        progress)


def models() -> list[dict]:
    """The registered backbones: languages, size, installed or not, and how to install them."""
    from ecomtune.backbones import list_backbones

    return list_backbones()


def create_app(run_dirs: list[str | Path], settings=None, **options):
    """The FastAPI app serving run directories (`RUN_DIR`, `NAME=RUN_DIR` or `NAME@VERSION=RUN_DIR`), e.g. for
    `uvicorn` or tests; `settings` is a `ServeSettings` or dict, `options` override it (see `serve`)."""
    from ecomtune.deploy.serve import ServeSettings
    from ecomtune.deploy.serve import create_app as _create_app

    return _create_app(run_dirs, ServeSettings.build(settings, **options))


def serve(run_dirs: list[str | Path], **settings) -> None:
    """Serve run directories over HTTP until SIGTERM/Ctrl+C (blocking). Settings: host, port, max_batch,
    max_wait_ms, bucket_size, batching, cache_size, max_text_chars, max_items, api_key, shutdown_timeout_s,
    monitor_window, device — see `ecomtune.deploy.serve.ServeSettings`."""
    from ecomtune.deploy.serve import serve as _serve

    _serve(run_dirs, settings)


__all__ = ["baseline", "check_data", "compare", "compress", "create_app", "evaluate", "export", "load", "models", "monitor", "predict", "predict_file", "pretrain", "serve", "train"]
