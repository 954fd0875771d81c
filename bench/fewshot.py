"""Few-shot mode vs the `setfit` library vs plain fine-tuning, at 8, 16 and 64 labelled reviews per class.

    OMP_NUM_THREADS=2 flock /tmp/ecomtune-cpu.lock .venv/bin/python bench/fewshot.py                # everything
    ... bench/fewshot.py --lang en --sizes 8 --seeds 1 --methods ecomtune-fewshot setfit            # a smoke run
    ... bench/fewshot.py --part skewed                                                              # 500 rows, 5% neg
    .venv/bin/python bench/fewshot.py --table                                                       # markdown only

Data (fixed, seed 0): 1,000 held-out reviews as the test set (natural label mix), the training rows drawn per seed
(0..4) from the rest, k per class.
- en: women's clothing reviews, Title + Review Text, 1-2 stars negative, 4-5 positive (3 dropped), as sentiment-en.
- zh: online_shopping_10_cats, label 0 negative / 1 positive. minilm is English-only (its vocabulary covers CJK
  characters but it never learned Chinese), so zh uses gemma3-270m, the only multilingual packaged encoder
  (last-token pooling and the sentiment-zh template); `--zh-backbone minilm` runs the cheap, weaker alternative.
Methods, same rows and test set:
- `ecomtune-fewshot`: `training.few_shot: {pairs_per_example: 20, epochs: 1, batch_size: 16, learning_rate: 2e-5}`.
- `setfit`: the library (bench/fewshot_setfit.py in its own venv, bench/work/setfit-venv), same budget.
- `ecomtune-finetune`: the language's preset training settings (sentiment-en / sentiment-zh), 10 epochs (the preset's
  2-3 epochs over 16 rows are 2-3 optimizer steps), no validation split (there are too few rows to hold any out).
The skewed part: 500 training rows, 5% negative, the sentiment-en preset as a new user runs it (its 5% validation
split, early stopping on macro-F1) vs the same preset with `training.few_shot: {}`.
Writes bench/results/fewshot.json (merged run by run, so parts can run separately) and prints the markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("ECOMTUNE_QUIET", "1")

import numpy as np
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
WORK = HERE / "work" / "fewshot"
RESULT = HERE / "results" / "fewshot.json"
SETFIT_PY = HERE / "work" / "setfit-venv" / "bin" / "python"
METHODS = ("ecomtune-fewshot", "setfit", "ecomtune-finetune")
FEW_SHOT = {"pairs_per_example": 20, "epochs": 1, "batch_size": 16, "learning_rate": 2e-5}
TEST_ROWS = 1000


def reviews(lang: str) -> pd.DataFrame:
    """text, label (negative/positive) of the whole data set."""
    if lang == "en":
        f = pd.read_csv(SHARED / "womens_clothing_ecommerce_reviews" / "womens_clothing_ecommerce_reviews.csv")
        f = f[f["Review Text"].notna() & (f.Rating != 3)]
        text = (f.Title.fillna("").astype(str) + " " + f["Review Text"].astype(str)).str.strip()
        label = np.where(f.Rating <= 2, "negative", "positive")
    else:
        f = pd.read_csv(SHARED / "online_shopping_10_cats" / "online_shopping_10_cats.csv.gz")
        f = f[f.review.notna()]
        text = f.review.astype(str).str.replace("\ufeff", "").str.strip()
        label = np.where(f.label == 1, "positive", "negative")
    out = pd.DataFrame({"text": text.values, "label": label}).drop_duplicates("text")
    return out[out.text.str.len() > 0].reset_index(drop=True)


def split(lang: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training pool, fixed test set of 1,000 rows): the same for every method, size and seed."""
    data = reviews(lang)
    test = data.sample(TEST_ROWS, random_state=0)
    return data.drop(test.index).reset_index(drop=True), test.reset_index(drop=True)


def few_rows(pool: pd.DataFrame, k: int, seed: int) -> pd.DataFrame:
    return pd.concat([g.sample(k, random_state=seed) for _, g in pool.groupby("label")]).sample(frac=1,
                                                                                              random_state=seed)


