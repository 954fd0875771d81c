"""The Python API: the same verbs as the CLI.

    >>> import ecomtune
    >>> run = ecomtune.train("demo")                       # a preset name or a recipe.yaml path
    >>> ecomtune.load(run).predict(["Love this dress!"])
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from ecomtune.console import say
from ecomtune.data.readers import read_table, write_table
from ecomtune.errors import DataError, EcomtuneError
from ecomtune.recipes import Recipe, load_recipe
from ecomtune.registry import task, tasks
from ecomtune.rundir import read_manifest


def _recipe(recipe: Recipe | str | Path | dict, overrides: list[str] | None = None) -> Recipe:
    from pydantic import BaseModel

    return recipe if isinstance(recipe, BaseModel) else load_recipe(recipe, overrides)


def train(recipe: Recipe | str | Path | dict, overrides: list[str] | None = None, resume: bool = False,
          nproc: int = 1) -> Path:
    """Train a recipe (object, YAML path, preset name or dict) of any task; returns the run directory.
    `nproc` > 1: in that many processes on this machine (DDP, as `ecomtune train --nproc`; docs/scale.md)."""
    r = _recipe(recipe, overrides)
    if nproc > 1:
        return _train_in_processes(r, resume, nproc)
    return task(r.task).part("train")(r, resume=resume)


def _train_in_processes(r, resume: bool, nproc: int) -> Path:
    """`ecomtune train --nproc` in a subprocess (it starts the torchrun processes), the recipe handed over as a
    YAML file with its data paths relative to that file."""
    import subprocess
    import sys
    import tempfile

    import yaml

    from ecomtune.recipes.loader import recipe_to_store

    final = Path(r.output.dir or Path("runs") / r.name).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        stored = {**recipe_to_store(r, tmp), "output": {**r.output.model_dump(mode="json"), "dir": str(final)}}
        path = Path(tmp) / "recipe.yaml"
        path.write_text(yaml.safe_dump(stored, allow_unicode=True, sort_keys=False), encoding="utf-8")
        command = [sys.executable, "-m", "ecomtune", "train", str(path), "--nproc", str(nproc)]
        code = subprocess.call(command + (["--resume"] if resume else []))
    if code:
        raise EcomtuneError(f"training in {nproc} processes failed (exit code {code}) — see the messages above")
    return final


def load(run_dir: str | Path, device: str = "auto", **options):
    """Load any run directory as its task's predictor (`predict`, `evaluate`, and `encode` where it has vectors):
    an `ExpertModel` (text tasks, which also take `precision`), a `Recommender` or a `SearchEngine`."""
    return task(read_manifest(run_dir)["task"]).part("load")(run_dir, device=device, **options)


def check_data(recipe: Recipe | str | Path | dict, overrides: list[str] | None = None) -> dict:
    """Validate and summarise a recipe's data (any task) without training; a DataError/RecipeError on problems.

    The summary has `task`; rows, label balance and text lengths (text tasks), users, items and interactions
    (recommend) or products and queries (search); and `notes` on what the data preparation dropped or cut."""
    r = _recipe(recipe, overrides)
    return task(r.task).part("check")(r)


def baseline(recipe: Recipe | str | Path | dict, overrides: list[str] | None = None) -> dict:
    """The task's simple baseline on the recipe's split (TF-IDF + LR for text, most-popular for recommendation,
    BM25 for search); returns its test metrics."""
    r = _recipe(recipe, overrides)
    return task(r.task).part("baseline")(r)


def predict(run_dir: str | Path, texts: list, batch_size: int = 64, device: str = "auto") -> list[dict]:
    """Predictions for a list of inputs (texts; histories for a recommender; queries for a search run)."""
    return load(run_dir, device=device).predict(texts, batch_size=batch_size)


def evaluate(run_dir: str | Path, data: str | Path | None = None, device: str = "auto", **options) -> dict:
    """Task metrics of a run (any task) on new data, or on its recipe's own test split (found relative to the run).

    Classifiers score a labelled file with the recipe's columns (options: `batch_size`, `noise`, `noise_seed`,
    `precision`); recommenders and search engines re-run their full-ranking evaluation (see their task modules).
    """
    import inspect

    name = read_manifest(run_dir)["task"]
    evaluate_run = task(name).part("evaluate")
    accepted = inspect.signature(evaluate_run).parameters
    for key, value in options.items():
        if key not in accepted and value is not None:
            raise EcomtuneError(f"`{key}` does not apply to a {name} run — leave it out")
    return evaluate_run(run_dir, data, device=device, **{k: v for k, v in options.items() if k in accepted})


def task_table() -> list[dict]:
    """The registered tasks: name, summary, endpoint and bundled presets (`ecomtune tasks`)."""
    from ecomtune.recipes.loader import preset_tasks

    presets = preset_tasks()
    return [{"task": t.name, "summary": t.summary, "endpoint": t.endpoint,
             "presets": [p for p, name in presets.items() if name == t.name]} for _, t in tasks().items()]


def predict_file(run_dir: str | Path, input_path: str | Path, output_path: str | Path,
                 text_column: str | None = None, batch_size: int = 64, device: str = "auto",
                 progress: bool = False, image_column: str | None = None, engine: str = "local",
                 address: str | None = None, num_cpus: int | None = None) -> pd.DataFrame:
    """Predict every row of a table and write it with `pred_label`, `pred_score` and one `prob_*` per label.
    An image run reads a folder of images (sub-folders too) or a table of image paths (relative to the table).
    `engine="ray"` runs text runs as a Ray Data batch job (a local cluster of `num_cpus`, or `address`; the rows
    gain an `id` column when they have none — see docs/batch.md)."""
    if engine != "local":
        from ecomtune.deploy.batch import predict_table

        if image_column:
            raise DataError("--engine ray labels text tables — image runs use the default engine")
        return predict_table(run_dir, input_path, output_path, text_column, engine=engine, address=address,
                             num_cpus=num_cpus, batch_size=max(batch_size, 256),
                             device="cpu" if device == "auto" else device)
    if Path(output_path).resolve() == Path(input_path).resolve():
        raise DataError(f"{output_path}: --output is the input file, which would be overwritten — write the "
                        "predictions to another file")
    model = load(run_dir, device=device)
    if not hasattr(model, "predict_arrays"):
        raise DataError(f"{run_dir}: a {model.task if hasattr(model, 'task') else 'non-text'} run — `predict_file` "
                        "labels tables with text classifiers; use the run's own verbs (`ecomtune recommend`, "
                        "`ecomtune search`)")
    images = task(model.task).inputs == "images"
    if text_column if images else image_column:
        wrong, right = ("text", "image") if images else ("image", "text")
        raise DataError(f"{run_dir}: a {model.task} run reads {right}s — --{wrong}-column does not apply; "
                        f"use --{right}-column")
    if images:
        return _predict_images(model, Path(input_path), Path(output_path), image_column, batch_size, progress)
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
    for column, values in task(model.task).module("model").table_columns(pred, probs, model.space).items():
        out[column] = pd.Series(list(values), index=out.index[~empty])  # rows with an empty text stay empty
    write_table(out, output_path)
    return out


def _predict_images(model, input_path: Path, output_path: Path, column: str | None, batch_size: int,
                    progress: bool) -> pd.DataFrame:
    """`predict_file` for an image run: unreadable images are noted by name and get empty prediction columns."""
    from ecomtune.tasks.classify.model import table_columns
    from ecomtune.tasks.image_classify.data import EXTENSIONS, inspect

    if input_path.is_dir():
        files = sorted(f for f in input_path.rglob("*") if f.suffix.lower() in EXTENSIONS and f.is_file())
        if not files:
            raise DataError(f"{input_path}: no images ({', '.join(EXTENSIONS)}) in this folder or its sub-folders")
        frame = pd.DataFrame({"path": [f.relative_to(input_path).as_posix() for f in files]})
        paths, where = [str(f) for f in files], frame["path"].tolist()
    else:
        frame = read_table(input_path)
        column = column or model.manifest.get("recipe", {}).get("data", {}).get("image_column", "path")
        if column not in frame.columns:
            raise DataError(f"{input_path}: missing image column '{column}' — columns present: "
                            f"{', '.join(map(str, frame.columns))}; pass --image-column")
        names = frame[column].fillna("").astype(str).str.strip()
        paths = [str(input_path.parent / p) if p else "" for p in names]  # relative to the table, as in training
        where = [f"row {i + 1} ({p or 'empty path'})" for i, p in enumerate(names)]
        if not where:
            raise DataError(f"{input_path}: no rows — nothing to predict")
    with ThreadPoolExecutor(2) as pool:  # every image decoded before the first batch: none fails the run halfway
        problems = list(pool.map(lambda p: inspect(p, 1).problem if p else "empty image path", paths))
    bad = np.array([bool(p) for p in problems])
    if bad.all():
        raise DataError(f"{input_path}: no readable image, e.g. {where[0]}: {problems[0]} — check the paths"
                        f"{'' if input_path.is_dir() else ' (relative to the table) or --image-column'}")
    if bad.any():
        shown = "; ".join(f"{where[i]}: {problems[i]}" for i in np.flatnonzero(bad)[:3])
        say(f"[yellow]note:[/] {int(bad.sum())} of {len(paths)} images of {input_path} cannot be read ({shown}"
            f"{' …' if bad.sum() > 3 else ''}): their prediction columns are left empty")
    pred, probs = model.predict_arrays([p for p, b in zip(paths, bad) if not b], batch_size, progress=progress)
    out = frame.copy()
    for name, values in table_columns(pred, probs, model.space).items():
        out[name] = pd.Series(list(values), index=out.index[~bad])
    write_table(out, output_path)
    return out


def _text_columns(model) -> list[str]:
    col = model.manifest.get("recipe", {}).get("data", {}).get("text_column", "text")
    return [col] if isinstance(col, str) else list(col)


def embed(run_or_backbone: str | Path, input_path: str | Path, output_path: str | Path,
          text_column: str | list[str] | None = None, id_column: str | None = None, engine: str = "local",
          address: str | None = None, num_cpus: int | None = None, batch_size: int = 256, device: str = "cpu",
          max_length: int = 64):
    """Embed every row of a table with a run (classifier, search, recommend) or a backbone (`minilm`) and write
    a vectors parquet (the id column + `vector`, fixed-size list<float32>, unit length); returns it as a
    pyarrow Table in input order. `engine="ray"`: a Ray Data actor pool on a local cluster of `num_cpus` CPUs,
    or on the cluster at `address` (see docs/batch.md)."""
    from ecomtune.deploy.batch import embed_table

    return embed_table(run_or_backbone, input_path, output_path, text_column, id_column, engine, address, num_cpus,
                       batch_size, device, max_length)


def export(run_dir: str | Path, out_dir: str | Path, merge: bool = False, overwrite: bool = False) -> Path:
    """A standalone copy of a run directory; `merge=True` folds a LoRA/AdaLoRA/IA3 adapter into the weights."""
    from ecomtune.rundir import open_manifest
    from ecomtune.standalone import export_run

    name = open_manifest(run_dir, hashes=False).get("task")
    spec = tasks().get(name) if name in tasks() else None
    own = spec.part("export") if spec is not None and spec.export else export_run
    return own(run_dir, out_dir, merge=merge, overwrite=overwrite)


def compare(recipe: Recipe | str | Path | dict, methods: list[str], overrides: list[str] | None = None,
            out: str | Path | None = None, tolerance: float = 1.0, cost: str = "train_seconds",
            definitions: list[str] | None = None, overwrite: bool = False, isolate: bool = True) -> dict:
    """Train several adaptation methods (`["full", "freeze-12", "lora"]`) on the recipe's split into
    `out/<method>/` and write compare.json/.md/.html and pareto.png there; rerunning reuses finished runs.
    Returns the compare result, with `recommended`: the cheapest method within `tolerance` points of the best."""
    from ecomtune.comparison import compare as _compare

    return _compare(recipe, methods, overrides, out, tolerance, cost, definitions, overwrite, isolate)


def tune(recipe: Recipe | str | Path | dict, trials: int = 20, space: str | Path | dict | None = None,
         objective: str | None = None, also_minimise: list[str] | None = None, output: str | Path | None = None,
         overrides: list[str] | None = None, timeout_minutes: float | None = None, keep_trials: bool = False) -> dict:
    """Hyper-parameter search on Optuna: `trials` training runs of the recipe with parameters from `space` (a dict
    or YAML path of `{dotted.key: {type, low, high, log | choices}}`; default: the task's space), scored on the
    validation `objective`, in `output/study.sqlite3` (rerunning resumes). Returns the result (tune.json): `best`
    (its run folder is a normal run, also `output/best`), the trials, parameter importance and the Pareto front."""
    from ecomtune.tuning import tune as _tune

    return _tune(recipe, trials, space, objective, also_minimise, output, overrides, timeout_minutes, keep_trials)


def compress(run_dir: str | Path, method: str, out: str | Path | None = None, overwrite: bool = False,
             data: str | Path | None = None, rows: int | None = None, **options) -> Path:
    """A compressed copy of a run directory — `method`: "int8" (dynamic int8, PyTorch), "onnx", "onnx-int8"
    (ONNX Runtime) or "prune" (`heads=0.25`, `layers=1`, `retrain_steps=200`); int8 methods take `keep_fp32=["down_proj"]`
    (Linear layers left in fp32). Each copy is measured against the original on
    the same test texts or images (compress.json/.md in the copy). `load`, `predict` and `serve` open the copy as usual."""
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
    """The registered backbones (text, then each task's own, e.g. the image CNNs): languages, size, installed or
    not, and how to install them."""
    from ecomtune.backbones import list_backbones
    from ecomtune.registry import tasks

    return list_backbones() + [row for _, t in tasks().items() if t.backbones for row in t.part("backbones")()]


def create_app(run_dirs: list[str | Path], settings=None, **options):
    """The FastAPI app serving run directories (`RUN_DIR`, `NAME=RUN_DIR` or `NAME@VERSION=RUN_DIR`), e.g. for
    `uvicorn` or tests; `settings` is a `ServeSettings` or dict, `options` override it (see `serve`)."""
    from ecomtune.deploy.serve import ServeSettings
    from ecomtune.deploy.serve import create_app as _create_app

    return _create_app(run_dirs, ServeSettings.build(settings, **options))


def serve(run_dirs: list[str | Path], **settings) -> None:
    """Serve run directories over HTTP until SIGTERM/Ctrl+C (blocking). Settings: host, port, max_batch,
    max_wait_ms, bucket_size, batching, cache_size, max_text_chars, max_items, max_image_bytes, api_key,
    shutdown_timeout_s, monitor_window, device — see `ecomtune.deploy.serve.ServeSettings`."""
    from ecomtune.deploy.serve import serve as _serve

    _serve(run_dirs, settings)


__all__ = ["baseline", "check_data", "task_table", "compare", "compress", "create_app", "embed", "evaluate", "export", "load", "models", "monitor", "predict", "predict_file", "pretrain", "serve", "train", "tune"]
