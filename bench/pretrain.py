"""Domain pre-training benchmark: fine-tuning with 300 labels after masked-LM on the unlabeled reviews vs without.

    python bench/pretrain.py                              # minilm, women's clothing reviews, seeds 42 and 43
    python bench/pretrain.py --steps 20 --max-rows 2000 --seeds 42 --tag -smoke    # a quick check

1. The `sentiment-en` split (seed 42) is prepared once; its test and validation texts are written to
   `heldout.csv` and passed to `ecomtune pretrain --exclude`, so pre-training never sees an evaluation text.
2. `ecomtune pretrain` runs masked-LM on every other review of the data set (Title + Review Text, 3-star and
   unlabelled-for-sentiment reviews included: no label is used) for `--steps` steps.
3. The `sentiment-en` recipe with `data.max_train_rows=300` is fine-tuned from minilm and from the pre-trained
   backbone, same split, same 300 rows, same seed; repeated per `--seeds` (the training seed; split and sample stay).

Writes bench/results/pretrain<tag>.json and prints a table. The lift is reported whatever its sign.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("ECOMTUNE_QUIET", "1")

import pandas as pd

import ecomtune
from ecomtune.data.prepare import prepare_data
from ecomtune.pretraining.data import read_texts
from ecomtune.recipes import load_recipe

HERE = Path(__file__).resolve().parent
METRICS = ("accuracy", "macro_f1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="sentiment-en")
    parser.add_argument("--backbone", default="minilm")
    parser.add_argument("--labels", type=int, default=300, help="data.max_train_rows of the fine-tuning")
    parser.add_argument("--epochs", type=int, default=5, help="fine-tuning epochs (the preset's 2 epochs are 38 "
                        "steps on 300 rows)")
    parser.add_argument("--steps", type=int, default=450, help="pre-training steps")
    parser.add_argument("--head-warmup-steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--max-rows", type=int, default=None, help="cap on the unlabeled texts")
    parser.add_argument("--validation-rows", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43])
    parser.add_argument("--max-test-rows", type=int, default=None, help="smaller test split, for quick checks only")
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    work = HERE / "work" / f"pretrain{args.tag}"
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    def recipe(backbone: str, seed: int, name: str):
        return load_recipe(args.preset, [f"model.backbone={backbone}", f"data.max_train_rows={args.labels}",
                                         f"training.epochs={args.epochs}", f"training.seed={seed}",
                                         "evaluation.baseline=false", f"output.dir={work / name}",
                                         "output.overwrite=true"]
                           + ([f"data.max_test_rows={args.max_test_rows}"] if args.max_test_rows else []))

    base_recipe = recipe(args.backbone, args.seeds[0], "unused")
    prepared = prepare_data(base_recipe)
    heldout = prepared.test.texts + prepared.validation.texts
    pd.DataFrame({"text": heldout}).to_csv(work / "heldout.csv", index=False)
    pool = read_texts(base_recipe.data.train, base_recipe.data.text_columns)
    pd.DataFrame({"text": pool}).to_csv(work / "pool.csv", index=False)
    print(f"fine-tuning split: {len(prepared.train)} train / {len(prepared.validation)} validation / "
          f"{len(prepared.test)} test; unlabeled pool: {len(pool)} rows, minus the {len(heldout)} held-out texts")

    t0 = time.perf_counter()
    pt_dir = ecomtune.pretrain(backbone=args.backbone, data=[str(work / "pool.csv")], text_column="text",
                               exclude=[str(work / "heldout.csv")], out=str(work / "pretrained"),
                               max_steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr,
                               head_warmup_steps=args.head_warmup_steps, max_rows=args.max_rows,
                               validation_rows=args.validation_rows, seed=args.seeds[0], overwrite=True)
    pt_wall = time.perf_counter() - t0
    pt = json.loads((pt_dir / "manifest.json").read_text(encoding="utf-8"))
    print(f"pre-training: {pt['steps']} steps on {pt['rows']['train']} texts in {pt_wall:.0f}s; perplexity "
          f"{pt['perplexity']}")

    runs = []
    for seed in args.seeds:
        row = {"seed": seed}
        for label, backbone in (("base", args.backbone), ("pretrained", str(pt_dir))):
            t0 = time.perf_counter()
            run = ecomtune.train(recipe(backbone, seed, f"ft-{label}-s{seed}"))
            manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
            row[label] = {**{k: manifest["metrics"]["test"][k] for k in METRICS},
                          "validation_macro_f1": manifest["metrics"]["validation"]["macro_f1"],
                          "train_seconds": manifest["cost"]["train_seconds"],
                          "wall_seconds": round(time.perf_counter() - t0, 1), "rows": manifest["data"]["rows"]}
            print(f"seed {seed} {label:>10}: " + "  ".join(f"{k} {row[label][k]:.4f}" for k in METRICS))
        row["lift_points"] = {k: round((row["pretrained"][k] - row["base"][k]) * 100, 2) for k in METRICS}
        runs.append(row)

    mean = {label: {k: round(statistics.mean(r[label][k] for r in runs), 4) for k in METRICS}
            for label in ("base", "pretrained")}
    result = {
        "benchmark": "domain pre-training (masked-LM) before fine-tuning with few labels",
        "command": "python bench/pretrain.py " + " ".join(
            f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
            for k, v in vars(args).items() if v not in (None, "")),
        "preset": args.preset, "backbone": args.backbone, "labels": args.labels, "fine_tune_epochs": args.epochs,
        "split": {"train": len(prepared.train), "validation": len(prepared.validation),
                  "test": len(prepared.test), "seed": base_recipe.data.split.seed},
        "pretrain": {"steps": pt["steps"], "epochs": pt["epochs"], "texts": pt["rows"], "data": pt["data"],
                     "perplexity": pt["perplexity"], "head_warmup_steps": pt["head_warmup_steps"],
                     "learning_rate": args.lr, "batch_size": args.batch_size, "cost": pt["cost"],
                     "wall_seconds": round(pt_wall, 1)},
        "runs": runs,
        "mean": mean,
        "mean_lift_points": {k: round((mean["pretrained"][k] - mean["base"][k]) * 100, 2) for k in METRICS},
        "total_wall_seconds": round(time.perf_counter() - started, 1),
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "versions": pt["versions"],
    }
    out = HERE / "results" / f"pretrain{args.tag}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")

    p = pt["perplexity"]
    print(f"\n{args.preset}, {args.labels} labels, {args.backbone}; pre-training {pt['steps']} steps on "
          f"{pt['rows']['train']} texts ({pt['cost']['train_seconds']:.0f}s), held-out MLM perplexity "
          f"{p['before']:.1f} -> {p['after_head_warmup']} (head warm-up) -> {p['after']:.2f}")
    print(f"{'seed':<8}{'start':<12}{'accuracy':>10}{'macro-F1':>10}{'train s':>9}")
    for r in runs:
        for label in ("base", "pretrained"):
            m = r[label]
            print(f"{r['seed']:<8}{label:<12}{m['accuracy']:>10.4f}{m['macro_f1']:>10.4f}{m['train_seconds']:>9.0f}")
        print(f"{'':<8}{'lift (pts)':<12}{r['lift_points']['accuracy']:>+10.2f}{r['lift_points']['macro_f1']:>+10.2f}")
    print(f"mean lift: {result['mean_lift_points']}; total {result['total_wall_seconds']:.0f}s -> {out}")


if __name__ == "__main__":
    main()
