"""Benchmark a bundled preset on real data: the fine-tuned model vs the TF-IDF baseline, with its training cost.

    python bench/classification.py sentiment-zh            # Chinese sentiment, gemma3-270m, 1,000 train reviews
    python bench/classification.py category-zh             # 10-way category, 5,000 train reviews
    python bench/classification.py sentiment-en            # women's clothing reviews, minilm
    python bench/classification.py taxonomy-en             # fashion titles -> 3-level taxonomy, minilm

Writes bench/results/<preset>.json and prints a table. Extra `--set key=value` overrides are recorded.
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("preset")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--tag", default="", help="suffix of the result file, e.g. -gpu")
    args = parser.parse_args()
    name = args.preset + args.tag
    overrides = [f"output.dir={HERE / 'work' / name}", "output.overwrite=true", *args.overrides]
    recipe = load_recipe(args.preset, overrides)
    run = ecomtune.train(recipe)
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    test = manifest["metrics"]["test"]
    base = manifest.get("baseline", {}).get("metrics", {}).get("test", {})
    result = {
        "preset": args.preset,
        "overrides": args.overrides,
        "backbone": manifest["backbone"]["name"],
        "rows": manifest["data"]["rows"],
        "data_sha256": manifest["data"]["sha256"],
        "test": {k: test[k] for k in ("accuracy", "macro_f1", "path_accuracy", "valid_path_rate") if k in test},
        "baseline": {k: base[k] for k in ("accuracy", "macro_f1", "path_accuracy", "valid_path_rate") if k in base},
        "cost": manifest["cost"],
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "versions": manifest["versions"],
    }
    if "levels" in test:
        result["levels"] = {lvl: {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                                  "baseline_accuracy": base["levels"][lvl]["accuracy"],
                                  "baseline_macro_f1": base["levels"][lvl]["macro_f1"]}
                            for lvl, m in test["levels"].items()}
    out = HERE / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\n{name}: {result['rows']}")
    print(f"{'metric':<28}{'fine-tuned':>12}{'TF-IDF':>10}{'lift':>8}")
    for key, value in result["test"].items():
        b = result["baseline"].get(key)
        print(f"{key:<28}{value:>12.4f}{b:>10.4f}{(value - b) * 100:>+8.1f}" if b is not None else key)
    for lvl, m in result.get("levels", {}).items():
        print(f"{lvl + ' macro-F1':<28}{m['macro_f1']:>12.4f}{m['baseline_macro_f1']:>10.4f}"
              f"{(m['macro_f1'] - m['baseline_macro_f1']) * 100:>+8.1f}")
    c = result["cost"]
    print(f"train {c['train_seconds']:.0f}s, {c['train_samples_per_second']:.1f} samples/s, peak "
          f"{c['peak_memory_mb']:.0f} MB, {c['trainable_params'] / 1e6:.1f}M trainable; predict "
          f"{c['inference_samples_per_second']:.0f}/s -> {out}")


if __name__ == "__main__":
    main()