def skewed_rows(pool: pd.DataFrame, n: int = 500, negative: float = 0.05, seed: int = 0) -> pd.DataFrame:
    neg = pool[pool.label == "negative"].sample(round(n * negative), random_state=seed)
    pos = pool[pool.label == "positive"].sample(n - len(neg), random_state=seed)
    return pd.concat([neg, pos]).sample(frac=1, random_state=seed)


def preset(name: str) -> dict:
    from importlib import resources

    return yaml.safe_load(resources.files("ecomtune.recipes").joinpath("presets", f"{name}.yaml").read_text("utf-8"))


def recipe(lang: str, method: str, train: Path, test: Path, seed: int, out: Path, backbone: str | None,
           device: str) -> dict:
    """The language's preset pointed at our files; few-shot or 10 epochs of plain fine-tuning."""
    r = preset("sentiment-en" if lang == "en" else "sentiment-zh")
    r["data"] = {"train": str(train), "test": str(test), "text_column": "text", "label_column": "label",
                 "split": {"validation": 0.0, "seed": seed}, "dedupe": False}
    if backbone and backbone != r["model"]["backbone"]:
        r["model"] = {"backbone": backbone, "max_length": r["model"]["max_length"]}
    t = r["training"]
    t.pop("early_stopping", None)
    t.update(seed=seed, device=device)
    if method == "ecomtune-fewshot":
        for key in ("layer_lr_decay", "label_smoothing"):  # fine-tuning options, refused with few_shot
            t.pop(key, None)
        t["few_shot"] = dict(FEW_SHOT)
    else:
        t["epochs"] = 10
    r["evaluation"] = {"metric": "macro_f1", "baseline": False}
    r["output"] = {"dir": str(out), "overwrite": True}
    return r


def run_ecomtune(raw: dict) -> dict:
    import ecomtune

    start = time.perf_counter()
    run = ecomtune.train(raw)
    m = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    test = m["metrics"]["test"]
    return {"accuracy": round(test["accuracy"], 4), "macro_f1": round(test["macro_f1"], 4),
            "negative_recall": round(test["per_class"]["negative"]["recall"], 4),
            "train_seconds": m["cost"]["train_seconds"], "wall_seconds": round(time.perf_counter() - start, 1)}


def run_setfit(train: Path, test: Path, model: str, seed: int, max_length: int) -> dict:
    if not SETFIT_PY.exists():
        raise SystemExit(f"{SETFIT_PY} is missing: python3 -m venv bench/work/setfit-venv && "
                         "bench/work/setfit-venv/bin/pip install torch==2.13.0 setfit pandas")
    start = time.perf_counter()
    out = subprocess.run([str(SETFIT_PY), str(HERE / "fewshot_setfit.py"), "--train", str(train), "--test",
                          str(test), "--model", model, "--seed", str(seed), "--max-length", str(max_length)],
                         check=False, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"setfit failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {k: round(v, 4) if k != "train_seconds" else v for k, v in result.items()} | {
        "wall_seconds": round(time.perf_counter() - start, 1)}


def save(key: str, value) -> None:
    from ecomtune.rundir import versions

    data = json.loads(RESULT.read_text(encoding="utf-8")) if RESULT.exists() else {}
    data.setdefault("runs", {})[key] = value
    data["machine"] = {"cpu_threads": os.environ.get("OMP_NUM_THREADS"), "platform": platform.platform(),
                       "versions": versions()}
    data["settings"] = {"few_shot": FEW_SHOT, "test_rows": TEST_ROWS, "finetune_epochs": 10}
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")


