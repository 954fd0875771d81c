"""Multi-task benchmark: one gemma3-270m with a sentiment head and a category head vs two single-task models.

    python bench/multitask.py                    # online_shopping_10_cats, 1,000 train reviews, bottom 6 layers
    python bench/multitask.py --keep-layers 18   # the full backbone (about 3x the CPU time)
    python bench/multitask.py --tiny             # a seconds-long slice, to check the script

The three models see exactly the same rows: the split is made once (stratified on the (label, cat) pair, seed 42,
1,000 train / 300 validation / 2,000 test) and written to bench/work/multitask-data/, and every recipe reads those
files. Training settings are the sentiment-zh preset's (3 epochs, lr 2e-5, layer decay 0.9, label smoothing 0.1,
frozen embeddings, last-token pooling); each model gets a prompt naming what it predicts. `--keep-layers` cuts the
backbone to its bottom layers for all three models alike, to fit the CPU budget. Writes bench/results/multitask.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("ECOMTUNE_QUIET", "1")

import pandas as pd

import ecomtune
from ecomtune.data.prepare import prepare_data
from ecomtune.recipes.schema import Recipe

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
DATA = HERE.parent.parent / "shared" / "data" / "online_shopping_10_cats" / "online_shopping_10_cats.csv.gz"
TEMPLATES = {"multitask": "评论：{text}\n这条评论的情感和商品类别是",
             "label": "评论：{text}\n这条评论的情感是",
             "cat": "评论：{text}\n这条评论说的商品类别是"}


def split_files(rows: dict, out: Path) -> dict:
    """Split once, with the multitask recipe (stratified on both labels), and write the three files."""
    recipe = Recipe.model_validate({
        "name": "split", "task": "multitask", "language": "zh",
        "data": {"train": str(DATA), "text_column": "review", "label_columns": ["label", "cat"],
                 "label_map": {"0": "negative", "1": "positive"}, "bad_rows": "drop",
                 "max_train_rows": rows["train"], "max_validation_rows": rows["validation"],
                 "max_test_rows": rows["test"], "split": {"test": 0.2, "validation": 0.1, "seed": 42}},
        "model": {"backbone": "gemma3-270m"}})
    prepared = prepare_data(recipe)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    for split in prepared.splits():
        files[split.name] = out / f"{split.name}.csv"
        pd.DataFrame({"review": split.texts, "label": [r[0] for r in split.raw_labels],
                      "cat": [r[1] for r in split.raw_labels]}).to_csv(files[split.name], index=False)
    print(f"split: {', '.join(f'{s.name} {len(s)}' for s in prepared.splits())} -> {out}")
    return {k: str(v) for k, v in files.items()}


def recipe(name: str, files: dict, keep_layers: int, epochs: float, task: str, labels: dict, template: str) -> dict:
    return {
        "name": name, "task": task, "language": "zh",
        "data": {"train": files["train"], "validation": files["validation"], "test": files["test"],
                 "text_column": "review", "rare_labels": "drop", "bad_rows": "drop", **labels},
        "model": {"backbone": "gemma3-270m", "pooling": "last", "max_length": 128, "template": template,
                  "keep_layers": keep_layers if keep_layers < 18 else None},
        "training": {"epochs": epochs, "batch_size": 16, "learning_rate": 2e-5, "layer_lr_decay": 0.9,
                     "label_smoothing": 0.1, "warmup": 0.1, "freeze_embeddings": True},
        "evaluation": {"metric": "accuracy"},
        "output": {"dir": str(WORK / name), "overwrite": True},
    }


def train(raw: dict) -> dict:
    start = time.perf_counter()
    run = ecomtune.train(raw)
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    manifest["_wall_seconds"] = round(time.perf_counter() - start, 1)
    return manifest


def cost(m: dict) -> dict:
    c = m["cost"]
    return {k: c[k] for k in ("train_seconds", "total_params", "trainable_params", "model_size_mb", "peak_memory_mb",
                              "inference_samples_per_second")} | {"wall_seconds": m["_wall_seconds"]}


def head(metrics: dict) -> dict:
    return {"accuracy": round(metrics["accuracy"], 4), "macro_f1": round(metrics["macro_f1"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep-layers", type=int, default=6, help="bottom layers kept (18 = the full backbone)")
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--tiny", action="store_true", help="a few rows only: check that the script runs")
    args = parser.parse_args()
    tag = "-tiny" if args.tiny else ""
    rows = {"train": 40, "validation": 20, "test": 40} if args.tiny else {"train": 1000, "validation": 300,
                                                                           "test": 2000}
    epochs = 1 if args.tiny else args.epochs
    files = split_files(rows, WORK / f"multitask-data{tag}")

    multi = train(recipe(f"multitask-both{tag}", files, args.keep_layers, epochs, "multitask",
                         {"label_columns": ["label", "cat"]}, TEMPLATES["multitask"]))
    singles = {col: train(recipe(f"multitask-single-{col}{tag}", files, args.keep_layers, epochs, "classify",
                                 {"label_column": col}, TEMPLATES[col]))
               for col in ("label", "cat")}

    test = multi["metrics"]["test"]
    base = multi["baseline"]["metrics"]["test"]
    heads = {col: {"multitask": head(test["levels"][col]), "single_task": head(singles[col]["metrics"]["test"]),
                   "tfidf_baseline": head(base["levels"][col])} for col in ("label", "cat")}
    for col, h in heads.items():
        h["multitask_minus_single_points"] = {k: round((h["multitask"][k] - h["single_task"][k]) * 100, 2)
                                              for k in ("accuracy", "macro_f1")}
    two = [cost(singles[c]) for c in ("label", "cat")]
    one = cost(multi)
    totals = {
        "multitask": {**one, "models": 1},
        "two_single_task": {"models": 2, **{k: round(two[0][k] + two[1][k], 1) for k in
                                            ("train_seconds", "wall_seconds", "total_params", "trainable_params",
                                             "model_size_mb")},
                            "peak_memory_mb": max(t["peak_memory_mb"] for t in two),
                            # both models must read every text: their combined rate is the harmonic sum
                            "inference_samples_per_second": round(1 / sum(1 / t["inference_samples_per_second"]
                                                                          for t in two), 2)},
    }
    result = {
        "data": {"file": DATA.name, "rows": multi["data"]["rows"], "split": "stratified on (label, cat), seed 42"},
        "backbone": "gemma3-270m", "keep_layers": args.keep_layers, "epochs": epochs,
        "heads": heads, "cost": totals,
        "all_heads_accuracy_multitask": round(test["all_heads_accuracy"], 4),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "versions": multi["versions"],
    }
    out = HERE / "results" / f"multitask{tag}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")

    print(f"\n{'head':<8}{'metric':<10}{'multitask':>10}{'single':>10}{'TF-IDF':>10}")
    for col, h in heads.items():
        for k in ("accuracy", "macro_f1"):
            print(f"{col:<8}{k:<10}{h['multitask'][k]:>10.4f}{h['single_task'][k]:>10.4f}"
                  f"{h['tfidf_baseline'][k]:>10.4f}")
    a, b = totals["multitask"], totals["two_single_task"]
    print(f"\n{'cost':<26}{'one multitask':>15}{'two single':>15}")
    for k, fmt in (("train_seconds", "{:.0f}"), ("total_params", "{:,.0f}"), ("trainable_params", "{:,.0f}"),
                   ("model_size_mb", "{:.0f}"), ("inference_samples_per_second", "{:.1f}")):
        print(f"{k:<26}{fmt.format(a[k]):>15}{fmt.format(b[k]):>15}")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
