"""Adversarial training benchmark: plain vs FGM vs PGD fine-tuning, clean and noisy (typo) test accuracy.

    python bench/robustness.py                   # sentiment-en (minilm), 3,000 training reviews, 2 epochs
    python bench/robustness.py --quick           # a few-second smoke run of the script itself

Every method trains on the same split of the `sentiment-en` preset (women's clothing reviews) and is scored on
the same test rows twice: as written, and with `--noise` of the letters perturbed by typos (neighbouring key,
swap, deletion, doubling — ecomtune.data.noise). Writes bench/results/robustness.json and prints a table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

os.environ.setdefault("ECOMTUNE_QUIET", "1")

import ecomtune
from ecomtune.recipes import load_recipe

HERE = Path(__file__).resolve().parent
PRESET = "sentiment-en"


def methods(args) -> dict[str, str | None]:
    """Method name -> the `training.adversarial` override (None: plain fine-tuning)."""
    return {
        "plain": None,
        "fgm": f"{{method: fgm, epsilon: {args.epsilon}}}",
        "pgd": f"{{method: pgd, epsilon: {args.epsilon}, steps: {args.pgd_steps}, alpha: {args.pgd_alpha}}}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3000, help="training rows (stratified sample)")
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--noise", type=float, default=0.1, help="fraction of letters perturbed in the noisy test")
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--pgd-steps", type=int, default=2)
    parser.add_argument("--pgd-alpha", type=float, default=0.5)
    parser.add_argument("--only", default="plain,fgm,pgd", help="comma-separated subset of plain,fgm,pgd")
    parser.add_argument("--quick", action="store_true", help="smoke test: 200 rows, a few steps, 200 test rows")
    parser.add_argument("--tag", default="", help="suffix of the result file, e.g. -gpu")
    args = parser.parse_args()

    base = [f"data.max_train_rows={args.rows}", f"training.epochs={args.epochs}",
            f"evaluation.noise={{rate: {args.noise}, seed: 42}}", "evaluation.baseline=false",
            "output.overwrite=true"]
    if args.quick:
        base += ["data.max_train_rows=200", "training.max_steps=4", "data.max_test_rows=200",
                 "data.max_validation_rows=64", "training.early_stopping=null"]
    rows = {}
    for name, adversarial in methods(args).items():
        if name not in args.only.split(","):
            continue
        overrides = base + [f"output.dir={HERE / 'work' / f'robustness{args.tag}-{name}'}"]
        if adversarial:
            overrides.append(f"training.adversarial={adversarial}")
        print(f"== {name}: {' '.join(overrides)}", flush=True)
        run = ecomtune.train(load_recipe(PRESET, overrides))
        manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
        m, cost = manifest["metrics"], manifest["cost"]
        rows[name] = {
            "adversarial": manifest["recipe"]["training"]["adversarial"],
            "clean": {k: m["test"][k] for k in ("accuracy", "macro_f1")},
            "noisy": {k: m["test_noisy"][k] for k in ("accuracy", "macro_f1")},
            "noise": m["test_noisy"]["noise"],
            "train_seconds": cost["train_seconds"],
            "train_samples_per_second": cost["train_samples_per_second"],
            "peak_memory_mb": cost["peak_memory_mb"],
            "epochs": cost["epochs"],
            "steps": cost["steps"],
        }
        print(json.dumps(rows[name]), flush=True)
    result = {
        "preset": PRESET,
        "settings": {"rows": args.rows if not args.quick else 200, "epochs": args.epochs, "noise_rate": args.noise,
                     "epsilon": args.epsilon, "pgd_steps": args.pgd_steps, "pgd_alpha": args.pgd_alpha,
                     "quick": args.quick},
        "data_rows": manifest["data"]["rows"],
        "data_sha256": manifest["data"]["sha256"],
        "backbone": manifest["backbone"]["name"],
        "methods": rows,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "device": cost["device"],
                    "precision": cost["precision"]},
        "versions": manifest["versions"],
    }
    out = HERE / "work" / f"robustness{args.tag}-quick.json" if args.quick else \
        HERE / "results" / f"robustness{args.tag}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")

    print(f"\n{PRESET} ({result['backbone']}), {result['data_rows']}, test noise {args.noise:.0%} of letters")
    print(f"{'method':<8}{'clean acc':>10}{'clean F1':>10}{'noisy acc':>11}{'noisy F1':>10}{'F1 drop':>9}"
          f"{'train s':>9}{'x plain':>9}")
    plain_s = rows.get("plain", {}).get("train_seconds")
    for name, r in rows.items():
        drop = (r["clean"]["macro_f1"] - r["noisy"]["macro_f1"]) * 100
        ratio = f"{r['train_seconds'] / plain_s:.2f}" if plain_s else "-"
        print(f"{name:<8}{r['clean']['accuracy']:>10.4f}{r['clean']['macro_f1']:>10.4f}{r['noisy']['accuracy']:>11.4f}"
              f"{r['noisy']['macro_f1']:>10.4f}{drop:>9.1f}{r['train_seconds']:>9.0f}{ratio:>9}")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