def few_shot_part(a) -> None:
    from ecomtune.backbones import resolve_backbone

    for lang in a.lang:
        pool, test = split(lang)
        folder = WORK / lang
        folder.mkdir(parents=True, exist_ok=True)
        test_csv = folder / "test.csv"
        test.to_csv(test_csv, index=False)
        backbone = "minilm" if lang == "en" else a.zh_backbone
        for k in a.sizes:
            for seed in range(a.seeds):
                train_csv = folder / f"train-{k}-{seed}.csv"
                few_rows(pool, k, seed).to_csv(train_csv, index=False)
                for method in a.methods:
                    key = f"{lang}/{backbone}/{k}/{method}/{seed}"
                    print(f"{key} ...", flush=True)
                    if method == "setfit":
                        r = run_setfit(train_csv, test_csv, str(resolve_backbone(backbone).path), seed, 128)
                    else:
                        r = run_ecomtune(recipe(lang, method, train_csv, test_csv, seed,
                                                folder / "runs" / f"{method}-{k}-{seed}", backbone, a.device))
                    print(f"  {r}", flush=True)
                    save(key, r)


def skewed_part(a) -> None:
    import ecomtune  # noqa: F401  (the registry, before load_recipe)
    from ecomtune.recipes import load_recipe

    pool, test = split("en")
    folder = WORK / "skewed"
    folder.mkdir(parents=True, exist_ok=True)
    test.to_csv(folder / "test.csv", index=False)
    for seed in range(a.seeds):
        skewed_rows(pool, seed=seed).to_csv(folder / f"train-{seed}.csv", index=False)
        base = [f"data.train={folder / f'train-{seed}.csv'}", f"data.test={folder / 'test.csv'}",
                "data.text_column=text", "data.label_column=label", "data.label_map=null",
                "evaluation.baseline=false", "output.overwrite=true", f"training.seed={seed}",
                f"training.device={a.device}"]
        few = [f"training.few_shot={{pairs_per_example: {a.skewed_pairs}}}", "training.early_stopping=null"]
        for method, extra in (("preset", []), (f"preset+few_shot({a.skewed_pairs} pairs)", few)):
            key = f"skewed/{method}/{seed}"
            print(f"{key} ...", flush=True)
            r = run_ecomtune(load_recipe("sentiment-en", [*base, *extra,
                                                          f"output.dir={folder / 'runs' / f'{method}-{seed}'}"])
                             .model_dump(mode="json"))
            print(f"  {r}", flush=True)
            save(key, r)


def table() -> str:
    runs = json.loads(RESULT.read_text(encoding="utf-8"))["runs"] if RESULT.exists() else {}
    groups: dict = {}
    for key, r in runs.items():
        *group, _seed = key.split("/")
        groups.setdefault("/".join(group), []).append(r)
    lines = ["| data | backbone | per class | method | seeds | accuracy | macro-F1 | train s (mean) |",
             "|---|---|---|---|---|---|---|---|"]
    for g, rs in sorted(groups.items(), key=lambda kv: (kv[0].split("/")[0], kv[0].split("/")[1],
                                                         int(kv[0].split("/")[2]) if kv[0].count("/") == 3 else 0,
                                                         kv[0])):
        parts = g.split("/")
        acc, f1 = np.array([r["accuracy"] for r in rs]), np.array([r["macro_f1"] for r in rs])
        secs = np.mean([r.get("train_seconds") or 0 for r in rs])
        if parts[0] == "skewed":
            lang, backbone, k, method = "en, 500 rows, 5% negative", "minilm", "-", parts[1]
        else:
            lang, backbone, k, method = parts
        lines.append(f"| {lang} | {backbone} | {k} | {method} | {len(rs)} | {acc.mean():.3f} ± {acc.std():.3f} | "
                     f"{f1.mean():.3f} ± {f1.std():.3f} | {secs:.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part", choices=["fewshot", "skewed", "all"], default="all")
    ap.add_argument("--lang", nargs="+", choices=["en", "zh"], default=["en", "zh"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[8, 16, 64])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    ap.add_argument("--zh-backbone", default="gemma3-270m")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--skewed-pairs", type=int, default=4,
                    help="pairs_per_example of the skewed part (500 rows x 20 pairs is ~1.7 h per seed on 2 CPUs)")
    ap.add_argument("--table", action="store_true", help="print the table of the saved results and stop")
    a = ap.parse_args()
    if not a.table:
        if a.part in ("fewshot", "all"):
            few_shot_part(a)
        if a.part in ("skewed", "all"):
            skewed_part(a)
    print(table())


if __name__ == "__main__":
    sys.exit(main())
