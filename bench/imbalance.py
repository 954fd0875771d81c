"""Imbalanced classification and small-data augmentation on the women's clothing reviews (English), minilm.

    python bench/imbalance.py                    # rare negatives: CE vs class weights vs focal vs CE + threshold
    python bench/imbalance.py --part augment     # 300 training rows, with and without `data.augment`
    python bench/imbalance.py --quick            # a smoke test on a few rows (seconds)

Task: the `sentiment-en` preset (1-2 stars negative, 4-5 positive, 3 dropped), so `negative` is the rare class
(~12% of rows). The imbalance part trains on a 3,000-row stratified slice; "CE + threshold" is the CE model with
`evaluation.threshold: {label: negative, target: recall, value: 0.8}` tuned on validation, and "CE" is the same
model read with argmax. Writes bench/results/imbalance.json (or augment-small.json) and prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("ECOMTUNE_QUIET", "1")

import ecomtune
from ecomtune.data.prepare import prepare_data
from ecomtune.recipes import load_recipe
from ecomtune.rundir import versions
from ecomtune.registry import task

HERE = Path(__file__).resolve().parent
RARE = "negative"
THRESHOLD = "evaluation.threshold={label: negative, target: recall, value: 0.8}"
IMBALANCE = {  # name -> extra overrides
    "ce": [THRESHOLD],
    "class_weights": ["training.loss.class_weights=balanced"],
    "focal": ["training.loss.name=focal", "training.loss.gamma=2"],
}


def summary(metrics: dict) -> dict:
    rare = metrics["per_class"][RARE]
    return {"macro_f1": round(metrics["macro_f1"], 4), "accuracy": round(metrics["accuracy"], 4),
            "rare_precision": round(rare["precision"], 4), "rare_recall": round(rare["recall"], 4),
            "rare_f1": round(rare["f1"], 4), "rare_support": rare["support"]}


def run_one(name: str, overrides: list[str]) -> tuple[Path, dict]:
    recipe = load_recipe("sentiment-en", [f"output.dir={HERE / 'work' / 'imbalance' / name}", "output.overwrite=true",
                                          "evaluation.baseline=false", *overrides])
    start = time.perf_counter()
    run = ecomtune.train(recipe)
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    print(f"  {name}: {time.perf_counter() - start:.0f}s", flush=True)
    return run, manifest


def argmax_test(run: Path, overrides: list[str]) -> dict:
    """The test metrics of a thresholded run read with plain argmax (same model, same rows)."""
    recipe = load_recipe("sentiment-en", overrides)
    prepared = prepare_data(recipe)
    model = ecomtune.load(run)
    model.threshold = None
    pred, _ = model.predict_arrays(prepared.test.texts, recipe.training.eval_batch_size)
    return task("classify").module("metrics").compute(prepared.test.labels, pred, model.space)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["imbalance", "augment"], default="imbalance")
    parser.add_argument("--quick", action="store_true", help="a few rows and steps: check the script runs")
    parser.add_argument("--seeds", type=int, default=2, help="augment part: training/augmentation seeds")
    args = parser.parse_args()
    if args.part == "imbalance":
        common = ["data.max_train_rows=3000", "data.max_test_rows=2000"]
        runs = {k: (v, 42) for k, v in IMBALANCE.items()}
    else:
        common = ["data.max_train_rows=300", "data.max_test_rows=2000", "training.epochs=4"]
        runs = {}
        for s in range(42, 42 + args.seeds):
            runs[f"plain-seed{s}"] = ([f"training.seed={s}"], s)
            runs[f"augment-seed{s}"] = ([f"training.seed={s}", "data.augment.fraction=1.0", f"data.augment.seed={s}"], s)
    if args.quick:
        common += ["data.max_train_rows=200", "data.max_test_rows=200", "data.max_validation_rows=200",
                   "training.max_steps=3"]
    results: dict = {}
    for name, (overrides, _) in runs.items():
        run, manifest = run_one(name, common + overrides)
        row = {"overrides": overrides, "test": summary(manifest["metrics"]["test"]),
               "rows": manifest["data"]["rows"], "notes": manifest["data"]["notes"],
               "train_seconds": manifest["cost"]["train_seconds"], "steps": manifest["cost"]["steps"]}
        if "threshold" in manifest["head"]:
            row["threshold"] = manifest["head"]["threshold"]
            results["ce"] = {**row, "test": summary(argmax_test(run, common + overrides)),
                             "threshold": None, "overrides": []}
            name = "ce+threshold"
        results[name] = row
    out = HERE / "results" / ("imbalance.json" if args.part == "imbalance" else "augment-small.json")
    if args.quick:
        out = HERE / "work" / out.name
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"preset": "sentiment-en", "backbone": "minilm", "common_overrides": common,
                               "runs": results, "machine": {"cpu_count": os.cpu_count(),
                                                            "platform": platform.platform()},
                               "versions": versions()},
                              indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\n{'method':<20}{'macro-F1':>10}{'neg P':>8}{'neg R':>8}{'neg F1':>8}{'train s':>9}")
    for name, r in results.items():
        t = r["test"]
        print(f"{name:<20}{t['macro_f1']:>10.4f}{t['rare_precision']:>8.3f}{t['rare_recall']:>8.3f}"
              f"{t['rare_f1']:>8.3f}{r['train_seconds']:>9.0f}")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
